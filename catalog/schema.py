"""The provider spec: one source of truth for provider files, sync_catalog and the admin form.

`APP_SCHEMA` (JSON Schema) checks shapes and types; `validate_app` adds the cross-field rules
JSON Schema cannot express (the block for the auth mode, https URLs, placeholders naming
declared fields, unique field keys). Errors read "field.path: message". Rendering the
templates at run time is catalog/templating.py's job.
"""

import ipaddress
import re
from pathlib import Path
from urllib.parse import urlsplit

import yaml
from jsonschema import Draft202012Validator

from .choices import AuthMode, Category
from .hosts import FORMATS, field_value_problem, spec_fields, spec_host_problems
from .templating import KEY_PATTERN, TemplateError, template_names

PROVIDERS_DIR = Path(__file__).resolve().parent / "providers"
SANDBOX_PLACEHOLDER = "sandbox"
SLUG_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
AUTH_BLOCKS = {
    AuthMode.OAUTH2: "oauth2",
    AuthMode.OAUTH1: "oauth1",
    AuthMode.API_KEY: "apply",
    AuthMode.BASIC: "basic",
    AuthMode.CUSTOM: None,
    AuthMode.OAUTH2_CLIENT_CREDENTIALS: "client_credentials",
}
# Auth modes whose apps are linked through the platform's registered OAuth client.
OAUTH_CLIENT_MODES = frozenset({AuthMode.OAUTH2, AuthMode.OAUTH1})


def uses_oauth_client(auth_mode: str) -> bool:
    """Return whether apps of this auth mode are linked through a registered OAuth client."""
    return auth_mode in OAUTH_CLIENT_MODES
BLOCK_MODES = {"oauth2": {"oauth2"}, "oauth1": {"oauth1"}, "apply": {"api_key", "custom"}, "basic": {"basic"},
    "client_credentials": {"oauth2_client_credentials"},
}

_string_map = {"type": "object", "additionalProperties": {"type": "string"}}
_DOTTED = r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"
_url = {"type": "string", "minLength": 1, "maxLength": 500}
_scope_list = {"type": "array", "items": {"type": "string", "minLength": 1}, "uniqueItems": True}
# How a provider withdraws a grant (catalog/SPEC.md, "oauth2.revoke"; connections/auth/revoke.py).
REVOKE_STYLES = ("rfc7009", "json", "bearer", "delete", "query")
GRANT_TOKENS = ("refresh_token", "access_token")
# Where a captured value comes from: the token answer, the callback's query, the lookup's answer.
CAPTURE_SOURCES = ("token", "callback", "lookup")
# apply.path_prefix: one path segment of unreserved characters (no ".", "..", "/", "?", "#", "%").
PATH_PREFIX_TEMPLATE = r"^/(?!\.)[A-Za-z0-9_~:{}.-]+$"

