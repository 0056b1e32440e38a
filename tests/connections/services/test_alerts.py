"""Alerts: once per transition, by email and by the tenant's Standard Webhooks message (a worker)."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from standardwebhooks import Webhook

from connections.models import ConnectionStatus, Event, Role, WebhookDelivery
from connections.services import rotation
from connections.services.health import connection_check
from connections.services.tenants import tenant_webhook_set

from ..bg_support import (
    Worker,
    api_key_app,
    make_connection,
    make_global_copy,
    purge_broker,
    subprocess_env,
    wait_for,
)

pytestmark = pytest.mark.django_db(transaction=True)


class Receiver:
    """A loopback webhook receiver; answers the first `fail_first` requests with 500."""

    def __init__(self, fail_first=0):
        self.received = []
        self.fail_first = fail_first
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((dict(self.headers), body))
                status = 500 if len(receiver.received) <= receiver.fail_first else 200
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/appconn"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


@pytest.fixture
def receiver():
    started = Receiver(fail_first=1)
    yield started
    started.close()


def test_webhook_signed_retried_and_sent_once_per_transition(sandbox, tenant, admin_member, receiver):
    secret = tenant_webhook_set(tenant=tenant, url=receiver.url, actor=admin_member.user)
    tenant.refresh_from_db()
    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    purge_broker()
    env = subprocess_env(sandbox.url)
    env["OUTBOUND_ALLOW"] = f"127.0.0.1:{receiver.server.server_port}"  # an on-premise receiver
    worker = Worker(env, concurrency=1).start()
    try:
        sandbox.set_switch("api", "invalid_grant", count=3)  # the API answers 401: expired
        connection_check(connection=conn)
        connection_check(connection=conn)  # still failing: no second alert
        wait_for(lambda: len(receiver.received) >= 2, timeout=60, message="webhook retried after a 500")
        # The worker logs a delivery once the receiver has answered: wait for that row too
        # before stopping it (stopped at once, it could be killed between the two).
        wait_for(lambda: WebhookDelivery.objects.for_tenant(tenant).count() >= 2, timeout=30, message="delivery logged")
    finally:
        worker.stop()
    assert len(receiver.received) == 2  # one 500, one retry that succeeded: one transition
    first, second = receiver.received
    assert first[1] == second[1]  # the same payload, redelivered
    headers, body = second
    assert first[0]["webhook-id"] == headers["webhook-id"]  # receivers dedupe on it
    payload = Webhook(secret).verify(body, headers)  # Standard Webhooks, off the shelf
    assert payload["type"] == "connection.status_changed"
    assert payload["connection"]["id"] == str(conn.pk)
    assert payload["connection"]["status"] == "expired"
    assert payload["connection"]["previous_status"] == "active"
    assert payload["connection"]["error_code"] == "connection_expired"
    assert sandbox.api_key not in body.decode() and secret not in body.decode()
    assert Event.all_objects.filter(connection=conn, kind="alert_sent").count() == 1
    log = list(WebhookDelivery.objects.for_tenant(tenant).values_list("retry", "status_code"))
    assert log == [(1, 200), (0, 500)]


def test_webhook_to_a_private_address_is_never_sent(sandbox, tenant, admin_member, receiver):
    """Without OUTBOUND_ALLOW the worker refuses a loopback webhook: the receiver gets nothing."""
    # Stored before the rule, or typed in the admin: the service itself does not check it.
    tenant_webhook_set(tenant=tenant, url=receiver.url, actor=admin_member.user)
    tenant.refresh_from_db()
    conn = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key})
    purge_broker()
    worker = Worker(subprocess_env(sandbox.url), concurrency=1).start()
    try:
        sandbox.set_switch("api", "invalid_grant", count=3)
        connection_check(connection=conn)
        wait_for(lambda: "not sent to http://127.0.0.1" in worker.output(),
                 timeout=60, message="the worker refusing the delivery")
        assert "/hooks/…" in worker.output() and "/hooks/appconn" not in worker.output()
    finally:
        worker.stop()
    assert receiver.received == []
    assert Event.all_objects.filter(connection=conn, kind="alert_sent").count() == 1


def test_global_connection_alerts_go_to_system_administrators(sandbox, tenant, make_member):
    staff = get_user_model().objects.create_user("root", email="root@ops.test", password="x", is_staff=True)
    get_user_model().objects.create_user("nostaff", email="user@ops.test", password="x")
    admin = make_member(tenant, Role.ADMIN, username="tenantadmin")
    admin.user.email = "admin@acme.test"
    admin.user.save()
    conn = make_connection(tenant, api_key_app(), {"api_key": "sbx_wrong"})
    copy = make_global_copy(conn)
    connection_check(connection=copy)
    copy.refresh_from_db()
    assert copy.status == ConnectionStatus.EXPIRED
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [staff.email]
    assert Event.all_objects.filter(global_connection=copy, kind="alert_sent").count() == 1


def test_rotation_reminders_flag_once_and_tell_admins_once(sandbox, tenant, make_member, settings):
    import datetime as dt

    from django.utils import timezone

    settings.ROTATION_PERIOD_DAYS = 90
    admin = make_member(tenant, Role.ADMIN, username="rotadmin")
    admin.user.email = "rot@acme.test"
    admin.user.save()
    old = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key},
                          authorized_at=timezone.now() - dt.timedelta(days=91))
    young = make_connection(tenant, api_key_app(), {"api_key": sandbox.api_key},
                            authorized_at=timezone.now() - dt.timedelta(days=10))
    assert rotation.rotation_reminders_send() == 1
    assert rotation.rotation_reminders_send() == 0
    old.refresh_from_db()
    young.refresh_from_db()
    assert old.rotation_flagged_at is not None and young.rotation_flagged_at is None
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["rot@acme.test"]
    assert old.name in mail.outbox[0].body and sandbox.api_key not in mail.outbox[0].body
    assert Event.all_objects.filter(connection=old, kind="rotation_due").count() == 1
