"""create_tenant, add_member and seed_demo: behaviour and clear errors."""

import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from connections.models import Member, Role, Tenant

pytestmark = pytest.mark.django_db

STRONG = "correct-horse-battery-staple-42"


def run(*args, stdin=None):
    out = io.StringIO()
    kwargs = {"stdout": out}
    if stdin is not None:
        kwargs["stdin"] = io.StringIO(stdin)
    call_command(*args, **kwargs)
    return out.getvalue()


# ---- create_tenant --------------------------------------------------------------------------

def test_create_tenant():
    out = run("create_tenant", "Acme Inc", "--slug", "acme")
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.name == "Acme Inc"
    assert "Created tenant Acme Inc (slug acme)" in out


def test_create_tenant_slug_defaults_to_the_name():
    run("create_tenant", "Initech Europe")
    assert Tenant.objects.get(slug="initech-europe").name == "Initech Europe"


def test_create_tenant_duplicate_slug_is_a_clear_error():
    run("create_tenant", "Acme", "--slug", "acme")
    with pytest.raises(CommandError, match=r"A tenant with slug 'acme' already exists \(Acme\)"):
        run("create_tenant", "Acme again", "--slug", "acme")
    assert Tenant.objects.filter(slug="acme").count() == 1


def test_create_tenant_bad_slug():
    with pytest.raises(CommandError, match="Invalid slug 'not ok'"):
        run("create_tenant", "Acme", "--slug", "not ok")
    assert not Tenant.objects.exists()


# ---- add_member ----------------------------------------------------------------------------

def test_add_member_creates_the_user_with_a_password_from_stdin(tenant):
    out = run("add_member", "acme", "alice", "--role", "operator", "--password-stdin", stdin=STRONG + "\n")
    user = get_user_model().objects.get(username="alice")
    assert user.check_password(STRONG)
    assert Member.objects.get(user=user, tenant=tenant).role == Role.OPERATOR
    assert "Created user alice." in out and "Added alice to Acme as operator." in out
    assert STRONG not in out


def test_add_member_without_password_generates_one_printed_once(tenant):
    out = run("add_member", "acme", "bob", "--role", "viewer")
    password = re.search(r"Password for bob \(shown once\): (\S+)", out).group(1)
    assert get_user_model().objects.get(username="bob").check_password(password)


def test_add_member_existing_user_changes_role_and_keeps_password(tenant, other_tenant, operator_member):
    user = operator_member.user
    out = run("add_member", "acme", user.username, "--role", "admin")
    assert "from operator to admin" in out
    assert Member.objects.get(user=user, tenant=tenant).role == Role.ADMIN
    assert "Password for" not in out
    user.refresh_from_db()
    assert user.check_password("pw-for-tests-only")
    run("add_member", "globex", user.username, "--role", "viewer")
    assert Member.objects.get(user=user, tenant=other_tenant).role == Role.VIEWER
    assert Member.objects.filter(user=user).count() == 2


def test_add_member_refuses_to_change_an_existing_users_password(
    client, tenant, other_tenant, operator_member
):
    user = operator_member.user
    client.force_login(user)
    with pytest.raises(CommandError, match="User operator-acme already exists") as error:
        run(
            "add_member", "globex", user.username, "--role", "admin", "--password-stdin",
            stdin=STRONG + "\n",
        )
    assert "already exists" in str(error.value) and "--reset-password" in str(error.value)
    assert STRONG not in str(error.value)
    user.refresh_from_db()
    assert user.check_password("pw-for-tests-only")
    assert not Member.objects.filter(user=user, tenant=other_tenant).exists()  # nothing half-done
    assert client.get("/connections/").status_code == 200  # still signed in


def test_add_member_existing_user_without_password_says_it_is_kept(
    tenant, other_tenant, operator_member
):
    out = run("add_member", "globex", operator_member.user.username, "--role", "viewer")
    assert "already exists; the password was not changed" in out
    assert "Added operator-acme to Globex as viewer." in out


def test_add_member_reset_password_sets_the_new_one_and_says_it_signs_out(
    client, tenant, operator_member
):
    user = operator_member.user
    client.force_login(user)
    out = run(
        "add_member", "acme", user.username, "--role", "operator", "--password-stdin",
        "--reset-password", stdin=STRONG + "\n",
    )
    user.refresh_from_db()
    assert user.check_password(STRONG)
    assert f"Set a new password for {user.username}" in out and "signed out" in out
    assert STRONG not in out
    assert client.get("/connections/").status_code == 302  # the old session ended