APP_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["slug", "name", "category", "auth", "base_url", "test"],
    "additionalProperties": False,
    "properties": {
        "slug": {"type": "string", "pattern": SLUG_PATTERN, "maxLength": 64},
        "name": {"type": "string", "minLength": 1, "maxLength": 120},
        "category": {"enum": list(Category.values)},
        "description": {"type": "string"},
        "docs_url": _url,
        # The provider's documentation page the endpoints of this entry were checked against.
        "reference": _url,
        "icon": {"type": "string", "pattern": r"^[a-z0-9_]+$", "maxLength": 64},  # simpleicons.org
        "auth": {"enum": list(AuthMode.values)},
        "base_url": _url,
        # Static headers sent with every request to the app (e.g. an API version header).
        "headers": _string_map,
        "fields": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "label"],
                "additionalProperties": False,
                "properties": {
                    "key": {"type": "string", "pattern": KEY_PATTERN, "maxLength": 64},
                    "label": {"type": "string", "minLength": 1},
                    "secret": {"type": "boolean"},
                    "required": {"type": "boolean"},
                    "help": {"type": "string"},
                    "placeholder": {"type": "string"},
                    "default": {"type": "string"},
                    # What the value is (catalog/hosts.py): a host template's fields must say.
                    "format": {"enum": list(FORMATS)},
                    # The only values accepted, offered as a choice (regions).
                    "enum": {
                        "type": "array",
                        "minItems": 1,
                        "items": {
                            "type": "object",
                            "required": ["value", "label"],
                            "additionalProperties": False,
                            "properties": {
                                "value": {"type": "string", "minLength": 1},
                                "label": {"type": "string", "minLength": 1},
                                # Host names this choice sets, for templates (Intercom's
                                # app and API hosts per region); format hostname.
                                "hosts": {
                                    "type": "object",
                                    "propertyNames": {"pattern": KEY_PATTERN},
                                    "additionalProperties": {"type": "string", "minLength": 1},
                                },
                            },
                        },
                    },
                    # A regular expression the whole typed value must match.
                    "pattern": {"type": "string", "minLength": 1, "maxLength": 200},
                    # A value of the right shape, shown as the placeholder ("e.g. …").
                    "example": {"type": "string"},
                    # The field may be left empty (the same as required: false).
                    "optional": {"type": "boolean"},
                },
            },
        },
        # Host names a field of format `hostname` may hold ("*.my.salesforce.com").
        "allowed_hosts": {
            "type": "array",
            "items": {"type": "string", "minLength": 1, "maxLength": 253},
            "uniqueItems": True,
        },
        "oauth2": {
            "type": "object",
            "required": ["authorize_url", "token_url", "scopes"],
            "additionalProperties": False,
            "properties": {
                "authorize_url": _url,
                "token_url": _url,
                # Where a refresh goes when the provider does not take it at token_url (Figma's
                # /v1/oauth/refresh); token_url when absent.
                "refresh_url": _url,
                "revoke_url": {"anyOf": [_url, {"type": "null"}]},
                "revoke": {
                    "type": "object",
                    "required": ["style", "url"],
                    "additionalProperties": False,
                    "properties": {
                        "style": {"enum": list(REVOKE_STYLES)},
                        "url": _url,
                        # The HTTP method of a `bearer` request (Smartsheet: DELETE /2.0/token).
                        "method": {"enum": ["POST", "DELETE"]},
                        # The JSON key of the token in a `json` request (Miro: accessToken).
                        "token_key": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$"},
                        "tokens": {
                            "type": "array",
                            "items": {"enum": list(GRANT_TOKENS)},
                            "minItems": 1,
                            "uniqueItems": True,
                        },
                        "client_auth": {"enum": ["body", "basic", "none"]},
                        "body": _string_map,
                    },
                },
                # False where a new consent returns the same grant for the same user and client
                # (Google): revoking the superseded token would kill the new one too, and the
                # provider keeps one live grant per user and client.
                "revoke_superseded": {"type": "boolean"},
                "scopes": _scope_list,
                "optional_scopes": _scope_list,
                "scope_separator": {"type": "string", "minLength": 1, "maxLength": 3},
                "pkce": {"type": "boolean"},
                "client_auth": {"enum": ["body", "basic"]},
                "authorize_params": _string_map,
                "token_params": _string_map,
                # Extra body parameters of a refresh request (Zendesk's expires_in).
                "refresh_params": _string_map,
                # Extra headers of the token and refresh requests.
                "token_headers": _string_map,
                # How the token and refresh requests carry their parameters.
                "token_body": {"enum": ["form", "json"]},
                # Dotted path to the object of the token answer that holds the access token
                # (Slack user tokens: authed_user).
                "token_path": {"type": "string", "pattern": _DOTTED},
                # The authorize parameter that carries the scopes (Slack user tokens: user_scope).
                "scope_param": {"type": "string", "pattern": r"^[A-Za-z0-9_]+$"},
                # RFC 9207: the authorization server's issuer, compared with `iss` on the callback.
                "issuer": _url,
                # Header carrying the raw access token instead of "Authorization: Bearer …".
                "access_token_header": {"type": "string", "pattern": r"^[A-Za-z0-9-]+$"},
                # The status the app answers for an expired access token when it is not 401.
                "expired_status": {"type": "integer", "minimum": 400, "maximum": 499},
            },
        },
        "oauth1": {
            "type": "object",
            "required": ["request_token_url", "authorize_url", "access_token_url"],
            "additionalProperties": False,
            "properties": {
                "request_token_url": _url,
                "authorize_url": _url,
                "access_token_url": _url,
                "signature_method": {"enum": ["HMAC-SHA1"]},
                "authorize_params": _string_map,
            },
        },
        # OAuth 2.0 client credentials (RFC 6749 §4.4): the operator types the client id and
        # secret (fields client_id and client_secret); the token is fetched at link time and
        # fetched again before it expires.
        "client_credentials": {
            "type": "object",
            "required": ["token_url"],
            "additionalProperties": False,
            "properties": {
                "token_url": _url,
                # Zoom's Server-to-Server OAuth says account_credentials.
                "grant_type": {"type": "string", "pattern": r"^[a-z_]+$", "maxLength": 64},
                "scopes": _scope_list,
                "optional_scopes": _scope_list,
                "scope_separator": {"type": "string", "minLength": 1, "maxLength": 3},
                "client_auth": {"enum": ["body", "basic"]},
                "token_params": _string_map,
                "access_token_header": {"type": "string", "pattern": r"^[A-Za-z0-9-]+$"},
            },
        },
        "apply": {
            "type": "object",
            "additionalProperties": False,
            "minProperties": 1,
            "properties": {
                "headers": _string_map,
                "query": _string_map,
                # Telegram's Bot API: /bot{bot_token} in front of every request path, added at
                # send time only (connections/auth/keys.py); one path segment, nothing to escape.
                "path_prefix": {"type": "string", "pattern": PATH_PREFIX_TEMPLATE, "maxLength": 200},
            },
        },
        "basic": {
            "type": "object",
            "required": ["username", "password"],
            "additionalProperties": False,
            "properties": {"username": {"type": "string"}, "password": {"type": "string"}},
        },
        "test": {
            "type": "object",
            "required": ["method", "path"],
            "additionalProperties": False,
            "properties": {
                "method": {"enum": ["GET", "POST", "HEAD"]},
                "path": {"type": "string", "minLength": 1},
                "account": {"type": "string", "pattern": r"^([A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*)?$"},
                "headers": _string_map,
                "body": {},
                # Values the JSON answer must hold for the credentials to count as accepted,
                # for apps that answer 200 to a refusal (Slack's {"ok": false}).
                "expect": {
                    "type": "object",
                    "propertyNames": {"pattern": r"^[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)*$"},
                    "additionalProperties": {"type": ["string", "number", "boolean"]},
                },
            },
        },
        # Values the app reports after the token, kept in the connection's config (SPEC.md).
        "captures": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "label", "from", "path"],
                "additionalProperties": False,
                "properties": {
                    "key": {"type": "string", "pattern": KEY_PATTERN, "maxLength": 64},
                    "label": {"type": "string", "minLength": 1},
                    "from": {"enum": list(CAPTURE_SOURCES)},
                    "path": {"type": "string", "pattern": _DOTTED},
                    "format": {"enum": ["subdomain", "hostname", "url", "text"]},
                    "optional": {"type": "boolean"},
                },
            },
        },
        # One request sent with the fresh token before the test; captures `from: lookup` read it.
        "lookup": {
            "type": "object",
            "required": ["url"],
            "additionalProperties": False,
            "properties": {"method": {"enum": ["GET", "POST"]}, "url": _url, "headers": _string_map},
        },
        "setup_steps": {"type": "string"},
    },
}

