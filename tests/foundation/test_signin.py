"""Sign-in under attack: lockout per username and address (django-axes), the admin login, the
client address behind a TLS proxy, and the password reset by email (throttled)."""

import re
import secrets
import subprocess
import sys
from datetime import timedelta

import pytest
from django.core import mail
from django.core.cache import cache
from django.core.management import call_command
from django.urls import reverse

from tests.foundation.test_deploy import ROOT, production_env

pytestmark = pytest.mark.django_db

PASSWORD = "pw-for-tests-only"  # tests/conftest.py's make_member
LOGIN = "/accounts/login/"


@pytest.fixture(autouse=True)
def fast_hasher(settings):
    """Hash with MD5 here: these tests try many passwords, and the hasher is not what they test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def sign_in(client, username, password, url=LOGIN, **extra):
    return client.post(url, {"username": username, "password": password}, **extra)


def signed_in(client):
    return "_auth_user_id" in client.session


def age_attempts(minutes):
    """Move every recorded failure `minutes` into the past (as if that much time went by)."""
    from axes.models import AccessAttempt

    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=minutes)
        attempt.save(update_fields=["attempt_time"])


# ---- lockout -------------------------------------------------------------------------------

def test_thirty_wrong_passwords_lock_the_user_out_after_five(client, operator_member):
    username = operator_member.user.username
    statuses = [sign_in(client, username, f"guess-{n}").status_code for n in range(30)]
    assert statuses == [200] * 4 + [429] * 26
    response = sign_in(client, username, PASSWORD)  # the right password no longer helps
    assert response.status_code == 429
    assert not signed_in(client)


def test_lockout_page_says_when_to_retry_in_the_dashboard_look(client, operator_member, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    for n in range(5):
        response = sign_in(client, operator_member.user.username, f"guess-{n}")
    assert response.status_code == 429
    html = response.content.decode()
    assert "auth-card" in html and "/static/css/app.css" in html  # our look, not a bare text
    assert "Too many failed sign-ins" in html
    retry = r"Try again after <strong>\d\d:\d\d UTC</strong> \(in 15 minutes\)"
    assert re.search(retry, html), html
    assert 0 < int(response["Retry-After"]) <= 15 * 60
    assert reverse("password_reset") in html


def test_lockout_is_per_username_and_address(client, operator_member, admin_member):
    for n in range(5):
        sign_in(client, operator_member.user.username, f"guess-{n}")
    assert sign_in(client, operator_member.user.username, PASSWORD).status_code == 429
    # Another user from the same address is not locked out...
    assert sign_in(client, admin_member.user.username, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    # ...nor the same user from another address.
    response = sign_in(client, operator_member.user.username, PASSWORD, REMOTE_ADDR="198.51.100.7")
    assert response.status_code == 302 and signed_in(client)


def test_failure_limit_and_cool_off_come_from_settings(client, operator_member, settings):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)
    username = operator_member.user.username
    statuses = [sign_in(client, username, f"guess-{n}").status_code for n in range(3)]
    assert statuses == [200, 200, 429]
    age_attempts(29)
    assert sign_in(client, username, PASSWORD).status_code == 429
    age_attempts(2)  # 31 minutes after the last failure
    assert sign_in(client, username, PASSWORD).status_code == 302 and signed_in(client)


def test_failures_during_the_lockout_do_not_push_the_retry_time_back(client, operator_member):
    username = operator_member.user.username
    for n in range(5):
        sign_in(client, username, f"guess-{n}")
    age_attempts(10)
    for n in range(10):
        assert sign_in(client, username, f"more-{n}").status_code == 429
    age_attempts(6)  # 16 minutes after the fifth failure, whatever came after it
    assert sign_in(client, username, PASSWORD).status_code == 302


def test_a_successful_sign_in_forgets_earlier_failures(client, operator_member):
    username = operator_member.user.username
    for n in range(4):
        sign_in(client, username, f"typo-{n}")
    assert sign_in(client, username, PASSWORD).status_code == 302
    client.post("/accounts/logout/")
    for n in range(4):
        assert sign_in(client, username, f"typo-again-{n}").status_code == 200


def test_admin_login_is_throttled_too(client, django_user_model):
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    admin_login = reverse("admin:login")
    statuses = [
        sign_in(client, "root", f"guess-{n}", url=admin_login).status_code for n in range(6)
    ]
    assert statuses == [200] * 4 + [429] * 2
    response = sign_in(client, "root", PASSWORD, url=admin_login)
    assert response.status_code == 429 and not signed_in(client)
    assert "Too many failed sign-ins" in response.content.decode()


def test_recorded_failures_do_not_keep_the_password(client, operator_member):
    from axes.models import AccessAttempt

    for n in range(2):
        sign_in(client, operator_member.user.username, f"secret-guess-{n}")
    attempt = AccessAttempt.objects.get()
    assert attempt.failures_since_start == 2
    assert "secret-guess" not in attempt.post_data + attempt.get_data


def test_axes_reset_lifts_the_lockout(client, operator_member):
    username = operator_member.user.username
    for n in range(5):
        sign_in(client, username, f"guess-{n}")
    call_command("axes_reset", stdout=None)
    assert sign_in(client, username, PASSWORD).status_code == 302


def lockout_settings(**env) -> str:
    """Return the lockout settings a production process reads from `env`."""
    script = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.AXES_FAILURE_LIMIT, int(s.AXES_COOLOFF_TIME.total_seconds()),"
        " s.AXES_LOCKOUT_PARAMETERS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60,
        env=production_env(DJANGO_SETTINGS_MODULE="config.settings", **env),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_lockout_settings_are_read_from_the_environment():
    assert lockout_settings() == "5 900 [['username', 'ip_address']]"
    assert lockout_settings(AXES_FAILURE_LIMIT="7", AXES_COOLOFF_MINUTES="30") == (
        "7 1800 [['username', 'ip_address']]"
    )


# ---- the client's address --------------------------------------------------------------------

def test_a_forged_x_forwarded_for_does_not_dodge_the_lockout_without_a_proxy(
    client, operator_member, settings
):
    settings.BEHIND_PROXY = False
    username = operator_member.user.username
    statuses = [
        sign_in(client, username, f"guess-{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(8)
    ]
    assert statuses == [200] * 4 + [429] * 4


def test_behind_the_proxy_the_client_is_the_address_the_proxy_appended(
    client, operator_member, settings
):
    settings.BEHIND_PROXY = True
    username = operator_member.user.username
    proxy = {"REMOTE_ADDR": "10.0.0.2"}
    # The attacker puts a new address in front each time; the proxy appends the real one.
    forged = [f"192.0.2.{n}, 203.0.113.5" for n in range(6)]
    statuses = [
        sign_in(client, username, "guess", HTTP_X_FORWARDED_FOR=chain, **proxy).status_code
        for chain in forged
    ]
    assert statuses == [200] * 4 + [429] * 2
    # Another person behind the same proxy (another client address) still signs in.
    response = sign_in(client, username, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.7", **proxy)
    assert response.status_code == 302


@pytest.mark.parametrize(
    "behind_proxy, hops, forwarded_for, expected",
    [
        (False, 1, "203.0.113.5", "10.0.0.2"),
        (True, 1, "203.0.113.5", "203.0.113.5"),
        (True, 1, "192.0.2.1, 203.0.113.5", "203.0.113.5"),
        (True, 1, " 2001:db8::5 ", "2001:db8::5"),
        (True, 2, "192.0.2.1, 203.0.113.5, 198.51.100.9", "203.0.113.5"),
        (True, 2, "203.0.113.5", "10.0.0.2"),  # fewer hops than configured: not through the proxies
        (True, 1, "not-an-address", "10.0.0.2"),
        (True, 1, "", "10.0.0.2"),
    ],
)
def test_client_ip(rf, settings, behind_proxy, hops, forwarded_for, expected):
    from connections.middleware import client_ip

    settings.BEHIND_PROXY = behind_proxy
    settings.PROXY_HOPS = hops
    request = rf.post(LOGIN, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR=forwarded_for)
    assert client_ip(request) == expected


# ---- password reset by email ------------------------------------------------------------------

@pytest.fixture
def reset_client(client):
    """Yield a client with an address of its own, and forget its reset counters afterwards."""
    from config.signin import reset_throttle_keys

    address = f"10.{secrets.randbelow(250)}.{secrets.randbelow(250)}.{secrets.randbelow(250) + 1}"
    client.defaults["REMOTE_ADDR"] = address
    client.addresses, client.emails = [address], []
    yield client
    for used in client.addresses:
        cache.delete_many(reset_throttle_keys(address=used, emails=client.emails))


def member_with_email(member):
    member.user.email = f"{secrets.token_hex(6)}@example.com"
    member.user.save(update_fields=["email"])
    return member.user


def request_reset(client, email, **extra):
    client.emails.append(email)
    client.addresses.append(extra.get("REMOTE_ADDR"))
    return client.post(reverse("password_reset"), {"email": email}, **extra)


def reset_link(message):
    return re.search(r"https?://\S+/accounts/reset/\S+/", message.body).group(0)


def reset_path(message):
    return "/accounts/reset/" + reset_link(message).split("/accounts/reset/", 1)[1]


def test_login_page_offers_the_reset_by_email(client):
    html = client.get(LOGIN).content.decode()
    assert f'href="{reverse("password_reset")}"' in html
    assert "Ask an admin of your company to reset it" not in html


def test_password_reset_pages_are_in_the_dashboard_look(client):
    html = client.get(reverse("password_reset")).content.decode()
    assert "auth-card" in html and 'name="email"' in html
    assert "Django administration" not in html


def test_password_reset_end_to_end(reset_client, operator_member, settings):
    settings.BASE_URL = "https://connections.example.com"
    user = member_with_email(operator_member)
    response = request_reset(reset_client, user.email.upper(), HTTP_HOST="evil.example")
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [user.email]
    link = reset_link(message)
    assert link.startswith("https://connections.example.com/accounts/reset/")  # not the Host header
    assert "evil.example" not in message.body

    path = reset_path(message)
    form_page = reset_client.get(path, follow=True)
    assert form_page.status_code == 200 and "auth-card" in form_page.content.decode()
    new = "a-brand-new-passphrase-81"
    set_password_url = form_page.redirect_chain[-1][0]
    done = reset_client.post(set_password_url, {"new_password1": new, "new_password2": new})
    assert done.status_code == 302 and done["Location"] == reverse("password_reset_complete")
    assert "Sign in" in reset_client.get(done["Location"]).content.decode()

    user.refresh_from_db()
    assert user.check_password(new) and not user.check_password(PASSWORD)
    assert sign_in(reset_client, user.username, new).status_code == 302
    # The link works once.
    reset_client.post("/accounts/logout/")
    assert "invalid" in reset_client.get(path, follow=True).content.decode().lower()


def test_password_reset_for_an_unknown_email_looks_the_same_and_sends_nothing(reset_client):
    response = request_reset(reset_client, "nobody@example.com")
    assert response.status_code == 302 and response["Location"] == reverse("password_reset_done")
    assert mail.outbox == []


def test_password_reset_requests_are_throttled_per_address(reset_client, operator_member, settings):
    settings.PASSWORD_RESET_LIMIT = 3
    user = member_with_email(operator_member)
    statuses = [request_reset(reset_client, f"other-{n}@example.com").status_code for n in range(3)]
    assert statuses == [302] * 3
    response = request_reset(reset_client, user.email)
    assert response.status_code == 429
    assert "Too many reset requests" in response.content.decode()
    assert mail.outbox == []


def test_password_reset_requests_are_throttled_per_email(reset_client, operator_member, settings):
    settings.PASSWORD_RESET_LIMIT = 3
    user = member_with_email(operator_member)
    statuses = [
        request_reset(reset_client, user.email, REMOTE_ADDR=f"198.51.100.{n + 1}").status_code
        for n in range(5)
    ]
    assert statuses == [302] * 3 + [429] * 2
    assert len(mail.outbox) == 3


def test_a_password_reset_lifts_the_lockout(reset_client, operator_member):
    user = member_with_email(operator_member)
    for n in range(5):
        sign_in(reset_client, user.username, f"guess-{n}")
    request_reset(reset_client, user.email)
    form_page = reset_client.get(reset_path(mail.outbox[0]), follow=True)
    new = "a-brand-new-passphrase-81"
    reset_client.post(form_page.redirect_chain[-1][0], {"new_password1": new, "new_password2": new})
    assert sign_in(reset_client, user.username, new).status_code == 302