def test_add_member_reset_password_without_stdin_prints_a_new_one_once(tenant, operator_member):
    username = operator_member.user.username
    out = run("add_member", "acme", username, "--role", "operator", "--reset-password")
    password = re.search(r"Password for operator-acme \(shown once\): (\S+)", out).group(1)
    operator_member.user.refresh_from_db()
    assert operator_member.user.check_password(password)


def test_add_member_unknown_tenant(tenant):
    with pytest.raises(CommandError, match=r"Unknown tenant 'nope' \(known: acme\)"):
        run("add_member", "nope", "alice", "--role", "admin")
    assert not get_user_model().objects.filter(username="alice").exists()


def test_add_member_bad_role(tenant):
    with pytest.raises(CommandError, match=r"Unknown role 'owner': use one of admin, operator, viewer"):
        run("add_member", "acme", "alice", "--role", "owner")
    assert not get_user_model().objects.filter(username="alice").exists()


def test_add_member_weak_or_missing_stdin_password(tenant):
    with pytest.raises(CommandError, match="Password refused"):
        run("add_member", "acme", "alice", "--role", "admin", "--password-stdin", stdin="123\n")
    with pytest.raises(CommandError, match="standard input has no password"):
        run("add_member", "acme", "alice", "--role", "admin", "--password-stdin", stdin="")
    assert not get_user_model().objects.filter(username="alice").exists()


# ---- seed_demo ----------------------------------------------------------------------------

def test_seed_demo_is_idempotent_and_prints_passwords_once(settings):
    settings.SANDBOX_ENABLED = False
    first = run("seed_demo")
    tenant = Tenant.objects.get(slug="demo")
    assert tenant.name == "Demo Co"
    User = get_user_model()
    for username, role in (("demo-admin", Role.ADMIN), ("demo-operator", Role.OPERATOR), ("demo-viewer", Role.VIEWER)):
        member = Member.objects.get(user__username=username, tenant=tenant)
        assert member.role == role
        password = re.search(rf"^\s+{username}\s+(\S+)", first, re.M).group(1)
        assert User.objects.get(username=username).check_password(password)
    superuser = User.objects.get(username="sysadmin")
    assert superuser.is_superuser and superuser.is_staff
    assert "/accounts/login/" in first

    second = run("seed_demo")
    assert "exists" in second
    for username in ("demo-admin", "demo-operator", "demo-viewer", "sysadmin"):
        assert not re.search(rf"^\s+{username}\s+\S+", second, re.M)
    assert Tenant.objects.filter(slug="demo").count() == 1
    assert Member.objects.filter(tenant=tenant).count() == 3


def test_seed_demo_registers_sandbox_clients_once(settings):
    from catalog.models import OAuthClient
    from catalog.services import oauth_client_secret
    from sandbox.models import ApiKey, BasicAccount, OAuth1Client, OAuth2Client, digest

    settings.SANDBOX_ENABLED = True
    call_command("sync_catalog", stdout=io.StringIO())
    first = run("seed_demo")

    client = OAuthClient.objects.select_related("app").get(app__slug="sandbox-oauth2")
    secret = oauth_client_secret(client)
    registered = OAuth2Client.objects.get(client_id=client.client_id)
    assert registered.secret_digest == digest(secret)
    assert registered.redirect_uris == [client.redirect_uri]
    oauth1 = OAuthClient.objects.get(app__slug="sandbox-oauth1")
    assert OAuth1Client.objects.get(client_key=oauth1.client_id).client_secret == oauth_client_secret(oauth1)
    assert secret not in first  # client secrets live in the vault, never printed

    key = re.search(r"^\s+api_key\s+(\S+)", first, re.M).group(1)
    assert ApiKey.objects.get(key_digest=digest(key)).account.email == "demo@sandbox.test"
    password = re.search(r"^\s+demo\s+(\S+)", first, re.M).group(1)
    assert BasicAccount.objects.get(username="demo").password_digest == digest(password)

    second = run("seed_demo")
    assert not re.search(r"^\s+api_key\s+\S+", second, re.M)
    assert "The sandbox API key exists" in second
    # The sandbox's OAuth2 client and the machine client (Sandbox client credentials).
    assert ApiKey.objects.count() == 1 and OAuth2Client.objects.count() == 2
    machine = re.search(r"^\s+sandbox-machine-client\s+(\S+)", first, re.M).group(1)
    assert OAuth2Client.objects.get(client_id="sandbox-machine-client").secret_digest == digest(machine)
    assert machine not in second
    assert oauth_client_secret(OAuthClient.objects.get(pk=client.pk)) == secret


def test_seed_demo_without_catalog_says_to_sync_it(settings):
    settings.SANDBOX_ENABLED = True
    out = run("seed_demo")
    assert "run `python manage.py sync_catalog`" in out
    assert Tenant.objects.filter(slug="demo").exists()
