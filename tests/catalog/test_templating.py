import pytest

from catalog.templating import TemplateError, render_template


def test_render_template():
    assert render_template("https://{shop}.myshopify.com/x", {"shop": "acme"}) == "https://acme.myshopify.com/x"
    with pytest.raises(TemplateError, match=r"missing value for \{shop\}"):
        render_template("https://{shop}.myshopify.com", {})
    with pytest.raises(TemplateError, match="missing value"):
        render_template("Bearer {api_key}", {"api_key": ""})


def test_render_template_error_never_contains_values():
    with pytest.raises(TemplateError) as info:
        render_template("{a}:{b}", {"a": "s3cr3t-value"})
    assert "s3cr3t-value" not in str(info.value)
