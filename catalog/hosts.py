"""Field formats and host-template rules: which typed values may go into a URL, and where.

A URL template of a provider spec fixes its scheme and its host. A `{placeholder}` may stand
in the host in three ways only:
1. whole DNS labels before a fixed suffix of at least two labels, from a field of format
   `subdomain`: `https://{subdomain}.zendesk.com/api/v2`;
2. the whole host, from a field of format `hostname`, whose value must match one of the spec's
   `allowed_hosts` patterns (`*.my.salesforce.com`: one or more labels before the suffix);
3. the start of the URL, from a field of format `url` (`{base_url}/v1`): the operator defines
   it, and connections.outbound checks it when the request is sent; `{sandbox}` (the sandbox's
   URL, from settings) starts a URL the same way.
Every other placeholder sits in the path or query, and its value must not be able to leave
it: no `/ ? # @ : \\`, whitespace, control characters, percent-escapes, a trailing dot or a
character outside ASCII (nor, in the query, `& = ; +`). International host names are
accepted only in their ASCII (punycode, `xn--`) form: a homograph is never rendered.

`render_url` renders a template and then re-reads the result: the scheme, the fixed host
suffix and the port must be the template's, the rest exactly the validated values. Its errors
name the field, never the value. Pure functions: nothing here resolves or sends.
"""

import re
from urllib.parse import urlsplit

from .templating import TemplateError, render_template, template_names

FORMATS = ("subdomain", "hostname", "url", "email", "text")
SANDBOX_PLACEHOLDER = "sandbox"
# Spec keys holding a URL requested on a tenant's behalf (docs_url is a link for people).
URL_KEYS = (
    ("base_url",),
    ("oauth2", "authorize_url"),
    ("oauth2", "token_url"),
    ("oauth2", "refresh_url"),
    ("oauth2", "revoke_url"),
    ("oauth2", "revoke", "url"),
    ("lookup", "url"),
    ("oauth1", "request_token_url"),
    ("oauth1", "authorize_url"),
    ("oauth1", "access_token_url"),
    ("client_credentials", "token_url"),
)

_LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0x[0-9a-f]*")
_EMAIL = re.compile(r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9.-]+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_URL_BREAKERS = set("/?#@:\\")
_MARK = re.compile(r"\x01(\d+)\x02")
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]*)://")

IDN_MESSAGE = "Type an international name in its ASCII form (xn--…), as your provider shows it."
PERCENT_MESSAGE = "Type the value itself, without percent-escapes (%)."


class UnsafeUrl(TemplateError):
    """A URL template or a value for it breaks the host rules; names the field, never the value."""

    def __init__(self, message: str, *, field: str | None = None):
        self.field = field
        super().__init__(message)

    @property
    def problem(self) -> str:
        """The message without its `{field}: ` prefix, for a person who knows the field's label."""
        return self.errors[0].removeprefix(f"{{{self.field}}}: ") if self.field else self.errors[0]


# Names a revoke block or a lookup may use besides the fields: the grant it revokes or reads.
GRANT_NAMES = ("access_token", "refresh_token", "client_id")


def spec_fields(spec: dict, *, path: str = "") -> list[dict]:
    """Return the fields a template of the spec may name: typed fields, the hosts an enum choice
    sets, captured values and, in a `revoke` block or a lookup's headers (`path` says where the
    template sits), the grant's tokens."""
    fields = [field for field in spec.get("fields") or () if isinstance(field, dict)]
    for field in list(fields):
        options = field.get("enum") if isinstance(field.get("enum"), list) else []
        first = options[0] if options and isinstance(options[0], dict) else {}
        for key in first.get("hosts") or {}:
            fields.append({"key": key, "format": "hostname"})  # set by the choice (enum hosts)
    for capture in spec.get("captures") or ():
        if isinstance(capture, dict) and isinstance(capture.get("key"), str):
            fields.append({"key": capture["key"], "format": capture.get("format")})
    if path.startswith(("oauth2.revoke.", "lookup.headers.")):
        fields += [{"key": name, "format": None} for name in GRANT_NAMES]
    if path.startswith("oauth2.revoke.body."):
        # A revoke body goes to the provider's own revocation endpoint, which may want the client
        # secret under its own name (Miro: clientSecret); nothing else may name it.
        fields.append({"key": "client_secret", "format": None})
    return fields


# Field values.


