"""A company's own OAuth client for an app ("bring your own app"), for tenant admins: the form
(client id, write-only secret, the redirect URI to register) and its removal, confirmed first.

Views are thin: permission, form, one service call (services/tenant_clients.py), redirect.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables
from django.views.decorators.http import require_http_methods

from catalog.models import App

from ..forms import TenantOAuthClientForm
from ..models import Connection, ConnectionStatus, Role, TenantOAuthClient
from ..permissions import tenant_required
from ..services import tenant_clients as services


def _app(slug) -> App:
    app = App.objects.visible().filter(slug=slug).first()
    if app is None or not services.tenant_clients_possible(app):
        raise Http404("This app does not accept a company OAuth client.")
    return app


def _minted_count(request, client) -> int:
    if client is None:
        return 0
    return (
        Connection.objects.for_tenant(request.tenant)
        .filter(oauth_client=client)
        .exclude(status=ConnectionStatus.REVOKED)
        .count()
    )


@never_cache
@sensitive_post_parameters("client_secret")
@sensitive_variables("form")
@require_http_methods(["GET", "POST"])
@tenant_required(Role.ADMIN)
def oauth_client_settings(request, slug):
    app = _app(slug)
    client = services.tenant_client_live(tenant=request.tenant, app=app)
    form = TenantOAuthClientForm(
        request.POST or None, initial={"client_id": client.client_id if client else ""}
    )
    if request.method == "POST" and form.is_valid():
        try:
            saved = services.tenant_client_set(
                tenant=request.tenant, app=app, actor=request.user,
                client_id=form.cleaned_data["client_id"], client_secret=form.cleaned_data["client_secret"],
            )  # fmt: skip
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for field, errors in error.error_dict.items():
                    form.add_error(field if field in form.fields else None, errors)
            else:
                form.add_error(None, error)
        else:
            if client is not None and saved.pk != client.pk:
                messages.warning(
                    request,
                    f"Your {app.name} OAuth client was replaced. Connections linked with the old "
                    "client are marked “Connection expired”: re-authorize them.",
                )
            else:
                messages.success(request, f"Your company's {app.name} OAuth client was saved.")
            return redirect("tenants:oauth_client", slug=app.slug)
    context = {
        "app": app, "client": client, "form": form, "minted": _minted_count(request, client),
    }  # fmt: skip
    return render(request, "tenants/oauth_client.html", context, status=400 if form.errors else 200)


@require_http_methods(["GET", "POST"])
@tenant_required(Role.ADMIN)
def oauth_client_remove(request, pk):
    client = (
        TenantOAuthClient.objects.for_tenant(request.tenant)
        .select_related("app")
        .filter(pk=pk, retired_at__isnull=True)
        .first()
    )
    if client is None:
        raise Http404("No such OAuth client.")
    if request.method == "POST":
        flagged = services.tenant_client_remove(client=client, actor=request.user)
        note = (
            f" {flagged} connection{'s' if flagged != 1 else ''} must be re-authorized."
            if flagged
            else ""
        )
        messages.success(
            request, f"Your company's {client.app.name} OAuth client was removed.{note}"
        )
        return redirect("tenants:oauth_client", slug=client.app.slug)
    context = {"client": client, "app": client.app, "minted": _minted_count(request, client)}
    return render(request, "tenants/oauth_client_remove.html", context)
