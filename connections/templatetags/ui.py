"""The `ui` template library: status badges, app icons, error explanations and icons."""

import hashlib

from django import template
from django.template.loader_tags import BLOCK_CONTEXT_KEY
from django.templatetags.static import static
from django.utils.html import format_html

from connections.presenters import explain

register = template.Library()

# status value -> (badge modifier, label). Connection, attempt and publication statuses.
BADGES = {
    "active": ("active", "Active"),
    "expired": ("expired", "Connection expired"),
    "error": ("error", "App unavailable"),
    "revoked": ("revoked", "Revoked"),
    "pending": ("pending", "Pending"),
    "succeeded": ("active", "Succeeded"),
    "failed": ("error", "Failed"),
    "abandoned": ("neutral", "Abandoned"),
    "approved": ("active", "Approved"),
    "rejected": ("error", "Rejected"),
    "withdrawn": ("neutral", "Withdrawn"),
    "unpublished": ("revoked", "Unpublished"),
    "rotation_due": ("warning", "Rotation due"),
}


def _hue(text: str) -> int:
    return int(hashlib.sha1(text.encode()).hexdigest()[:4], 16) % 360


def _initials(name: str) -> str:
    words = [w for w in str(name).replace("-", " ").replace("_", " ").split() if w[:1].isalnum()]
    if not words:
        return "?"
    if len(words) == 1:
        return words[0][:2].capitalize()
    return (words[0][0] + words[1][0]).upper()


@register.simple_tag
def status_badge(status, label=None):
    """Render a status pill; accepts a status value or an object with .status."""
    value = getattr(status, "status", status)
    value = str(value or "")
    modifier, default_label = BADGES.get(value, ("neutral", value.replace("_", " ").capitalize()))
    return format_html(
        '<span class="badge badge-{}" data-status="{}">{}</span>', modifier, value, label or default_label
    )


@register.simple_tag
def app_icon(app, size=""):
    """Render an app's letters tile; its colour is derived from the app's slug."""
    name = getattr(app, "name", None) or str(app or "?")
    key = getattr(app, "slug", None) or name
    return format_html(
        '<span class="app-icon {}" style="--hue: {}" aria-hidden="true">{}</span>',
        size, _hue(key), _initials(name),
    )


@register.simple_tag
def error_explain(code, message=""):
    """Render what an error code means to people: title, cause and what to do."""
    if not code:
        return ""
    info = explain(code)
    return format_html(
        '<div class="alert alert-error error-explain" data-code="{}">'
        '<svg class="icon" aria-hidden="true"><use href="{}#alert"></use></svg>'
        '<div class="alert-body"><div class="alert-title">{}</div>{}'
        "<dl><dt>Cause</dt><dd>{}</dd><dt>What to do</dt><dd>{}</dd></dl></div></div>",
        code, static("icons/sprite.svg"), info.get("title", ""),
        format_html("<p>{}</p>", message) if message else "",
        info.get("cause", ""), info.get("remedy", ""),
    )


@register.simple_tag
def error_info(code):
    """Return the explanation dict, for templates that lay it out themselves ({% error_info c as info %})."""
    return explain(code)


@register.simple_tag
def icon(name, css=""):
    """Render an icon from static/icons/sprite.svg."""
    return format_html(
        '<svg class="icon {}" aria-hidden="true"><use href="{}#{}"></use></svg>',
        css, static("icons/sprite.svg"), name,
    )


@register.filter
def initials(value):
    """Return one or two letters for an avatar or tile."""
    return _initials(value)


@register.filter
def hue(value):
    """Return a stable hue (0-359) for a string."""
    return _hue(str(value))


@register.simple_tag(takes_context=True)
def render_block(context, name):
    """Render a block of the page a second time (base.html's h1 repeats the title block)."""
    block_context = context.render_context.get(BLOCK_CONTEXT_KEY)
    block = block_context.get_block(name) if block_context is not None else None
    if block is None:
        return ""
    with context.push():
        return block.nodelist.render(context)
