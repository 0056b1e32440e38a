"""Members in the browser: an admin invites, the person accepts with a password, then signs in."""

import re

import pytest
from axe_playwright_python.sync_playwright import Axe
from django.contrib.auth import get_user_model
from django.core import mail
from playwright.sync_api import expect

from connections.models import Member, Role
from tests.e2e.conftest import login, screenshot

pytestmark = pytest.mark.browser

NEW_PASSWORD = "a-long-chosen-passphrase-42"


def _serious(page):
    return [v["id"] for v in Axe().run(page).response["violations"] if v["impact"] in ("serious", "critical")]


def test_invite_accept_and_sign_in(_browser, live_server, admin_member, make_member, settings):
    settings.BASE_URL = live_server.url  # the link in the email
    teammate = make_member(admin_member.tenant, Role.OPERATOR, username="teammate")
    admin = _browser.new_context(viewport={"width": 1280, "height": 860}).new_page()
    admin.set_default_timeout(10_000)
    login(admin, live_server, admin_member.user.username)
    admin.goto(f"{live_server.url}/tenants/members/")
    admin.fill("input[name=email]", "new.person@example.com")
    admin.select_option("#id_role", "viewer")
    admin.get_by_role("button", name="Send invitation").click()
    expect(admin.locator(".messages")).to_contain_text("Invitation sent to new.person@example.com")
    expect(admin.locator("[data-invitation='new.person@example.com']")).to_contain_text("Viewer")
    link = re.search(r"https?://\S+/tenants/invitations/accept/\S+/", mail.outbox[-1].body).group(0)

    # The invited person, on a phone, in another browser.
    guest = _browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    guest.goto(link)
    expect(guest.locator("h1")).to_have_text("Join Acme")
    assert _serious(guest) == []
    assert guest.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    screenshot(guest, "invitation-accept-phone")
    guest.fill("input[name=username]", "newbie")
    guest.fill("input[name=password1]", NEW_PASSWORD)
    guest.fill("input[name=password2]", NEW_PASSWORD)
    guest.get_by_role("button", name="Create account and join").click()
    guest.wait_for_url(re.compile(r"/accounts/login/"))
    expect(guest.locator(".auth-card")).to_contain_text("Sign in with your new password")
    login(guest, live_server, "newbie", NEW_PASSWORD)
    expect(guest.locator("[data-testid=tenant-name]")).to_have_text("Acme")
    assert Member.objects.get(user__username="newbie").role == Role.VIEWER
    # The link worked once.
    guest.goto(link)
    expect(guest.locator("h1")).to_have_text("This invitation is not valid")
    guest.context.close()

    # The admin sees the newcomer, changes a role and removes someone after confirming.
    admin.goto(f"{live_server.url}/tenants/members/")
    expect(admin.locator("[data-member=newbie]")).to_be_visible()
    expect(admin.locator("[data-testid=member-events]")).to_contain_text("Member joined")
    row = admin.locator("[data-member=teammate]")
    row.locator("select[name=role]").select_option("admin")
    row.get_by_role("button", name="Change").click()
    expect(admin.locator(".messages")).to_contain_text("teammate is now admin")
    admin.locator("[data-member=teammate]").get_by_role("link", name="Remove").click()
    expect(admin.locator("h1")).to_contain_text("Remove teammate")
    admin.get_by_role("button", name="Remove member").click()
    expect(admin.locator(".messages")).to_contain_text("teammate was removed")
    assert not Member.objects.filter(pk=teammate.pk).exists()
    assert get_user_model().objects.filter(username="teammate").exists()
    admin.context.close()