def host_matches(host: str, allowed_hosts) -> bool:
    """Return whether a host name matches one of the patterns (`api.x.com`, `*.x.com`)."""
    host = host.lower()
    for pattern in allowed_hosts or ():
        pattern = pattern.lower()
        if pattern.startswith("*."):
            if host.endswith(pattern[1:]) and len(host) > len(pattern) - 1:
                return True
        elif host == pattern:
            return True
    return False


def _labels_problem(host: str) -> bool:
    labels = host.split(".")
    return not all(_LABEL.fullmatch(label) for label in labels) or len(host) > 253


def allowed_hosts_problem(patterns) -> str | None:
    """Return why a spec's `allowed_hosts` list is not usable, or None."""
    if not isinstance(patterns, (list, tuple)) or not patterns:
        return 'must list the host names this app accepts, e.g. ["*.my.salesforce.com"]'
    for pattern in patterns:
        text = pattern.lower() if isinstance(pattern, str) else ""
        fixed = text.removeprefix("*.")
        if not fixed or "*" in fixed or _labels_problem(fixed) or len(fixed.split(".")) < 2:
            return f"{pattern!r} must be a host name or *. and a domain, e.g. *.my.salesforce.com"
    return None


def _url_safety_problem(value: str) -> str | None:
    """Return why a value cannot go into a URL's path or query, or None."""
    if not value.isascii():
        return "Use only ASCII characters here."
    if any(char.isspace() for char in value) or _CONTROL.search(value):
        return "Remove the spaces and line breaks."
    if "%" in value:
        return PERCENT_MESSAGE
    if set(value) & _URL_BREAKERS:
        return "Remove the characters / ? # @ : and \\ from this value."
    if value.endswith(".") or value in (".", ".."):
        return "Remove the dot at the end."
    return None


def _subdomain_problem(value: str, suffix: str) -> str | None:
    hint = f"Type only the subdomain, e.g. acme for acme{suffix or '.example.com'}."
    if not value:
        return hint
    if not value.isascii():
        return IDN_MESSAGE
    if any(char in value for char in "./:@?#\\%") or any(char.isspace() for char in value):
        return hint
    if len(value) > 63:
        return "A subdomain has at most 63 characters."
    if not _LABEL.fullmatch(value.lower()):
        return "Use only letters, digits and hyphens, and no hyphen at the start or the end."
    return None


def _hostname_problem(value: str, allowed_hosts) -> str | None:
    patterns = list(allowed_hosts or ())
    example = patterns[0].replace("*", "acme", 1) if patterns else "api.example.com"
    hint = f"Type only the host name, e.g. {example}, without https:// or a path."
    if not value:
        return hint
    if not value.isascii():
        return IDN_MESSAGE
    if any(char in value for char in "/?#@\\%") or any(char.isspace() for char in value):
        return hint
    if ":" in value:
        return "Type the host name without a port or an IP address."
    if value.endswith("."):
        return "Remove the dot at the end."
    host = value.lower()
    if _labels_problem(host):
        return "Use only letters, digits, hyphens and dots between them."
    if _NUMERIC_LABEL.fullmatch(host.rsplit(".", 1)[-1]):
        return "Type the host name, not an IP address."
    if not patterns:
        return "This app accepts no host names (its spec lists no allowed_hosts)."
    if not host_matches(host, patterns):
        return f"This app accepts only host names like {', '.join(patterns)}."
    return None


def _url_problem(value: str) -> str | None:
    hint = "Type a full address starting with https://, e.g. https://api.example.com/v1."
    if not value:
        return hint
    if any(char.isspace() for char in value) or _CONTROL.search(value) or "\\" in value:
        return "Remove the spaces and backslashes from the address."
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        return "The port must be a number from 1 to 65535."
    if parts.scheme.lower() not in ("http", "https") or not parts.netloc:
        return hint
    if "@" in parts.netloc:
        return "Remove the user name and password from the address."
    if not parts.netloc.isascii():
        return IDN_MESSAGE
    if "%" in value:
        return PERCENT_MESSAGE
    if "?" in value or "#" in value:
        return "Type the address without a ? or # part."
    host = parts.hostname or ""
    if host.endswith("."):
        return "Remove the dot at the end of the host name."
    if not host or (":" not in host and _labels_problem(host)):
        return hint
    if port == 0:
        return "The port must be a number from 1 to 65535."
    return None


