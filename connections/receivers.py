"""The receivers of connection_status_changed: alert people, and tell the tenant's webhook.

Glue between the status writer and what reacts to it, connected in ConnectionsConfig.ready().
It lives outside services/ because it enqueues a Celery task, and services never import tasks.
"""

from django.dispatch import receiver

from . import tasks
from .services import alerts, webhooks
from .signals import connection_status_changed


@receiver(connection_status_changed, dispatch_uid="connections.status_alert")
def send_status_alert(sender, *, connection, old_status, new_status, **kwargs):
    alerts.status_alert_send(connection=connection, old_status=old_status, new_status=new_status)


@receiver(connection_status_changed, dispatch_uid="connections.status_webhook")
def enqueue_status_webhook(sender, *, connection, old_status, new_status, event=None, **kwargs):
    payload = webhooks.webhook_payload(
        connection=connection, old_status=old_status, new_status=new_status, event=event
    )
    if payload is not None:
        tasks.deliver_webhook.delay_on_commit(connection.tenant_id, payload)
