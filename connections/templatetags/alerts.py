"""The alert recipients panel of the settings page, rendered apart from the webhook part."""

from django import template

from ..views.alert_settings import alert_panel_context

register = template.Library()


@register.inclusion_tag("tenants/_alert_recipients.html", takes_context=True)
def alert_recipients(context):
    """Render the alert recipients panel for the request's company."""
    request = context["request"]
    return {**alert_panel_context(request), "request": request, "csrf_token": context.get("csrf_token")}