_validator = Draft202012Validator(APP_SCHEMA)


class CatalogError(Exception):
    """A provider spec or file is invalid; `errors` holds one line per problem."""

    def __init__(self, errors):
        self.errors = [errors] if isinstance(errors, str) else list(errors)
        super().__init__("\n".join(self.errors))


def _path(parts) -> str:
    return ".".join(str(p) for p in parts)


def _schema_message(error) -> tuple[str, str]:
    """Return (path, short message) for one jsonschema error."""
    path = list(error.absolute_path)
    v = error.validator
    if v == "required":
        missing = re.match(r"'([^']+)'", error.message)
        return _path(path + [missing.group(1) if missing else "?"]), "required"
    if v == "additionalProperties":
        extra = re.findall(r"'([^']+)'", error.message.split("(")[-1])
        return _path(path + [extra[0] if extra else "?"]), "unknown field"
    if v == "enum":
        choices = ", ".join(str(c) for c in error.validator_value)
        return _path(path), f"must be one of: {choices}"
    if v == "type":
        wanted = error.validator_value
        wanted = " or ".join(wanted) if isinstance(wanted, list) else wanted
        article = "an" if str(wanted)[:1] in "aeiou" else "a"
        return _path(path), f"must be {article} {wanted}"
    if v == "pattern":
        return _path(path), f"must match {error.validator_value}"
    if v == "minLength":
        return _path(path), "must not be empty"
    if v == "maxLength":
        return _path(path), f"longer than {error.validator_value} characters"
    if v == "uniqueItems":
        return _path(path), "has duplicate items"
    if v == "minProperties":
        return _path(path), "must not be empty"
    if v == "anyOf":
        return _path(path), "must be a URL or null"
    return _path(path), error.message


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def url_problem(template: str, field_keys: set) -> str | None:
    """Return why a URL template is not acceptable, or None.

    https is required; plain http only for loopback hosts or the `{sandbox}` placeholder.
    A URL that starts with a declared field (the custom app's `{base_url}`) is the operator's
    to type and is checked when the connection is made.
    """
    if template.startswith("{"):
        names = template_names(template)
        first = names[0] if names else ""
        if first == SANDBOX_PLACEHOLDER or first in field_keys:
            return None
        return "not a URL"
    sample = re.sub(r"\{[^{}]*\}", "x", template)
    try:
        parts = urlsplit(sample)
        host = parts.hostname or ""
    except ValueError:
        return "not a URL"
    if parts.scheme not in ("http", "https") or not host or " " in sample:
        return "not a URL"
    if parts.scheme == "http" and not _is_loopback(host):
        return "must use https (plain http only for localhost, 127.0.0.1 or [::1])"
    return None


