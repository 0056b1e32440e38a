"""Provider templates at run time: `{placeholder}` strings of a spec filled with values.

A template's placeholders are plain `{name}`s naming a field of the spec (or `{sandbox}`).
Errors never carry the values, which may be secrets.
"""

import re
import string

KEY_PATTERN = r"^[a-z_][a-z0-9_]*$"

_formatter = string.Formatter()


class TemplateError(Exception):
    """A `{placeholder}` template is malformed or could not be rendered. Never carries the values."""

    def __init__(self, errors):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


def template_names(template: str) -> list[str]:
    """Return the placeholder names of a template, or raise TemplateError when malformed."""
    names = []
    try:
        parsed = list(_formatter.parse(template))
    except ValueError as exc:
        raise TemplateError(f"malformed template ({exc})") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or not re.fullmatch(KEY_PATTERN, name):
            raise TemplateError(f"placeholders are plain {{name}}, not {{{name}}}")
        names.append(name)
    return names


def render_template(template: str, values: dict) -> str:
    """Substitute `{name}` placeholders with values; raise TemplateError for a missing one."""
    out = []
    for literal, name, _spec, _conversion in _formatter.parse(template):
        out.append(literal)
        if name is None:
            continue
        if not re.fullmatch(KEY_PATTERN, name):
            raise TemplateError(f"placeholders are plain {{name}}, not {{{name}}}")
        value = values.get(name)
        if value is None or value == "":
            raise TemplateError(f"missing value for {{{name}}}")
        out.append(str(value))
    return "".join(out)
