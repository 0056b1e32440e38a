"""Tenant pages: switch company, members, API tokens, settings (webhook, test event, delivery log)."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from ..forms import TokenCreateForm, WebhookForm
from ..middleware import SESSION_KEY
from ..models import ApiToken, Member, Role
from ..outbound import display_url
from ..permissions import tenant_required
from ..selectors import webhook_deliveries_for_tenant
from ..services.tenants import (
    tenant_webhook_clear,
    tenant_webhook_secret_rotate,
    tenant_webhook_set,
)
from ..services.tokens import api_token_create, api_token_revoke
from ..services.webhooks import WebhookTestTooSoon, webhook_test_send

# Post/redirect/get: the new token's plaintext waits here for the next page, which pops it.
CREATED_TOKEN_KEY = "api_token_created"
WEBHOOK_SECRET_KEY = "webhook_secret_created"
DELIVERY_LOG_SIZE = 50


@login_required
@require_POST
def tenant_switch(request):
    """Make another of the user's companies the current one."""
    tenant_id = request.POST.get("tenant", "")
    if not tenant_id.isdigit():
        raise Http404("No such company.")
    member = Member.objects.filter(user=request.user, tenant_id=int(tenant_id)).select_related("tenant").first()
    if member is None:
        raise Http404("No such company.")
    request.session[SESSION_KEY] = member.tenant_id
    messages.success(request, f"Switched to {member.tenant.name}.")
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        target = "connections:list"
    return redirect(target)


@tenant_required()
def member_list(request):
    """List the current company's members; admins also see their roles."""
    members = (
        Member.objects.filter(tenant=request.tenant)
        .select_related("user")
        .order_by("user__username")
    )
    return render(request, "tenants/members.html", {"members": members, "roles": Role})


@never_cache
@tenant_required()
@require_http_methods(["GET", "POST"])
@sensitive_variables("plaintext", "pending", "created")
def token_list(request):
    """List the company's API tokens; admins create them (the plaintext is shown once)."""
    is_admin = request.membership.is_admin
    form = TokenCreateForm(tenant=request.tenant) if is_admin else None
    created = None
    if request.method == "POST":
        if not is_admin:
            raise PermissionDenied("Only company admins manage API tokens.")
        form = TokenCreateForm(request.POST, tenant=request.tenant)
        if form.is_valid():
            token, plaintext = api_token_create(
                tenant=request.tenant, name=form.cleaned_data["name"], actor=request.user,
                **form.token_options(),
            )
            # Redirect, so reloading the page cannot mint a second token; never in the URL.
            request.session[CREATED_TOKEN_KEY] = {"id": token.pk, "plaintext": plaintext}
            return redirect("tenants:tokens")
    else:
        pending = request.session.pop(CREATED_TOKEN_KEY, None)
        if pending:
            token = ApiToken.objects.for_tenant(request.tenant).filter(pk=pending.get("id")).first()
            if token is not None:
                created = {"token": token, "plaintext": pending.get("plaintext", "")}
    tokens = (
        ApiToken.objects.for_tenant(request.tenant)
        .select_related("created_by")
        .prefetch_related("connections", "global_connections")
    )
    return render(
        request,
        "tenants/tokens.html",
        {"tokens": tokens, "form": form, "created": created, "is_admin": is_admin},
    )


@tenant_required()
@require_http_methods(["GET", "POST"])
def token_revoke(request, pk):
    """Confirm, then revoke one of the company's API tokens."""
    token = get_object_or_404(ApiToken.objects.for_tenant(request.tenant), pk=pk)
    if not request.membership.is_admin:
        raise PermissionDenied("Only company admins manage API tokens.")
    if token.revoked_at is not None:
        messages.info(request, f"The token “{token.name}” was already revoked.")
        return redirect("tenants:tokens")
    if request.method == "POST":
        api_token_revoke(token=token, actor=request.user)
        messages.success(request, f"The token “{token.name}” was revoked. Requests using it now fail.")
        return redirect("tenants:tokens")
    return render(request, "tenants/token_revoke.html", {"token": token})


@never_cache
@tenant_required(Role.ADMIN)
@require_http_methods(["GET", "POST"])
@sensitive_variables("new_secret")
def tenant_settings(request):
    """Company settings for admins: the alert webhook, its signing secret, test event and log."""
    tenant = request.tenant
    # The stored URL is never put back in the page (its path and query often carry a secret):
    # the page shows it masked, and an empty field keeps it.
    form = WebhookForm()
    if request.method == "POST":
        action = request.POST.get("action", "save")
        new_secret = None
        if action == "rotate_secret":
            if not tenant.webhook_url:
                messages.error(request, "Set a webhook URL first.")
                return redirect("tenants:settings")
            new_secret = tenant_webhook_secret_rotate(tenant=tenant, actor=request.user)
            messages.success(request, "A new signing secret was generated. The old one no longer works.")
        elif action == "send_test":
            _send_test_event(request, tenant)
            return redirect("tenants:settings")
        elif action == "remove":
            tenant_webhook_clear(tenant=tenant, actor=request.user)
            messages.success(request, "The webhook was removed.")
            return redirect("tenants:settings")
        else:
            form = WebhookForm(request.POST)
            if not form.is_valid():
                return _settings_page(request, form=form, new_secret=None)
            url = form.cleaned_data["webhook_url"]
            if not url:
                if tenant.webhook_url:
                    messages.info(request, "The webhook address was kept. Use Remove to stop alerts.")
                else:
                    messages.error(request, "Type the address of your receiver, starting with https://.")
                return redirect("tenants:settings")
            new_secret = tenant_webhook_set(tenant=tenant, url=url, actor=request.user)
            messages.success(request, "Webhook saved.")
        if new_secret:
            # Post/redirect/get: the secret waits in the session for the next page, which pops
            # it, so reloading or going back never shows it again; never in the URL.
            request.session[WEBHOOK_SECRET_KEY] = new_secret
        return redirect("tenants:settings")
    new_secret = request.session.pop(WEBHOOK_SECRET_KEY, None)
    return _settings_page(request, form=form, new_secret=new_secret)


@sensitive_variables("new_secret")
def _settings_page(request, *, form, new_secret):
    tenant = request.tenant
    return render(
        request,
        "tenants/settings.html",
        {
            "form": form,
            "new_secret": new_secret,
            "has_secret": tenant.webhook_secret_id is not None,
            "webhook_shown": display_url(tenant.webhook_url) if tenant.webhook_url else "",
            "deliveries": webhook_deliveries_for_tenant(tenant=tenant, limit=DELIVERY_LOG_SIZE),
            "delivery_log_size": DELIVERY_LOG_SIZE,
        },
    )


def _send_test_event(request, tenant) -> None:
    """Send one test event now and say how it went."""
    if not tenant.webhook_url:
        messages.error(request, "Set a webhook URL first.")
        return
    try:
        delivery = webhook_test_send(tenant=tenant)
    except WebhookTestTooSoon:
        messages.error(request, "A test event was sent a moment ago. Wait a few seconds and try again.")
        return
    if delivery.ok:
        messages.success(
            request, f"Test event delivered: the receiver answered {delivery.status_code} in {delivery.duration_ms} ms."
        )
    elif delivery.status_code:
        messages.error(
            request,
            f"Test event not accepted: the receiver answered {delivery.status_code}. "
            "Check that it verifies with the current signing secret.",
        )
    else:
        messages.error(request, f"Test event not delivered. {delivery.error}")