def _email_problem(value: str) -> str | None:
    hint = "Type an email address, e.g. ada@example.com."
    if not value or not value.isascii() or not _EMAIL.fullmatch(value):
        return hint
    domain = value.rsplit("@", 1)[1].lower()
    if domain.endswith(".") or _labels_problem(domain) or "." not in domain:
        return hint
    return None


def field_value_problem(value, *, format: str | None, allowed_hosts=(), in_url: bool = False,
                        suffix: str = "") -> str | None:  # fmt: skip
    """Return what a person must change in a typed value, or None when it is acceptable.

    `format` is the field's (None: text); `in_url` says a text value goes into a URL's path or
    query; `suffix` is the fixed host part after a subdomain (".zendesk.com"), for the hint.
    """
    if format not in FORMATS + (None,):
        raise ValueError(f"unknown field format {format!r}")
    value = "" if value is None else str(value)
    if format == "subdomain":
        return _subdomain_problem(value, suffix)
    if format == "hostname":
        return _hostname_problem(value, allowed_hosts)
    if format == "url":
        return _url_problem(value)
    if format == "email":
        return _email_problem(value)
    if _CONTROL.search(value):
        return "Remove the line breaks and control characters."
    return _url_safety_problem(value) if in_url and value else None


def path_problem(value: str) -> str | None:
    """Return why an operator-typed request path (a Custom REST API's test path) is refused."""
    hint = "Type a path that starts with /, e.g. /v1/me, not a full address."
    if not isinstance(value, str) or not value.startswith("/") or value.startswith("//"):
        return hint
    if "://" in value or "\\" in value or "#" in value or "@" in value.split("?", 1)[0]:
        return hint
    if not value.isascii() or any(char.isspace() for char in value) or _CONTROL.search(value):
        return "Remove the spaces and non-ASCII characters from the path."
    segments = value.split("?", 1)[0].split("/")
    if any(segment in (".", "..") for segment in segments) or re.search(
        r"%2e|%2f|%5c", value, re.IGNORECASE
    ):
        return "Remove . and .. (and their escapes) from the path."
    return None


# Templates.


def _formats(fields) -> dict:
    """Return {field key: format or None} from a spec's fields list (or a ready dict)."""
    if isinstance(fields, dict):
        return dict(fields)
    return {field["key"]: field.get("format") for field in fields or () if isinstance(field, dict)}


class _Shape:
    """Where each placeholder of a template sits: host labels, whole host, URL start or path."""

    def __init__(self):
        self.kind = "fixed"  # or "url" (an operator's URL starts it) or "sandbox"
        self.scheme = ""
        self.start = None  # the placeholder starting a "url"/"sandbox" template
        self.labels: list[tuple[bool, str]] = []  # (is placeholder, name or literal label)
        self.host_field = None  # the placeholder standing for the whole host
        self.port = None
        self.roles: dict[str, set] = {}

    def add(self, name: str, role: str) -> None:
        self.roles.setdefault(name, set()).add(role)


def _field_hint(name: str, formats: dict, wanted: str) -> str:
    current = formats.get(name)
    state = "has no format" if current is None else f"has format {current}"
    return f"{{{name}}} in the host needs a field of format {wanted}; field {name} {state}"


def _shape(template: str, formats: dict, allowed_hosts) -> _Shape:
    """Return the template's shape, or raise UnsafeUrl saying why it is not acceptable."""
    if not isinstance(template, str) or not template:
        raise UnsafeUrl("not a URL")
    names = template_names(template)  # TemplateError for a malformed template
    for name in names:
        if name != SANDBOX_PLACEHOLDER and name not in formats:
            raise UnsafeUrl(f"{{{name}}} is not a field of this app", field=name)
    shape = _Shape()
    skeleton = template
    for index, name in enumerate(names):
        skeleton = skeleton.replace("{" + name + "}", f"\x01{index}\x02", 1)
    if skeleton.startswith("\x01"):
        mark = _MARK.match(skeleton)
        first = names[int(mark.group(1))]
        rest = skeleton[mark.end() :]
        if first == SANDBOX_PLACEHOLDER:
            shape.kind = "sandbox"
        elif formats.get(first) == "url":
            shape.kind = "url"
        else:
            current = formats.get(first)
            state = "has no format" if current is None else f"has format {current}"
            raise UnsafeUrl(
                f"a URL may start with a placeholder only from a field of format url; "
                f"field {first} {state}",
                field=first,
            )
        if rest and not rest.startswith(("/", "\x01")):
            raise UnsafeUrl(f"{{{first}}} must be followed by a path (/…)", field=first)
        shape.start = first
        path = rest
    else:
        scheme = _SCHEME.match(skeleton)
        if scheme is None or scheme.group(1).lower() not in ("http", "https"):
            raise UnsafeUrl("must start with https:// (the scheme is fixed by the template)")
        shape.scheme = scheme.group(1).lower()
        rest = skeleton[scheme.end() :]
        end = min([rest.index(char) for char in "/?#" if char in rest] + [len(rest)])
        authority, path = rest[:end], rest[end:]
        _read_authority(shape, authority, names, formats, allowed_hosts)
    for mark in _MARK.finditer(path):
        name = names[int(mark.group(1))]
        if formats.get(name) in ("url", "email"):
            message = f"a field of format {formats[name]} cannot go into a URL's path ({{{name}}})"
            raise UnsafeUrl(message, field=name)
        # In the query a value must not add parameters either (&, =).
        shape.add(name, "query" if "?" in path[: mark.start()] else "path")
    return shape


