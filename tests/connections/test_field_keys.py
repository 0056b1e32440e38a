"""Field keys enum, pattern, example, optional, placeholder, default and help, as the connection
window offers them and as split_values honours them (catalog/SPEC.md, "fields")."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from connections.auth import get_mode
from connections.forms import help_html

from .auth.contract_support import catalog_app

pytestmark = pytest.mark.django_db


def window(client_for, member, slug):
    catalog_app(slug)
    response = client_for(member).get(reverse("connections:create", args=[slug]))
    assert response.status_code == 200
    return response.content.decode()


def test_window_offers_an_enum_as_a_choice_with_its_labels_and_default(client_for, operator_member):
    html = window(client_for, operator_member, "mailgun")
    assert '<select name="field_api_host"' in html
    assert '<option value="api.mailgun.net" selected>United States (api.mailgun.net)</option>' in html
    assert '<option value="api.eu.mailgun.net">European Union (api.eu.mailgun.net)</option>' in html


def test_window_shows_placeholder_default_and_help_without_raw_backticks(client_for, operator_member):
    html = window(client_for, operator_member, "custom-rest-api")
    assert 'placeholder="/me"' in html
    assert 'value="/"' in html  # the default, prefilled
    assert "A GET path that needs the credentials, e.g. <code>/me</code>" in html
    assert "`" not in html.split('name="field_test_path"')[1].split("</div>")[1]
    assert "(optional)" in html


def test_window_shows_the_example_as_placeholder(client_for, operator_member):
    html = window(client_for, operator_member, "twilio")
    assert 'placeholder="e.g. AC0123456789abcdef0123456789abcdef"' in html
    assert "Starts with <code>AC</code>" in html


def test_help_is_escaped():
    assert help_html("<b>x</b> `<i>`") == "&lt;b&gt;x&lt;/b&gt; <code>&lt;i&gt;</code>"
    assert help_html("one ` only") == "one ` only"


def test_split_values_refuses_a_value_outside_the_enum():
    app = catalog_app("sentry")
    with pytest.raises(ValidationError) as excinfo:
        get_mode("api_key").split_values(app, {"region_host": "evil.example.com", "auth_token": "t"})
    assert excinfo.value.message_dict["region_host"] == [
        "Choose one of: sentry.io (default), United States (us.sentry.io), European Union (de.sentry.io)."
    ]


def test_split_values_takes_the_default_and_renders_the_regional_base_url():
    app = catalog_app("sentry")
    mode = get_mode("api_key")
    config, secrets = mode.split_values(app, {"auth_token": "sntrys_x"})
    assert config == {"region_host": "sentry.io"}
    config, secrets = mode.split_values(app, {"auth_token": "sntrys_x", "region_host": "de.sentry.io"})
    assert mode.session(app, config, secrets).base_url == "https://de.sentry.io/api/0"


def test_split_values_checks_the_pattern_without_quoting_the_value():
    app = catalog_app("twilio")
    with pytest.raises(ValidationError) as excinfo:
        get_mode("basic").split_values(app, {"account_sid": "SKsecretish", "auth_token": "t"})
    message = excinfo.value.message_dict["account_sid"][0]
    assert message == "Account SID should look like AC0123456789abcdef0123456789abcdef."
    config, _secrets = get_mode("basic").split_values(
        app, {"account_sid": "AC" + "a" * 32, "username": "SK" + "b" * 32, "auth_token": "t"}
    )
    assert config == {"account_sid": "AC" + "a" * 32, "username": "SK" + "b" * 32}


def test_an_optional_field_may_stay_empty():
    app = catalog_app("custom-rest-api")
    config, _secrets = get_mode("custom").split_values(app, {"base_url": "https://api.example.com/v1"})
    assert config["test_path"] == "/"  # its default


def test_a_connection_made_before_a_field_existed_uses_its_default():
    app = catalog_app("mailgun")
    session = get_mode("basic").session(app, {}, {"api_key": "k"})
    assert session.base_url == "https://api.mailgun.net/v3"
