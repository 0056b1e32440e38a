"""The app's signal receivers, connected in ConnectionsConfig.ready().

connection_status_changed: alert people, and tell the tenant's webhook — glue between the
status writer and what reacts to it, outside services/ because it enqueues a Celery task and
services never import tasks. Sign-in and sign-out: the dashboard's theme and message. Saves of
what the API's cached lookups read: a new lookup generation (services/lookups.py).
"""

from django.contrib import messages
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _

from catalog.models import App, OAuthClient
from vault.models import Secret

from . import tasks
from .models import (
    SESSION_THEME,
    ApiToken,
    Connection,
    GlobalConnection,
    Tenant,
    TenantOAuthClient,
    UiPreference,
)
from .services import alerts, lookups, webhooks
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


@receiver(user_logged_in, dispatch_uid="connections.ui_theme_on_login")
def _remember_theme_in_session(sender, request, user, **kwargs):
    """Copy the user's theme into the new session once, at sign-in."""
    if request is None or not hasattr(request, "session"):
        return
    theme = UiPreference.objects.filter(user=user).values_list("theme", flat=True).first()
    request.session[SESSION_THEME] = theme or UiPreference.Theme.SYSTEM


@receiver(user_logged_out, dispatch_uid="connections.signed_out_message")
def _say_signed_out(sender, request, user, **kwargs):
    """Tell the sign-in page that signing out worked (a message outlives the session)."""
    if request is not None and user is not None:
        messages.info(request, _("You are signed out."), fail_silently=True)  # test clients have no messages


# What the proxy's and the token's cached lookups are made of (services/lookups.py).
LOOKED_UP = (ApiToken, Connection, GlobalConnection, App, OAuthClient, TenantOAuthClient, Tenant, Secret)
# Saves that write only these fields change nothing a lookup answers (the time of last use).
UNSEEN_FIELDS = frozenset({"last_used_at", "last_used_from", "updated_at"})


def _lookup_saved(sender, update_fields=None, raw=False, **kwargs):
    if raw or (update_fields and set(update_fields) <= UNSEEN_FIELDS):
        return
    lookups.changed()


def _lookup_deleted(sender, **kwargs):
    lookups.changed()


def _restriction_changed(sender, action, **kwargs):
    if action in ("post_add", "post_remove", "post_clear"):
        lookups.changed()


for _model in LOOKED_UP:
    post_save.connect(_lookup_saved, sender=_model, dispatch_uid=f"connections.lookups.save.{_model.__name__}")
    post_delete.connect(_lookup_deleted, sender=_model, dispatch_uid=f"connections.lookups.delete.{_model.__name__}")
for _through in (ApiToken.connections.through, ApiToken.global_connections.through):
    m2m_changed.connect(_restriction_changed, sender=_through, dispatch_uid=f"connections.lookups.m2m.{_through.__name__}")
