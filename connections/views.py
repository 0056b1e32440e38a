"""Dashboard pages of the connection lifecycle: list, connection window, callback, attempt, detail.

Views are thin: permission, form, one service call, render or redirect. Every state change
is a POST with CSRF; views that receive secrets carry `sensitive_post_parameters`.
"""

from datetime import timedelta

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db import IntegrityError
from django.db.models.functions import Lower
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _lazy
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from catalog.models import App, OAuthClient
from catalog.views import render_picker, setup_step_items

from . import selectors
from .errors import ConnectionFailure, explain
from .forms import FIELD_PREFIX, HISTORY, ConnectionFilterForm, ConnectionWindowForm, RenameForm, RevokeForm
from .models import Attempt, Connection, ConnectionStatus, Role, Usage
from .permissions import can_manage, tenant_required
from .services import attempts as attempt_services
from .services import connections as connection_services
from .services import health as health_services

CREATORS = (Role.ADMIN, Role.OPERATOR)
PAGE_SIZE = 25
STATUS_LABELS = dict(ConnectionStatus.choices)
RECENT_USE = timedelta(days=30)


def _rotation_due(connection, now) -> bool:
    if connection.status == ConnectionStatus.REVOKED:
        return False
    if connection.rotation_flagged_at:
        return True
    limit = now - timedelta(days=settings.ROTATION_PERIOD_DAYS)
    return bool(connection.authorized_at and connection.authorized_at < limit)


def _oauth_client(app):
    if not app.is_oauth:
        return None
    return OAuthClient.objects.filter(app=app).first()


def _visible_app(slug):
    return get_object_or_404(App.objects.visible(), slug=slug)


def _require_manage(request, connection):
    if not can_manage(request.membership, connection):
        raise PermissionDenied(_("Only the operator who created this connection or a tenant admin can change it."))


EVENT_LABELS = {
    "attempt_started": (_lazy("Link started"), ""),
    "attempt_cancelled": (_lazy("Re-authorization cancelled"), ""),
    "reauthorization_account_differs": (_lazy("Provider reported a different account"), "warn"),
    "created": (_lazy("Created"), "ok"),
    "tested": (_lazy("Tested"), "ok"),
    "test_failed": (_lazy("Test failed"), "fail"),
    "checked": (_lazy("Checked"), "ok"),
    "check_failed": (_lazy("Check failed"), "fail"),
    "refreshed": (_lazy("Token refreshed"), "ok"),
    "refresh_failed": (_lazy("Refresh failed"), "fail"),
    "reauthorized": (_lazy("Re-authorized"), "ok"),
    "renamed": (_lazy("Renamed"), ""),
    "revoked": (_lazy("Revoked"), "fail"),
    "grant_revoked": (_lazy("Grant revoked at the app"), "fail"),
    "revoke_failed": (_lazy("Revocation at the app failed"), "warn"),
    "status_changed": (_lazy("Status changed"), "warn"),
    "rotation_due": (_lazy("Rotation due"), "warn"),
    "rotation_flagged": (_lazy("Rotation due"), "warn"),
    "alert_sent": (_lazy("Alert sent"), ""),
    "publication_requested": (_lazy("Publication requested"), ""),
    "publication_withdrawn": (_lazy("Publication request withdrawn"), ""),
    "publication_rejected": (_lazy("Publication rejected"), "warn"),
    "published": (_lazy("Published globally"), "ok"),
    "unpublished": (_lazy("Unpublished"), ""),
}
SUMMARY_KEYS = ("account", "previous_account", "scopes", "error_code", "message", "reason", "consumer")


