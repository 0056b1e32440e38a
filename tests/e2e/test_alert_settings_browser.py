"""Alert recipients in the browser: untick an admin, add an address, read what an alert says."""

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from connections.models import AlertSettings, Member, Role
from tests.e2e.conftest import login

pytestmark = pytest.mark.browser


def test_admin_chooses_alert_recipients_and_reads_a_preview(browser_page, live_server, admin_member, make_member):
    other = make_member(admin_member.tenant, Role.OPERATOR, username="olga")
    page = browser_page
    login(page, live_server, admin_member.user.username)
    page.goto(f"{live_server.url}/tenants/settings/")
    panel = page.locator("[data-testid=alert-recipients]")
    mine = panel.get_by_label("admin-acme")
    expect(mine).to_be_checked()
    mine.uncheck()
    panel.get_by_label("olga").check()
    panel.get_by_label("Extra addresses").fill("oncall@acme.test\nnope")
    panel.get_by_role("button", name="Save alert recipients").click()
    expect(page.locator(".errors")).to_contain_text("Not an email address: nope.")
    expect(page.get_by_label("Extra addresses")).to_have_value("oncall@acme.test\nnope")  # nothing lost
    serious = [v["id"] for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]
    assert serious == []
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.set_viewport_size({"width": 1280, "height": 860})
    page.get_by_label("Extra addresses").fill("oncall@acme.test")
    page.get_by_role("button", name="Save alert recipients").click()
    expect(page.locator(".messages")).to_contain_text("Alert recipients saved.")
    assert page.url.endswith("/tenants/settings/#alerts")
    assert Member.objects.get(pk=admin_member.pk).gets_alerts is False
    assert Member.objects.get(pk=other.pk).gets_alerts is True
    assert AlertSettings.objects.get(tenant=admin_member.tenant).extra_emails == ["oncall@acme.test"]
    preview = page.locator("[data-preview=expired]")
    preview.locator("summary").click()
    expect(preview.locator("pre")).to_contain_text("What to do:")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
