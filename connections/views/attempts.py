"""Pages that start or finish an attempt: the connection window ("Link an account" and
"Re-authorize"), the OAuth callback, the attempt page with its retry, and the confirmation a
re-authorization asks for when the app reports another account.

Views are thin: permission, form, one service call, render or redirect. Every state change
is a POST with CSRF; views that receive secrets carry `sensitive_post_parameters`.
"""

from urllib.parse import quote

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_GET, require_http_methods

from catalog.models import App, OAuthClient
from catalog.presenters import setup_step_items

from .. import selectors
from ..auth import mode_for
from ..errors import ConnectionFailure
from ..forms import FIELD_PREFIX, ConnectionWindowForm
from ..middleware import SESSION_KEY as TENANT_SESSION_KEY
from ..models import Attempt
from ..permissions import (
    CREATORS,
    can_manage,
    connection_to_manage,
    require_manage,
    tenant_required,
)
from ..presenters import explain, failure_context
from ..services import attempts as attempt_services


def _visible_app(slug):
    return get_object_or_404(App.objects.visible(), slug=slug)


def _oauth_client(app):
    if not mode_for(app).needs_client:
        return None
    return OAuthClient.objects.filter(app=app).first()


def _add_service_errors(form, error):
    """Put a service's ValidationError on the form: on the field it names, else on the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for key, errors in error.error_dict.items():
        field = key if key in ("name", "scopes") else FIELD_PREFIX + key
        form.add_error(field if field in form.fields else None, errors)


@sensitive_post_parameters()
@sensitive_variables("form")
@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def connection_create(request, slug):
    app = _visible_app(slug)
    oauth_client = _oauth_client(app)
    mode = mode_for(app)
    not_configured = mode.needs_client and oauth_client is None
    context = {
        "app": app, "mode": mode, "not_configured": not_configured, "oauth_client": oauth_client,
        "setup_steps": setup_step_items(app.setup_steps),
    }
    if request.method == "POST" and not not_configured:
        form = ConnectionWindowForm(request.POST, tenant=request.tenant, app=app, oauth_client=oauth_client)
        if form.is_valid():
            response = _link(request, form, context, app=app, name=form.cleaned_data["name"])
            if response is not None:
                return response
        if context.get("explanation"):
            form = _refilled(form, request.POST, tenant=request.tenant, app=app, oauth_client=oauth_client)
    else:
        initial = {"name": request.GET.get("name") or selectors.connection_default_name(tenant=request.tenant, app=app)}
        form = ConnectionWindowForm(initial=initial, tenant=request.tenant, app=app, oauth_client=oauth_client)
    context["form"] = form
    status = 400 if request.method == "POST" else 200
    return render(request, "connections/window.html", context, status=status)


@sensitive_post_parameters()
@sensitive_variables("form")
@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def connection_reauthorize(request, pk):
    connection = connection_to_manage(request, pk)
    if not connection.is_live:
        raise Http404("A revoked connection cannot be re-authorized.")
    app = connection.app
    oauth_client = _oauth_client(app)
    mode = mode_for(app)
    not_configured = mode.needs_client and oauth_client is None
    context = {
        "app": app, "mode": mode, "connection": connection, "not_configured": not_configured,
        "oauth_client": oauth_client,
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
        context.update(failure_context(failure.code, failure.message))
    except ValidationError as error:
        _add_service_errors(form, error)
    except IntegrityError:
        form.add_error("name", _("You already have a %(app)s connection with this name.") % {"app": app.name})
    else:
        response = _after_start(request, attempt, redirect_url)
        if response is not None:
            return response
        context.update(failure_context(attempt.error_code, attempt.error_message))
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
    if getattr(attempt, "grant_warning", ""):
        messages.warning(request, attempt.grant_warning)
    if attempt.status == Attempt.Status.SUCCEEDED and attempt.connection_id:
        if attempt.is_reauthorization:
            messages.success(request, _("“%(name)s” is re-authorized.") % {"name": attempt.connection.name})
        else:
            messages.success(request, _("“%(name)s” is connected and working.") % {"name": attempt.name})
        return redirect(attempt.connection.get_absolute_url())
    if _needs_confirmation(attempt):
        return redirect("connections:attempt_confirm", pk=attempt.pk)
    return failed


def _needs_confirmation(attempt, user=None) -> bool:
    if attempt_services.attempt_awaits_link_confirmation(attempt, user):
        return user is not None
    return attempt.connection_id is not None and attempt_services.attempt_awaits_account_confirmation(attempt)


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
    own = attempt.tenant_id == request.tenant.pk
    if attempt.status == Attempt.Status.FAILED:
        return _callback_error(request, slug, attempt.error_code, attempt.error_message, attempt if own else None)
    if attempt_services.attempt_awaits_link_confirmation(attempt, request.user):
        # The service checked that this person is an operator or admin of the attempt's company:
        # the confirmation is shown in that company, as switching to it in the sidebar would.
        request.session[TENANT_SESSION_KEY] = attempt.tenant_id
        return redirect("connections:attempt_confirm", pk=attempt.pk)
    return _after_attempt(request, attempt, redirect(attempt.get_absolute_url()))


def _callback_error(request, slug, code, message, attempt):
    app = App.objects.filter(slug=slug).first()
    context = {"app": app, "attempt": attempt, **failure_context(code, message)}
    return render(request, "connections/callback_error.html", context, status=400)


@require_http_methods(["GET", "POST"])
@tenant_required()
def attempt_detail(request, pk):
    attempt = selectors.attempt_get_for_tenant(tenant=request.tenant, pk=pk)
    if request.method == "POST":
        return _attempt_retry(request, attempt)
    context = {"attempt": attempt, "app": attempt.app, "can_retry": _can_retry(request, attempt)}
    if attempt.error_code:
        context.update(failure_context(attempt.error_code, attempt.error_message))
    if _needs_confirmation(attempt, request.user):
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
    if not mode_for(app).redirects:
        if reauth is not None:
            return redirect("connections:reauthorize", pk=reauth.pk)
        return redirect(f"{reverse('connections:create', args=[app.slug])}?name={quote(attempt.name)}")
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


@require_http_methods(["GET", "POST"])
@tenant_required(*CREATORS)
def attempt_confirm(request, pk):
    attempt = selectors.attempt_get_for_tenant(tenant=request.tenant, pk=pk)
    if attempt.unbound:
        return _link_confirm(request, attempt)
    if not _needs_confirmation(attempt):
        raise Http404("Nothing to confirm.")
    connection = attempt.connection
    require_manage(request.membership, connection)
    if request.method == "POST":
        replace = request.POST.get("decision") == "replace"
        if replace:
            try:
                attempt = attempt_services.attempt_confirm_account(attempt=attempt, actor=request.user)
            except ValidationError as error:
                messages.error(request, " ".join(error.messages))
                return redirect(connection.get_absolute_url())
            if getattr(attempt, "grant_warning", ""):
                messages.warning(request, attempt.grant_warning)
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


def _link_confirm(request, attempt):
    """Ask the member who landed on an API-started attempt's callback to confirm the link."""
    if not attempt_services.attempt_awaits_link_confirmation(attempt, request.user):
        raise Http404("Nothing to confirm.")
    context = {"attempt": attempt, "app": attempt.app, "tenant": request.tenant, "connection": attempt.connection}
    if request.method != "POST":
        return render(request, "connections/attempt_link_confirm.html", context)
    if request.POST.get("decision") != "link":
        attempt_services.attempt_cancel(attempt=attempt, actor=request.user)
        messages.info(request, _("Nothing was linked to %(tenant)s.") % {"tenant": request.tenant.name})
        return redirect(attempt.get_absolute_url())
    try:
        attempt = attempt_services.attempt_confirm_link(attempt=attempt, actor=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
        return redirect(attempt.get_absolute_url())
    if attempt.status != Attempt.Status.SUCCEEDED:
        messages.error(request, attempt.error_message or _("The account could not be linked."))
        return redirect(attempt.get_absolute_url())
    return _after_attempt(request, attempt, redirect(attempt.get_absolute_url()))