def _decorate_events(events):
    """Give each event a label, a tone for the timeline dot and a one-line summary of its detail."""
    for event in events:
        label, tone = EVENT_LABELS.get(event.kind, (event.kind.replace("_", " ").capitalize(), ""))
        detail = event.detail if isinstance(event.detail, dict) else {}
        if detail.get("ok") is False and tone == "ok":
            tone = "fail"
        event.label, event.tone = label, tone
        parts = []
        if event.kind == "renamed" and "from" in detail and "to" in detail:
            parts.append(f"“{detail['from']}” → “{detail['to']}”")
        elif event.kind == "status_changed" and "to" in detail:
            parts.append(f"{STATUS_LABELS.get(detail.get('from'), detail.get('from', '?'))} → {STATUS_LABELS.get(detail['to'], detail['to'])}")
        else:
            for key in SUMMARY_KEYS:
                value = detail.get(key)
                if value in (None, "", []):
                    continue
                if isinstance(value, (list, tuple)):
                    value = ", ".join(str(item) for item in value)
                if key == "error_code":
                    value = explain(value)["title"]
                parts.append(str(value))
        event.summary = " · ".join(parts)[:200]
    return events


def _add_service_errors(form, error):
    """Put a service's ValidationError on the form: on the field it names, else on the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        field = key if key in ("name", "scopes") else FIELD_PREFIX + key
        form.add_error(field if field in form.fields else None, errors)


def _failure_context(code, message=""):
    return {"explanation": explain(code), "error_code": code, "error_message": message}


# --- list -----------------------------------------------------------------------------------


@require_GET
@tenant_required()
def connection_list(request):
    tenant = request.tenant
    apps = list(App.objects.filter(pk__in=Connection.objects.for_tenant(tenant).values("app_id")).order_by(Lower("name")))
    filters = ConnectionFilterForm(request.GET, apps=apps)
    app_slug, status, q = filters.value("app"), filters.value("status"), filters.value("q")
    app = next((candidate for candidate in apps if candidate.slug == app_slug), None)

    connections = selectors.connection_list_for_tenant(
        tenant=tenant, app=app, status=ConnectionStatus.REVOKED if status == HISTORY else (status or None), q=q or None
    )
    page = Paginator(connections, PAGE_SIZE).get_page(request.GET.get("page"))
    now = timezone.now()
    rows = list(page.object_list)
    for connection in rows:
        connection.rotation_due = _rotation_due(connection, now)

    global_connections = []
    if status != HISTORY:
        global_connections = list(
            selectors.global_connections_visible(app=app, status=status or None, q=q or None)[:100]
        )
    filtered = bool(app_slug or status or q)
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "connections/list.html",
        {
            "page": page,
            "connections": rows,
            "global_connections": global_connections,
            "filters": filters,
            "filtered": filtered,
            "history": status == HISTORY,
            "query_string": query.urlencode(),
            "can_create": request.membership.can_create,
        },
    )


# --- create ---------------------------------------------------------------------------------


@require_GET
@tenant_required(*CREATORS)
def connection_new(request):
    return render_picker(request)


@sensitive_post_parameters()
@sensitive_variables("form")
@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def connection_create(request, slug):
    app = _visible_app(slug)
    oauth_client = _oauth_client(app)
    not_configured = app.is_oauth and oauth_client is None
    context = {"app": app, "not_configured": not_configured, "oauth_client": oauth_client, "setup_steps": setup_step_items(app.setup_steps)}
    if request.method == "POST" and not not_configured:
        form = ConnectionWindowForm(request.POST, tenant=request.tenant, app=app, oauth_client=oauth_client)
        if form.is_valid():
            response = _link(request, form, context, app=app, name=form.cleaned_data["name"])
            if response is not None:
                return response
        if context.get("explanation"):
            form = _refilled(form, request.POST, tenant=request.tenant, app=app, oauth_client=oauth_client)
    else:
        initial = {"name": request.GET.get("name") or connection_services.default_connection_name(tenant=request.tenant, app=app)}
        form = ConnectionWindowForm(initial=initial, tenant=request.tenant, app=app, oauth_client=oauth_client)
    context["form"] = form
    status = 400 if request.method == "POST" else 200
    return render(request, "connections/window.html", context, status=status)


@sensitive_variables("form")
def _link(request, form, context, *, app, name, connection=None):
    """Start an attempt from a valid connection window ("Link an account" or "Re-authorize").

    Return the response to send when the attempt redirects (to the provider or to the
    connection); otherwise put the failure on the form or in the context and return None.
    """
    try:
        attempt, redirect_url = attempt_services.attempt_start(
            tenant=request.tenant,
            user=request.user,
            app=app,
            name=name,
            scopes=form.selected_scopes(),
            field_values=form.field_values(),
            connection=connection,
            request=request,
        )
    except ConnectionFailure as failure:
        context.update(_failure_context(failure.code, failure.message))
    except ValidationError as error:
        _add_service_errors(form, error)
    except IntegrityError:
        form.add_error("name", _("You already have a %(app)s connection with this name.") % {"app": app.name})
    else:
        response = _after_start(request, attempt, redirect_url)
        if response is not None:
            return response
        context.update(_failure_context(attempt.error_code, attempt.error_message))
        context["attempt"] = attempt
    return None


def _refilled(form, data, **form_kwargs):
    """Return a fresh window form holding the typed values except secrets, never echoed back."""
    cleaned = form.cleaned_data
    initial = {key: value for key, value in cleaned.items() if key != "name" or "name" in form.fields}
    for key in form.secret_keys:
        initial.pop(FIELD_PREFIX + key, None)
    refilled = ConnectionWindowForm(initial=initial, **form_kwargs)
    refilled.rows_data = data
    return refilled


def _after_start(request, attempt, redirect_url):
    """Return the response after attempt_start, or None when the attempt failed on the spot."""
    if redirect_url:
        return redirect(redirect_url)
    return _after_attempt(request, attempt, failed=None)


def _after_attempt(request, attempt, failed):
    """Send the operator where a finished attempt leads: its connection, a confirmation or `failed`."""
    if attempt.status == Attempt.Status.SUCCEEDED and attempt.connection_id:
        if attempt.is_reauthorization:
            messages.success(request, _("“%(name)s” is re-authorized.") % {"name": attempt.connection.name})
        else:
            messages.success(request, _("“%(name)s” is connected and working.") % {"name": attempt.name})
        return redirect(attempt.connection.get_absolute_url())
    if _needs_confirmation(attempt):
        return redirect("connections:attempt_confirm", pk=attempt.pk)
    return failed


def _needs_confirmation(attempt) -> bool:
    return attempt.connection_id is not None and attempt_services.attempt_awaits_account_confirmation(attempt)


# --- callback and attempts ------------------------------------------------------------------


@require_GET
@tenant_required()
def oauth_callback(request, slug):
    try:
        attempt = attempt_services.attempt_complete_callback(request=request, slug=slug, params=request.GET.dict())
    except ConnectionFailure as failure:
        attempt = getattr(failure, "attempt", None)
        if attempt is not None and attempt.tenant_id != request.tenant.pk:
            attempt = None
        return _callback_error(request, slug, failure.code, failure.message, attempt)
    failed = redirect(attempt.get_absolute_url())
    if attempt.status == Attempt.Status.FAILED:
        return _callback_error(request, slug, attempt.error_code, attempt.error_message, attempt)
    return _after_attempt(request, attempt, failed)


def _callback_error(request, slug, code, message, attempt):
    app = App.objects.filter(slug=slug).first()
    context = {"app": app, "attempt": attempt, **_failure_context(code, message)}
    return render(request, "connections/callback_error.html", context, status=400)


@require_http_methods(["GET", "POST"])
@tenant_required()
def attempt_detail(request, pk):
    attempt = selectors.attempt_get_for_tenant(tenant=request.tenant, pk=pk)
    if request.method == "POST":
        return _attempt_retry(request, attempt)
    context = {"attempt": attempt, "app": attempt.app, "can_retry": _can_retry(request, attempt)}
    if attempt.error_code:
        context.update(_failure_context(attempt.error_code, attempt.error_message))
    if _needs_confirmation(attempt):
        context["needs_confirmation"] = True
    return render(request, "connections/attempt.html", context)


def _can_retry(request, attempt) -> bool:
    if not request.membership.can_create:
        return False
    if attempt.connection_id and attempt.is_reauthorization:
        return can_manage(request.membership, attempt.connection)
    return True


def _attempt_retry(request, attempt):
    """Start a new attempt like this one; key-based apps go back to the window to type again."""
    if not _can_retry(request, attempt):
        raise PermissionDenied(_("Your role does not allow this."))
    app = attempt.app
    reauth = attempt.connection if attempt.is_reauthorization and attempt.connection_id else None
    if not app.is_oauth:
        if reauth is not None:
            return redirect("connections:reauthorize", pk=reauth.pk)
        return redirect(f"{reverse('connections:create', args=[app.slug])}?name={_quote(attempt.name)}")
    try:
        new_attempt, redirect_url = attempt_services.attempt_start(
            tenant=request.tenant,
            user=request.user,
            app=app,
            name=attempt.name,
            scopes=list(attempt.scopes or []),
            field_values=dict(attempt.config or {}),
            connection=reauth,
            request=request,
        )
    except ConnectionFailure as failure:
        messages.error(request, f"{explain(failure.code)['title']}: {failure.message}")
        return redirect(attempt.get_absolute_url())
    response = _after_start(request, new_attempt, redirect_url)
    return response or redirect(new_attempt.get_absolute_url())


def _quote(value):
    from urllib.parse import quote

    return quote(value)


@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def attempt_confirm(request, pk):
    attempt = selectors.attempt_get_for_tenant(tenant=request.tenant, pk=pk)
    if not _needs_confirmation(attempt):
        raise Http404("Nothing to confirm.")
    connection = attempt.connection
    _require_manage(request, connection)
    if request.method == "POST":
        replace = request.POST.get("decision") == "replace"
        if replace:
            try:
                attempt = attempt_services.attempt_confirm_account(attempt=attempt, actor=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect(connection.get_absolute_url())
            if attempt.status == Attempt.Status.SUCCEEDED:
                messages.success(
                    request, _("“%(name)s” now uses %(account)s.") % {"name": connection.name, "account": attempt.account_label}
                )
            else:
                messages.error(request, attempt.error_message or _("The account could not be replaced."))
        else:
            attempt_services.attempt_cancel(attempt=attempt, actor=request.user)
            messages.info(request, _("Nothing changed: “%(name)s” keeps its account.") % {"name": connection.name})
        return redirect(connection.get_absolute_url())
    return render(request, "connections/attempt_confirm.html", {"attempt": attempt, "connection": connection})


# --- one connection -------------------------------------------------------------------------


@require_GET
@tenant_required()
def connection_detail(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    return _render_detail(request, connection)


def _render_detail(request, connection, rename_form=None, status=200):
    member = request.membership
    manage = can_manage(member, connection)
    live = connection.is_live
    context = {
        "connection": connection,
        "app": connection.app,
        "rotation_due": _rotation_due(connection, timezone.now()),
        "health": list(connection.health.all()[:10]),
        "usages": list(Usage.objects.for_tenant(request.tenant).filter(connection=connection)[:10]),
        "events": _decorate_events(list(selectors.events_for(connection)[:50])),
        "rotation_days": settings.ROTATION_PERIOD_DAYS,
        "can_check": live and member.can_create,
        "can_manage": manage and live,
        "rename_form": rename_form or RenameForm(connection=connection),
        "is_admin": member.is_admin,
    }
    if connection.last_error_code and connection.status != ConnectionStatus.ACTIVE:
        context.update(_failure_context(connection.last_error_code, connection.last_error_message))
    return render(request, "connections/detail.html", context, status=status)


@require_POST
@tenant_required(*CREATORS)
def connection_check(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    if not connection.is_live:
        messages.error(request, _("A revoked connection cannot be checked."))
        return redirect(connection.get_absolute_url())
    result = health_services.connection_check(connection=connection, actor=request.user)
    if result.ok:
        messages.success(request, _("Check passed: “%(name)s” works.") % {"name": connection.name})
    else:
        title = explain(result.error_code)["title"] if result.error_code else _("Check failed")
        messages.error(request, _("Check failed — %(title)s.") % {"title": title})
    return redirect(connection.get_absolute_url())


@sensitive_post_parameters()
@sensitive_variables("form")
@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def connection_reauthorize(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    _require_manage(request, connection)
    if not connection.is_live:
        raise Http404("A revoked connection cannot be re-authorized.")
    app = connection.app
    oauth_client = _oauth_client(app)
    not_configured = app.is_oauth and oauth_client is None
    context = {
        "app": app, "connection": connection, "not_configured": not_configured, "oauth_client": oauth_client,
        "reauthorize": True, "setup_steps": setup_step_items(app.setup_steps),
    }
    form_kwargs = {"tenant": request.tenant, "app": app, "oauth_client": oauth_client, "connection": connection}
    if request.method == "POST" and not not_configured:
        form = ConnectionWindowForm(request.POST, **form_kwargs)
        if form.is_valid():
            response = _link(request, form, context, app=app, name=connection.name, connection=connection)
            if response is not None:
                return response
        if context.get("explanation"):
            form = _refilled(form, request.POST, **form_kwargs)
    else:
        form = ConnectionWindowForm(**form_kwargs)
    context["form"] = form
    return render(request, "connections/window.html", context, status=400 if request.method == "POST" else 200)


@require_POST
@tenant_required(*CREATORS)
def connection_rename(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    _require_manage(request, connection)
    if not connection.is_live:
        raise Http404("A revoked connection cannot be renamed.")
    form = RenameForm(request.POST, connection=connection)
    if form.is_valid():
        old = connection.name
        try:
            connection_services.connection_rename(connection=connection, name=form.cleaned_data["name"], actor=request.user)
        except (ValidationError, IntegrityError):
            form.add_error("name", _("This name is already used by another live connection of this app."))
        else:
            if old != form.cleaned_data["name"]:
                messages.success(request, _("Renamed “%(old)s” to “%(new)s”.") % {"old": old, "new": form.cleaned_data["name"]})
            return redirect(connection.get_absolute_url())
    connection.refresh_from_db()
    return _render_detail(request, connection, rename_form=form, status=400)


def _shares_grant(connection) -> bool:
    return connection_services.shared_global_connections(connection).exists()


@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def connection_revoke(request, pk):
    connection = selectors.connection_get_for_tenant(tenant=request.tenant, pk=pk)
    _require_manage(request, connection)
    if not connection.is_live:
        messages.info(request, _("This connection is already revoked."))
        return redirect(connection.get_absolute_url())
    shared = _shares_grant(connection)
    form = RevokeForm(request.POST if request.method == "POST" else None, shared=shared)
    if request.method == "POST" and form.is_valid():
        try:
            revoked = connection_services.connection_revoke(
                connection=connection, actor=request.user, confirm_shared=form.cleaned_data.get("confirm_shared", False)
            )
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, _("“%(name)s” is revoked.") % {"name": connection.name})
            warning = getattr(revoked, "revocation_warning", "")
            if warning:
                messages.warning(
                    request, _("%(app)s did not confirm the revocation: %(message)s") % {"app": connection.app.name, "message": warning}
                )
            return redirect(connection.get_absolute_url())
    since = timezone.now() - RECENT_USE
    consumers = list(
        Usage.objects.for_tenant(request.tenant).filter(connection=connection, last_used_at__gte=since)[:50]
    )
    context = {"connection": connection, "app": connection.app, "form": form, "shared": shared, "consumers": consumers}
    return render(request, "connections/revoke.html", context, status=400 if request.method == "POST" else 200)