def _url_templates(spec: dict):
    """Yield (path, template) for every URL of the spec."""
    for key in ("docs_url", "reference", "base_url"):
        if isinstance(spec.get(key), str):
            yield key, spec[key]
    for block, keys in (
        ("oauth2", ("authorize_url", "token_url", "refresh_url", "revoke_url")),
        ("oauth1", ("request_token_url", "authorize_url", "access_token_url")),
        ("client_credentials", ("token_url",)),
    ):
        for key in keys:
            value = (spec.get(block) or {}).get(key)
            if isinstance(value, str):
                yield f"{block}.{key}", value
    revoke = (spec.get("oauth2") or {}).get("revoke") or {}
    if isinstance(revoke.get("url"), str):
        yield "oauth2.revoke.url", revoke["url"]
    lookup_url = (spec.get("lookup") or {}).get("url")
    if isinstance(lookup_url, str):
        yield "lookup.url", lookup_url
    path = (spec.get("test") or {}).get("path")
    if isinstance(path, str) and not path.startswith("/") and not path.startswith("{"):
        yield "test.path", path


def _templates(spec: dict):
    """Yield (path, template) for every string that may hold `{placeholders}`."""
    yield from _url_templates(spec)
    path = (spec.get("test") or {}).get("path")
    if isinstance(path, str) and (path.startswith("/") or path.startswith("{")):
        yield "test.path", path
    for key, value in (spec.get("headers") or {}).items():
        yield f"headers.{key}", value
    for key, value in ((spec.get("test") or {}).get("headers") or {}).items():
        yield f"test.headers.{key}", value
    for part in ("headers", "query"):
        for key, value in ((spec.get("apply") or {}).get(part) or {}).items():
            yield f"apply.{part}.{key}", value
    if isinstance((spec.get("apply") or {}).get("path_prefix"), str):
        yield "apply.path_prefix", spec["apply"]["path_prefix"]
    for key in ("username", "password"):
        value = (spec.get("basic") or {}).get(key)
        if value is not None:
            yield f"basic.{key}", value
    for block in ("oauth2", "oauth1"):
        for key, value in ((spec.get(block) or {}).get("authorize_params") or {}).items():
            yield f"{block}.authorize_params.{key}", value
    for key, value in ((spec.get("client_credentials") or {}).get("token_params") or {}).items():
        yield f"client_credentials.token_params.{key}", value
    for part in ("token_params", "refresh_params", "token_headers"):
        for key, value in ((spec.get("oauth2") or {}).get(part) or {}).items():
            yield f"oauth2.{part}.{key}", value
    for key, value in (((spec.get("oauth2") or {}).get("revoke") or {}).get("body") or {}).items():
        yield f"oauth2.revoke.body.{key}", value
    for key, value in ((spec.get("lookup") or {}).get("headers") or {}).items():
        yield f"lookup.headers.{key}", value


