"""How catalog entries read on a page: setup steps as list items with code spans."""

import re

from django.utils.html import escape
from django.utils.safestring import mark_safe

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
