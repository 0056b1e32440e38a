"""The `ui` template library: status badges, app icons, error explanations and icons."""

import hashlib

from django import template
from django.template.loader_tags import BLOCK_CONTEXT_KEY
from django.templatetags.static import static
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from catalog.icons import icon_path
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
    """Render an app's brand icon, else a letters tile coloured from its slug (decorative)."""
    name = getattr(app, "name", None) or str(app or "?")
    key = getattr(app, "slug", None) or name
    path = icon_path(slug=key, spec=getattr(app, "spec", None)) if hasattr(app, "slug") else None
    if path:
        return format_html(
            '<img class="app-icon {}" src="{}" alt="" width="36" height="36" loading="lazy">',
            size, static(path),
        )
    return format_html(
        '<span class="app-icon {} {}" aria-hidden="true">{}</span>', size, hue_class(key), _initials(name)
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


@register.simple_tag
def breadcrumbs(*items):
    """Render the breadcrumb trail from label, target pairs; an empty target is this page.

    A target is a URL name ("connections:list") or a path; every page uses this one separator.
    """
    parts = []
    for label, target in zip(items[0::2], items[1::2]):
        if target:
            url = target if "/" in str(target) else reverse(target)
            parts.append(format_html('<a href="{}">{}</a>', url, label))
        else:
            parts.append(format_html('<span aria-current="page">{}</span>', label))
    separator = format_html(
        '<svg class="icon" aria-hidden="true"><use href="{}#chevron-right"></use></svg>', static("icons/sprite.svg")
    )
    return format_html('<nav class="breadcrumbs" aria-label="Breadcrumb">{}</nav>', mark_safe(separator.join(parts)))


@register.filter
def initials(value):
    """Return one or two letters for an avatar or tile."""
    return _initials(value)


@register.filter
def hue(value):
    """Return a stable hue (0-359) for a string."""
    return _hue(str(value))


@register.filter
def hue_class(value):
    """Return the CSS class of a stable hue for a string ("hue-12"), 10 degrees a step."""
    return f"hue-{_hue(str(value)) // 10}"


@register.simple_tag(takes_context=True)
def render_block(context, name):
    """Render a block of the page a second time (base.html's h1 repeats the title block)."""
    block_context = context.render_context.get(BLOCK_CONTEXT_KEY)
    block = block_context.get_block(name) if block_context is not None else None
    if block is None:
        return ""
    with context.push():
        return block.nodelist.render(context)


@register.filter
def field_help(text):
    """Render a provider field's help: escaped, `code` spans as <code> (no raw backticks)."""
    from connections.forms import help_html

    return help_html(text)