def validate_app(spec) -> list[str]:
    """Return the problems of one app spec as "field.path: message" lines (empty when valid)."""
    if not isinstance(spec, dict):
        return ["app: must be a mapping"]
    errors = []
    for error in sorted(_validator.iter_errors(spec), key=lambda e: list(map(str, e.absolute_path))):
        path, message = _schema_message(error)
        errors.append(f"{path or 'app'}: {message}")
    if errors:
        return errors

    fields = spec.get("fields") or []
    keys = [f["key"] for f in fields]
    seen = set()
    for i, key in enumerate(keys):
        if key in seen:
            errors.append(f"fields.{i}.key: duplicate key '{key}'")
        seen.add(key)
        if key == SANDBOX_PLACEHOLDER:
            errors.append(f"fields.{i}.key: '{key}' is reserved")
    field_keys = set(keys)
    secret_keys = {f["key"] for f in fields if f.get("secret")}

    auth = spec["auth"]
    needed = AUTH_BLOCKS[auth]
    if needed and needed not in spec:
        errors.append(f"{needed}: required for auth {auth}")
    for block, modes in BLOCK_MODES.items():
        if block in spec and auth not in modes:
            errors.append(f"{block}: not used by auth {auth}")
    if auth == AuthMode.CUSTOM and "base_url" not in field_keys:
        errors.append("fields: auth custom needs a field with key 'base_url'")
    if auth in (AuthMode.API_KEY,) and not secret_keys:
        errors.append("fields: auth api_key needs a secret field")
    if auth == AuthMode.OAUTH2_CLIENT_CREDENTIALS:
        if "client_id" not in field_keys:
            errors.append("fields: auth oauth2_client_credentials needs a field with key 'client_id'")
        if "client_secret" not in secret_keys:
            errors.append("fields: auth oauth2_client_credentials needs a secret field 'client_secret'")

    url_paths = set()
    for path, template in _url_templates(spec):
        url_paths.add(path)
        try:
            problem = url_problem(template, field_keys)
        except TemplateError as exc:
            problem = str(exc)
        if problem:
            errors.append(f"{path}: {problem}")
    for path, template in _templates(spec):
        try:
            names = template_names(template)
        except TemplateError as exc:
            errors.append(f"{path}: {exc}")
            continue
        known = {field["key"] for field in spec_fields(spec, path=path)} | {SANDBOX_PLACEHOLDER}
        for name in names:
            if name not in known:
                errors.append(f"{path}: {{{name}}} is not a declared field")
            elif path in url_paths and name in secret_keys:
                errors.append(f"{path}: secret field {{{name}}} must not appear in a URL")

    if not errors:
        # Where a placeholder stands in a host, and with which field formats (catalog/hosts.py).
        errors.extend(spec_host_problems(spec))
    test_path = spec["test"]["path"]
    if not (test_path.startswith("/") or test_path.startswith("{") or "://" in test_path):
        errors.append("test.path: must start with / or be an absolute URL")
    block = "oauth2" if "oauth2" in spec else "client_credentials"
    oauth2 = spec.get(block) or {}
    errors.extend(_revoke_problems(oauth2))
    errors.extend(_capture_problems(spec, field_keys))
    errors.extend(_field_problems(spec))
    errors.extend(_path_prefix_problems(spec))
    overlap = set(oauth2.get("scopes") or []) & set(oauth2.get("optional_scopes") or [])
    if overlap:
        errors.append(f"{block}.optional_scopes: already default scopes: {', '.join(sorted(overlap))}")
    return errors


def _revoke_problems(oauth2: dict) -> list[str]:
    """Return the cross-field problems of an oauth2 `revoke` block."""
    revoke = oauth2.get("revoke")
    if not revoke:
        return []
    problems = []
    if oauth2.get("revoke_url"):
        problems.append("oauth2.revoke: give either revoke_url (RFC 7009) or a revoke block, not both")
    style = revoke["style"]
    if style in ("bearer", "delete") and "tokens" in revoke:
        problems.append(f"oauth2.revoke.tokens: style {style} sends one request; its url names the token")
    if style not in ("json", "delete") and "body" in revoke:
        problems.append(f"oauth2.revoke.body: style {style} sends no JSON body")
    if style != "json" and "token_key" in revoke:
        problems.append(f"oauth2.revoke.token_key: only style json names its token key; {style} fixes its own")
    if style != "bearer" and "method" in revoke:
        problems.append(f"oauth2.revoke.method: only style bearer takes a method; {style} fixes its own")
    return problems


