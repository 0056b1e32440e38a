"""Request bodies: JSON (or a form), refused with 400 before any schema sees something hostile.

`json.loads` recurses once per bracket: 100,000 of them exhaust the stack, and NUL characters
or lone surrogates pass JSON but break PostgreSQL text and UTF-8 later. So a body is parsed,
then walked without recursion: deeper than MAX_DEPTH, or a string (key or value) holding NUL
or a surrogate, is a 400 naming where. The body holds typed secrets: its locals stay out of
error reports.
"""

import json
import re

from django.views.decorators.debug import sensitive_variables
from ninja.parser import Parser

from .errors import ApiError

MAX_DEPTH = 16
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
LIST_FIELDS = ("scopes",)
# NUL breaks PostgreSQL text; U+D800–U+DFFF alone cannot be encoded as UTF-8.
FORBIDDEN_CHARACTERS = re.compile("[\x00\ud800-\udfff]")
FORBIDDEN_MESSAGE = "Text may not contain NUL characters or unpaired surrogates."


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


def _where(path: str, key) -> str:
    key = FORBIDDEN_CHARACTERS.sub("?", str(key))[:40]
    return f"{path}.{key}" if path else key


@sensitive_variables()
def check_body(data) -> None:
    """Raise ApiError 400 when the parsed body nests too deeply or holds a forbidden character."""
    pending = [(data, 1, "")]
    while pending:
        value, depth, path = pending.pop()
        if depth > MAX_DEPTH:
            raise ApiError(400, "invalid", f"The body nests deeper than {MAX_DEPTH} levels.")
        if isinstance(value, dict):
            for key, item in value.items():
                if FORBIDDEN_CHARACTERS.search(key):
                    raise ApiError(
                        400, "invalid", f"{FORBIDDEN_MESSAGE} (a key in {path or 'the body'})"
                    )
                pending.append((item, depth + 1, _where(path, key)))
        elif isinstance(value, list):
            pending.extend(
                (item, depth + 1, _where(path, index)) for index, item in enumerate(value)
            )
        elif isinstance(value, str) and FORBIDDEN_CHARACTERS.search(value):
            where = path or "body"
            raise ApiError(
                400, "invalid", f"{where}: {FORBIDDEN_MESSAGE}", fields={where: [FORBIDDEN_MESSAGE]}
            )


class BodyParser(Parser):
    """JSON bodies (objects only), and form bodies for scripts that post forms."""

    @sensitive_variables()
    def parse_body(self, request):
        if request.content_type in FORM_TYPES:
            data = {key: request.POST.get(key) for key in request.POST}
            for key in LIST_FIELDS:
                if key in request.POST:
                    data[key] = request.POST.getlist(key)
        else:
            try:
                data = json.loads(request.body, parse_constant=_refuse_constant)
            except RecursionError:
                raise ApiError(
                    400, "invalid", f"The body nests deeper than {MAX_DEPTH} levels."
                ) from None
            except ValueError:  # also UnicodeDecodeError and too many integer digits
                raise ApiError(400, "invalid", "The body is not valid JSON.") from None
            if not isinstance(data, dict):
                raise ApiError(400, "invalid", "The body must be a JSON object.")
        check_body(data)
        return data