def _read_authority(shape: _Shape, authority: str, names, formats, allowed_hosts) -> None:
    if "@" in authority:
        raise UnsafeUrl("no user name or password in a URL template")
    if not authority or any(char.isspace() or char == "\\" for char in authority):
        raise UnsafeUrl("not a URL")
    host, port = authority, None
    if authority.startswith("["):
        host, _, after = authority.partition("]")
        host += "]"
        if after:
            port = after[1:] if after.startswith(":") else "x"
        if "\x01" in host:
            raise UnsafeUrl("a placeholder cannot stand in an IP address")
    elif ":" in authority:
        host, port = authority.rsplit(":", 1)
    if port is not None and not port.isdigit():
        raise UnsafeUrl("the port must be written out in the template")
    shape.port = port
    whole = _MARK.fullmatch(host)
    if whole:
        name = names[int(whole.group(1))]
        if formats.get(name) != "hostname":
            message = _field_hint(name, formats, "hostname") + " (for a whole host)"
            raise UnsafeUrl(message, field=name)
        problem = allowed_hosts_problem(list(allowed_hosts or ()))
        if problem:
            raise UnsafeUrl(f"{{{name}}} is a whole host, so allowed_hosts {problem}", field=name)
        shape.host_field = name
        shape.add(name, "host")
        return
    if host.startswith("["):
        shape.labels = [(False, host.lower())]
        return
    seen_fixed = False
    for label in host.split("."):
        mark = _MARK.fullmatch(label)
        if mark:
            name = names[int(mark.group(1))]
            if seen_fixed:
                raise UnsafeUrl(
                    f"{{{name}}} must come before the fixed part of the host", field=name
                )
            if formats.get(name) != "subdomain":
                raise UnsafeUrl(_field_hint(name, formats, "subdomain"), field=name)
            shape.labels.append((True, name))
            shape.add(name, "label")
            continue
        if "\x01" in label:
            name = names[int(_MARK.search(label).group(1))]
            raise UnsafeUrl(f"{{{name}}} must be a whole DNS label of the host", field=name)
        if not _LABEL.fullmatch(label.lower()):
            raise UnsafeUrl("the host is not a valid host name")
        seen_fixed = True
        shape.labels.append((False, label.lower()))
    fixed = [label for placeholder, label in shape.labels if not placeholder]
    if len(fixed) < len(shape.labels) and len(fixed) < 2:
        message = "after the placeholders, the host must end in a fixed domain, e.g. .zendesk.com"
        raise UnsafeUrl(message)


def template_problem(template: str, *, fields, allowed_hosts=()) -> str | None:
    """Return why a URL template does not fix its scheme and host, or None (for --check)."""
    try:
        _shape(template, _formats(fields), allowed_hosts)
    except TemplateError as error:
        return error.errors[0]
    return None


def host_suffix(template: str, *, fields) -> str:
    """Return the fixed host part after the placeholders (".zendesk.com"), for hints."""
    try:
        shape = _shape(template, _formats(fields), ())
    except TemplateError:
        return ""
    fixed = [label for placeholder, label in shape.labels if not placeholder]
    return "." + ".".join(fixed) if fixed and len(fixed) < len(shape.labels) else ""


