"""Shared fixtures: tenants, members and signed-in clients."""

import ipaddress

import pytest
import urllib3.util.connection
from django.contrib.auth import get_user_model

from connections.models import Member, Role, Tenant

# What the outbound layer's resolver answers for any name in tests: a public address that no
# test may actually reach (there is no internet here), so connecting to it fails at once.
PUBLIC_TEST_ADDRESS = "93.184.216.34"


def stub_resolve(host, port):
    """Resolve localhost names to loopback, literals to themselves, other names to one public."""
    name = host.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return ["127.0.0.1"]
    try:
        return [str(ipaddress.ip_address(name.strip("[]")))]
    except ValueError:
        return [PUBLIC_TEST_ADDRESS]


@pytest.fixture(autouse=True)
def outbound_dns(monkeypatch):
    """Stub connections.outbound's DNS for every test; refuse connecting to the stub's answer."""
    from connections import outbound

    monkeypatch.setattr(outbound, "resolve", stub_resolve)
    create_connection = urllib3.util.connection.create_connection

    def no_internet(address, *args, **kwargs):
        if address[0] == PUBLIC_TEST_ADDRESS:
            raise ConnectionRefusedError("tests never leave this machine")
        return create_connection(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", no_internet)


@pytest.fixture
def tenant(db):
    return Tenant.objects.create(name="Acme", slug="acme")


@pytest.fixture
def other_tenant(db):
    return Tenant.objects.create(name="Globex", slug="globex")


@pytest.fixture
def make_member(db):
    def make(tenant, role=Role.OPERATOR, username=None):
        username = username or f"{role}-{tenant.slug}"
        user = get_user_model().objects.create_user(username=username, password="pw-for-tests-only")
        return Member.objects.create(user=user, tenant=tenant, role=role)

    return make


@pytest.fixture
def admin_member(tenant, make_member):
    return make_member(tenant, Role.ADMIN)


@pytest.fixture
def operator_member(tenant, make_member):
    return make_member(tenant, Role.OPERATOR)


@pytest.fixture
def viewer_member(tenant, make_member):
    return make_member(tenant, Role.VIEWER)


@pytest.fixture
def outsider_member(other_tenant, make_member):
    return make_member(other_tenant, Role.ADMIN)


@pytest.fixture
def client_for(client):
    """Return a test client signed in as the member's user, in the member's tenant."""

    def login(member):
        client.force_login(member.user)
        session = client.session
        session["tenant_id"] = member.tenant_id
        session.save()
        return client

    return login


@pytest.fixture
def sandbox(live_server, settings):
    """Return the sandbox provider served by live_server, with test clients and credentials.

    `.client_id/.client_secret/.redirect_uri` (OAuth2), `.oauth1_client_key/...secret/
    .oauth1_callback_uri`, `.api_key`, `.basic.username/.password`, `.set_switch(...)`,
    `.token_requests()`, `.count(endpoint)`, `.approve(authorize_url)` (press Allow, get the
    redirect URL), `.register_catalog_clients()` (after `sync_catalog`). See sandbox/testing.py.
    """
    from sandbox.testing import start

    settings.BASE_URL = live_server.url
    settings.SANDBOX_URL = live_server.url
    return start(live_server.url)
