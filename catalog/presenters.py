"""How catalog entries read on a page: setup steps as list items with code spans."""

import re

from django.utils.html import escape
from django.utils.safestring import mark_safe

# The apps most companies link first, in this order: the picker's "Popular" section.
POPULAR_APPS = ("gmail", "slack", "google-sheets", "salesforce", "hubspot", "github", "stripe", "notion")
STEP_NUMBER = re.compile(r"^\s*\d+[.)]\s+")
INLINE_CODE = re.compile(r"`([^`]+)`")


def setup_step_items(text: str) -> list:
    """Split setup steps ("1. …" lines) into escaped list items; `code` becomes a code span."""
    items = []
    for line in (text or "").splitlines():
        if not line.strip():
            continue
        if STEP_NUMBER.match(line) or not items:
            items.append(STEP_NUMBER.sub("", line).strip())
        else:
            items[-1] += " " + line.strip()
    return [
        mark_safe(INLINE_CODE.sub(r'<span class="code">\1</span>', escape(item)))  # noqa: S308
        for item in items
    ]


def setup_steps_for(app, *, staff: bool, configured: bool = True) -> list:
    """Return the setup steps a person may act on.

    An OAuth app's steps register the platform's client at the provider and in the Django admin,
    which only platform administrators (staff) can do; everyone else just links an account.
    """
    if staff or not app.needs_oauth_client:
        return setup_step_items(app.setup_steps)
    if not configured:
        return [escape(f"{app.name} needs its OAuth client registered first: ask for it on this page.")]
    return [
        escape("Click “Link an account”."),
        escape(f"Sign in at {app.name} and allow access to the scopes listed on this page."),
        escape("You come back here with a tested connection."),
    ]


def catalog_sections(apps, *, filtered: bool) -> list[dict]:
    """Group the grid's apps: Popular (unfiltered only), Ready to connect, then the rest."""
    sections = []
    if not filtered:
        rank = {slug: index for index, slug in enumerate(POPULAR_APPS)}
        popular = sorted((app for app in apps if app.slug in rank), key=lambda app: rank[app.slug])
        if popular:
            sections.append({"key": "popular", "title": "Popular", "apps": popular})
        apps = [app for app in apps if app.slug not in rank]
    ready = [app for app in apps if app.configured]
    rest = [app for app in apps if not app.configured]
    if ready:
        sections.append({"key": "ready", "title": "Ready to connect", "apps": ready})
    if rest:
        sections.append({
            "key": "setup",
            "title": "Needs setup first",
            "note": "Their OAuth client is not registered yet: open one to ask for it.",
            "apps": rest,
        })
    return sections
