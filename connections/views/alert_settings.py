"""Alert recipients on the settings page: members told, extra addresses, and what alerts look like.

The panel is its own partial (templates/tenants/_alert_recipients.html, rendered by the
`alert_recipients` tag), so the settings page's webhook part can change without touching it.
"""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from ..forms import AlertRecipientsForm
from ..models import Member, Role
from ..permissions import tenant_required
from ..services.alerts import alert_extra_emails, alert_previews, alert_recipients_set


def alert_panel_context(request, form=None) -> dict:
    """Return what the alert recipients panel shows for the request's company."""
    tenant = request.tenant
    members = list(Member.objects.filter(tenant=tenant).select_related("user").order_by("user__username"))
    if form is None:
        form = AlertRecipientsForm(
            members=members,
            initial={
                "members": [str(m.pk) for m in members if m.gets_alerts],
                "extra_emails": "\n".join(alert_extra_emails(tenant_id=tenant.pk)),
            },
        )
    chosen = set(form["members"].value() or [])
    rows = [{"member": m, "checked": str(m.pk) in chosen} for m in members]
    return {"alert_form": form, "alert_members": rows, "alert_previews": alert_previews(tenant=tenant)}


@tenant_required(Role.ADMIN)
@require_POST
def alert_recipients_save(request):
    """Save who gets the company's status alerts."""
    members = list(Member.objects.filter(tenant=request.tenant).select_related("user"))
    form = AlertRecipientsForm(request.POST, members=members)
    if not form.is_valid():
        context = alert_panel_context(request, form)
        return render(request, "tenants/alert_recipients.html", context, status=400)
    alert_recipients_set(
        tenant=request.tenant,
        member_ids=form.cleaned_data["members"],
        extra_emails=form.cleaned_data["extra_emails"],
        actor=request.user,
    )
    messages.success(request, "Alert recipients saved.")
    return redirect(reverse("tenants:settings") + "#alerts")