def typed_test_path(spec: dict) -> str | None:
    """Return the field whose value is the whole test path (the Custom REST API's `{test_path}`).

    Such a value is a path below the base URL, checked by `path_problem`, never a template.
    """
    path = (spec.get("test") or {}).get("path")
    if not isinstance(path, str):
        return None
    names = template_names(path)
    return names[0] if len(names) == 1 and path == "{" + names[0] + "}" else None


def spec_url_templates(spec: dict):
    """Yield (path, template) for every URL of a spec that is requested on a tenant's behalf."""
    for keys in URL_KEYS:
        value = spec
        for key in keys:
            value = value.get(key) if isinstance(value, dict) else None
        if isinstance(value, str):
            yield ".".join(keys), value
    path = (spec.get("test") or {}).get("path")
    base = spec.get("base_url")
    if isinstance(path, str):
        if path.startswith(("http://", "https://")):
            yield "test.path", path
        elif isinstance(base, str):
            yield "test.path", base.rstrip("/") + "/" + path.lstrip("/")


def spec_host_problems(spec: dict) -> list[str]:
    """Return "field.path: message" lines for each URL template breaking the host rules."""
    allowed_hosts = spec.get("allowed_hosts") or ()
    problems = []
    if spec.get("allowed_hosts") is not None:
        problem = allowed_hosts_problem(spec.get("allowed_hosts"))
        if problem:
            problems.append(f"allowed_hosts: {problem}")
    for path, template in spec_url_templates(spec):
        fields = spec_fields(spec, path=path)
        problem = template_problem(template, fields=fields, allowed_hosts=allowed_hosts)
        if problem:
            problems.append(f"{path}: {problem}")
    return problems


def render_url(template: str, values: dict, *, fields, allowed_hosts=()) -> str:
    """Render a URL template whose result keeps the template's scheme and fixed host, or raise.

    Raises UnsafeUrl (a TemplateError naming the field, never quoting its value) when the
    template or a value breaks the host rules, TemplateError when a value is missing.
    """
    formats = _formats(fields)
    shape = _shape(template, formats, allowed_hosts)
    suffix = "." + ".".join(label for placeholder, label in shape.labels if not placeholder)
    clean = {}
    for name, roles in shape.roles.items():
        value = values.get(name)
        if value is None or value == "":
            raise TemplateError(f"missing value for {{{name}}}")
        value = str(value)
        for role in roles:
            if role == "label":
                problem = field_value_problem(value, format="subdomain", suffix=suffix)
            elif role == "host":
                problem = field_value_problem(value, format="hostname", allowed_hosts=allowed_hosts)
            elif shape.kind == "url":
                # The operator's own URL: _verify holds its host; outbound checks the address.
                problem = (
                    _CONTROL.search(value) and "Remove the line breaks and control characters."
                )
            else:
                problem = field_value_problem(value, format=formats.get(name), in_url=True)
                if formats.get(name) in ("subdomain", "hostname"):
                    problem = problem or _url_safety_problem(value)
                if role == "query" and not problem and set(value) & set("&=;+"):
                    problem = "Remove the characters & = ; and + from this value."
            if problem:
                raise UnsafeUrl(f"{{{name}}}: {problem}", field=name)
        clean[name] = value.lower() if roles & {"label", "host"} else value
    if shape.start is not None:
        start = values.get(shape.start)
        problem = field_value_problem(start, format="url")
        if problem:
            raise UnsafeUrl(f"{{{shape.start}}}: {problem}", field=shape.start)
        clean[shape.start] = str(start).rstrip("/")
    rendered = render_template(template, {**values, **clean})
    _verify(rendered, shape, clean)
    return rendered


def _verify(rendered: str, shape: _Shape, clean: dict) -> None:
    """Re-read the rendered URL: its scheme and host must be exactly what the template fixed."""
    refused = UnsafeUrl("the rendered address does not keep the app's host")
    if any(char.isspace() or char == "\\" for char in rendered) or _CONTROL.search(rendered):
        raise refused
    try:
        parts = urlsplit(rendered)
    except ValueError:
        raise refused from None
    if shape.start is not None:
        base = urlsplit(clean[shape.start])
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise refused
        return
    if shape.host_field is not None:
        host = clean[shape.host_field]
    else:
        host = ".".join(
            clean[label] if placeholder else label for placeholder, label in shape.labels
        )
    netloc = host if shape.port is None else f"{host}:{shape.port}"
    if parts.scheme != shape.scheme or parts.netloc.lower() != netloc:
        raise refused