def _path_prefix_problems(spec: dict) -> list[str]:
    """Return the problems of `apply.path_prefix`: every field it names must declare a `pattern`
    (checked when typed; the session checks the rendered prefix again, connections/auth/keys.py)."""
    prefix = (spec.get("apply") or {}).get("path_prefix")
    if not isinstance(prefix, str):
        return []
    try:
        names = template_names(prefix)
    except TemplateError:
        return []  # reported with the other templates
    fields = {field["key"]: field for field in spec.get("fields") or []}
    problems = []
    if ".." in prefix:
        problems.append("apply.path_prefix: no '..'")
    if not names:
        problems.append("apply.path_prefix: names no field; put a fixed path in base_url")
    for name in names:
        if name in fields and not fields[name].get("pattern"):
            problems.append(f"apply.path_prefix: field {{{name}}} needs a `pattern` that keeps it in one path segment")
    return problems


def _field_problems(spec: dict) -> list[str]:
    """Return the cross-key problems of the fields' enum, pattern, example, default, optional."""
    problems = []
    allowed_hosts = spec.get("allowed_hosts") or ()
    taken = {f["key"] for f in spec.get("fields") or []} | {c["key"] for c in spec.get("captures") or []}
    for i, field in enumerate(spec.get("fields") or []):
        where = f"fields.{i}"
        if field.get("optional") and field.get("required"):
            problems.append(f"{where}.optional: contradicts required: true")
        if field.get("secret") and "enum" in field:
            problems.append(f"{where}.enum: a secret field offers no choices")
        pattern = None
        if "pattern" in field:
            try:
                pattern = re.compile(field["pattern"])
            except re.error as exc:
                problems.append(f"{where}.pattern: not a regular expression ({exc.msg})")
        values = [option["value"] for option in field.get("enum") or []]
        if len(set(values)) != len(values):
            problems.append(f"{where}.enum: has duplicate values")
        for j, value in enumerate(values):
            problem = field.get("format") and field_value_problem(
                value, format=field["format"], allowed_hosts=allowed_hosts
            )
            if problem:
                problems.append(f"{where}.enum.{j}.value: {problem}")
        host_keys = [sorted((option.get("hosts") or {})) for option in field.get("enum") or []]
        if any(keys != host_keys[0] for keys in host_keys):
            problems.append(f"{where}.enum: every choice must set the same hosts")
        for j, option in enumerate(field.get("enum") or []):
            for key, host in (option.get("hosts") or {}).items():
                if key in taken:
                    problems.append(f"{where}.enum.{j}.hosts.{key}: already a field or a capture")
                problem = field_value_problem(host, format="hostname", allowed_hosts=allowed_hosts)
                if problem:
                    problems.append(f"{where}.enum.{j}.hosts.{key}: {problem}")
        for key in ("default", "example"):
            value = field.get(key)
            if value is None:
                continue
            if values and key == "default" and value not in values:
                problems.append(f"{where}.default: not one of the enum values")
            if pattern is not None and not pattern.fullmatch(value):
                problems.append(f"{where}.{key}: does not match the pattern")
    return problems


def _capture_problems(spec: dict, field_keys: set) -> list[str]:
    """Return the cross-field problems of `captures` and `lookup`."""
    captures = spec.get("captures") or []
    problems = []
    if (captures or "lookup" in spec) and spec["auth"] != AuthMode.OAUTH2:
        problems.append("captures: only OAuth2 apps report values after the token")
    fields = {field["key"]: field for field in spec.get("fields") or []}
    seen = set()
    for i, capture in enumerate(captures):
        key = capture["key"]
        replaces = fields.get(key)
        if replaces is not None and capture["from"] == "callback":
            # The callback names a choice of this field (Zoho's accounts-server): only a listed one.
            options = replaces.get("enum") or []
            if not options:
                problems.append(f"captures.{i}.key: a callback capture may replace only an enum field")
            elif capture.get("format", "text") != replaces.get("format", "text"):
                problems.append(f"captures.{i}.format: not the format of the field it replaces")
        elif key in field_keys or key == SANDBOX_PLACEHOLDER:
            problems.append(f"captures.{i}.key: '{key}' is already a field or a capture")
        if key in seen:
            problems.append(f"captures.{i}.key: '{key}' is already a field or a capture")
        seen.add(key)
        if capture["from"] == "lookup" and "lookup" not in spec:
            problems.append(f"captures.{i}.from: lookup needs a lookup block")
    if "lookup" in spec and not any(c["from"] == "lookup" for c in captures):
        problems.append("lookup: no capture reads it (from: lookup)")
    return problems


def normalize_app(spec: dict) -> dict:
    """Return a copy of a valid spec with every optional key at its default."""
    spec = dict(spec)
    spec.setdefault("description", "")
    spec.setdefault("docs_url", "")
    spec.setdefault("setup_steps", "")
    spec.setdefault("headers", {})
    spec["fields"] = [
        {"secret": False, "required": not field.get("optional", False), "help": "", **field}
        for field in spec.get("fields") or []
    ]
    if "oauth2" in spec:
        spec["oauth2"] = {
            "revoke_url": None,
            "revoke_superseded": True,
            "optional_scopes": [],
            "scope_separator": " ",
            "pkce": True,
            "client_auth": "body",
            "authorize_params": {},
            "token_params": {},
            "refresh_params": {},
            "token_headers": {},
            "token_body": "form",
            **spec["oauth2"],
        }
    if "client_credentials" in spec:
        spec["client_credentials"] = {
            "grant_type": "client_credentials",
            "scopes": [],
            "optional_scopes": [],
            "scope_separator": " ",
            "client_auth": "body",
            "token_params": {},
            **spec["client_credentials"],
        }
    if "oauth1" in spec:
        spec["oauth1"] = {"signature_method": "HMAC-SHA1", "authorize_params": {}, **spec["oauth1"]}
    if "apply" in spec:
        spec["apply"] = {"headers": {}, "query": {}, **spec["apply"]}
    spec["test"] = {"account": "", **spec["test"]}
    if "captures" in spec:
        spec["captures"] = [{"format": "text", "optional": False, **c} for c in spec["captures"]]
    if "lookup" in spec:
        spec["lookup"] = {"method": "GET", "headers": {}, **spec["lookup"]}
    return spec


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe YAML loader that refuses duplicate keys in a mapping."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def display_path(path) -> str:
    """Return the file's name as people know it: providers/crm.yaml for the shipped files."""
    path = Path(path)
    try:
        return str(path.resolve().relative_to(PROVIDERS_DIR.parent))
    except ValueError:
        return str(path)


def _app_label(spec, index) -> str:
    if isinstance(spec, dict) and isinstance(spec.get("slug"), str):
        return f"app '{spec['slug']}'"
    return f"app #{index + 1}"


def validate_file(path) -> list[dict]:
    """Return the normalized specs of one provider file, or raise CatalogError naming file, app, field."""
    name = display_path(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{name}: cannot read ({exc.strerror})") from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(f"{name}: invalid YAML at{where}: {problem}") from None
    if data is None:
        data = []
    if not isinstance(data, list):
        raise CatalogError(f"{name}: must be a list of apps")
    errors, specs, seen = [], [], {}
    for index, spec in enumerate(data):
        label = _app_label(spec, index)
        problems = validate_app(spec)
        errors.extend(f"{name}: {label}: {problem}" for problem in problems)
        if problems:
            continue
        if spec["slug"] in seen:
            errors.append(f"{name}: {label}: slug: duplicate of app #{seen[spec['slug']] + 1}")
            continue
        seen[spec["slug"]] = index
        specs.append(normalize_app(spec))
    if errors:
        raise CatalogError(errors)
    return specs


def default_files() -> list[Path]:
    """Return the shipped provider files, sorted."""
    return sorted(PROVIDERS_DIR.glob("*.yaml"))


def validate_files(paths) -> list[dict]:
    """Return every spec of the files, or raise CatalogError with every problem of every file."""
    errors, specs, origin = [], [], {}
    for path in paths:
        try:
            file_specs = validate_file(path)
        except CatalogError as exc:
            errors.extend(exc.errors)
            continue
        name = display_path(path)
        for spec in file_specs:
            slug = spec["slug"]
            if slug in origin:
                errors.append(f"{name}: app '{slug}': slug: already defined in {origin[slug]}")
                continue
            origin[slug] = name
            specs.append(spec)
    if errors:
        raise CatalogError(errors)
    return specs
