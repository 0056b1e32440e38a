"""OAuth 2.0 authorization code with PKCE S256, refresh and RFC 7009 revocation (requests-oauthlib)."""

import base64
import hashlib
import json
import logging
import os
import secrets
from datetime import datetime

import requests
from django.core.exceptions import ValidationError
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from catalog.models import App
from vault.services import secret_open, secret_seal

from .. import outbound
from ..errors import ConnectionFailure, sanitize_provider_text
from ..models import ATTEMPT_PURPOSE, ErrorCode
from .base import (
    REQUEST_ERRORS,
    BaseMode,
    allow_loopback_http,
    bind_state,
    http_timeout,
    new_state,
    oauth_client_for,
    render,
    render_url,
    template_values,
    unavailable_from_exception,
    unavailable_from_response,
    value_at,
)
from .captures import callback_values, capture_values
from .revoke import revoke_block, revoke_grant

logger = logging.getLogger(__name__)

EXPIRING_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client"}
# The members of a token answer that describe the token (RFC 6749 section 5.1).
TOKEN_KEYS = ("access_token", "token_type", "expires_in", "refresh_token", "scope")

# The scopes actually granted are stored; a provider granting fewer is not an error.
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class BearerAuth(requests.auth.AuthBase):
    """Put the access token on each request: `Authorization: Bearer …`, or a provider's own header."""

    def __init__(self, token: str, header: str | None = None):
        self.token = token
        self.header = header

    def __call__(self, request):
        if self.header:
            request.headers[self.header] = self.token
        else:
            request.headers["Authorization"] = f"Bearer {self.token}"
        return request


class OAuth2Mode(BaseMode):
    name = "oauth2"
    redirects = True
    needs_client = True
    has_scopes = True
    expiring = True

    def _spec(self, app) -> dict:
        return (app.spec or {}).get("oauth2") or {}

    def _separator(self, app) -> str:
        return self._spec(app).get("scope_separator") or " "

    def _rendered(self, app, key, config) -> str:
        return render_url(app, self._spec(app).get(key), template_values(app, config))

    def _client_auth(self, app, client, client_secret) -> dict:
        """Return fetch_token/refresh_token keyword arguments for the token endpoint's client auth."""
        if self._spec(app).get("client_auth") == "basic":
            return {"auth": requests.auth.HTTPBasicAuth(client.client_id, client_secret)}
        return {"include_client_id": True, "client_secret": client_secret}

    def _oauth_session(self, app, client, *, scopes=None, state=None) -> OAuth2Session:
        scope = self._separator(app).join(scopes) if scopes else None
        oauth = outbound.harden(
            OAuth2Session(client.client_id, redirect_uri=client.redirect_uri, scope=scope, state=state)
        )

        def check_status(response):
            if response.status_code >= 500 or response.status_code == 429:
                raise unavailable_from_response(app, response, "token endpoint")
            return response

        oauth.register_compliance_hook("access_token_response", check_status)
        oauth.register_compliance_hook("refresh_token_response", check_status)
        self._shape_token_exchange(app, oauth)
        return oauth

    def _shape_token_exchange(self, app, oauth) -> None:
        """Give the token and refresh requests the spec's headers and body format, and read the
        token from where the spec's token_path says it sits (catalog/SPEC.md, "Token request")."""
        spec = self._spec(app)
        headers = spec.get("token_headers") or {}
        as_json = spec.get("token_body") == "json"
        token_path = spec.get("token_path") or ""
        values = template_values(app)

        def add_headers(url, request_headers, body_or_kwargs):
            request_headers = dict(request_headers or {})
            request_headers.update({name: render(app, value, values) for name, value in headers.items()})
            return url, request_headers, body_or_kwargs

        def send_as_json(method, url, data=None, headers=None, **kwargs):
            if isinstance(data, dict):
                headers = {**(headers or {}), "Content-Type": "application/json"}
                kwargs["json"], data = data, None
            return plain_request(method, url, data=data, headers=headers, **kwargs)

        def lift_token(response):
            try:
                answer = response.json()
            except ValueError:
                return response
            node = value_at(answer, token_path)
            if isinstance(answer, dict) and isinstance(node, dict) and node.get("access_token"):
                kept = {key: value for key, value in answer.items() if key not in TOKEN_KEYS}
                response._content = json.dumps({**kept, **node}).encode()
            return response

        if headers:
            oauth.register_compliance_hook("access_token_request", add_headers)
            oauth.register_compliance_hook("refresh_token_request", add_headers)
        if as_json:
            plain_request = oauth.request
            oauth.request = send_as_json  # this session only ever calls the token endpoint
        if token_path:
            oauth.register_compliance_hook("access_token_response", lift_token)
            oauth.register_compliance_hook("refresh_token_response", lift_token)

    def start(self, attempt, *, request, secret_values) -> str:
        app = attempt.app
        spec = self._spec(app)
        client, _secret = oauth_client_for(app, tenant_client=attempt.oauth_client)
        authorize_url = self._rendered(app, "authorize_url", attempt.config)
        allow_loopback_http(authorize_url)
        state = new_state()
        scope_param = spec.get("scope_param") or "scope"
        scopes = attempt.scopes if scope_param == "scope" else None
        oauth = self._oauth_session(app, client, scopes=scopes, state=state)
        values = template_values(app, attempt.config)
        extra = {key: render(app, value, values) for key, value in (spec.get("authorize_params") or {}).items()}
        if scope_param != "scope" and attempt.scopes:
            extra[scope_param] = self._separator(app).join(attempt.scopes)
        if spec.get("pkce", True):
            verifier = secrets.token_urlsafe(64)
            extra.update(code_challenge=pkce_challenge(verifier), code_challenge_method="S256")
            attempt.pending_secret = secret_seal(payload={"code_verifier": verifier}, purpose=ATTEMPT_PURPOSE)
        url, _state = oauth.authorization_url(authorize_url, state=state, **extra)
        bind_state(attempt, request, state)
        attempt.save(update_fields=["state_hash", "pending_secret"])
        return url

    def callback_state(self, params) -> str | None:
        return params.get("state") or None

    def complete(self, attempt, *, request, params) -> dict:
        app = attempt.app
        spec = self._spec(app)
        issuer = spec.get("issuer")
        if params.get("iss") and issuer and params["iss"] != render(app, issuer, template_values(app, attempt.config)):
            raise ConnectionFailure(
                ErrorCode.AUTHORIZATION_REJECTED,
                f"The answer did not come from {app.name}'s authorization server (issuer mismatch).",
            )
        code = params.get("code")
        if not code:
            raise ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, f"{app.name}'s answer had no authorization code.")
        reported = callback_values(app, params)  # the callback may name where the code is valid (Zoho)
        if reported:
            attempt.config = {**(attempt.config or {}), **reported}
            attempt.save(update_fields=["config"])
        client, client_secret = oauth_client_for(app, tenant_client=attempt.oauth_client)
        token_url = self._rendered(app, "token_url", attempt.config)
        allow_loopback_http(token_url)
        kwargs = self._client_auth(app, client, client_secret)
        values = template_values(app, attempt.config)
        kwargs.update({key: render(app, value, values) for key, value in (spec.get("token_params") or {}).items()})
        if attempt.pending_secret_id:
            verifier = secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE).get("code_verifier")
            if verifier:
                kwargs["code_verifier"] = verifier
        oauth = self._oauth_session(app, client, scopes=attempt.scopes)
        token = self._token_request(
            app, lambda: oauth.fetch_token(token_url, code=code, timeout=http_timeout(), **kwargs),
            refused="refused the authorization code",
            code_for=lambda exc: ErrorCode.AUTHORIZATION_REJECTED,
        )
        credentials = self._credentials(app, token, requested=attempt.scopes)
        self._keep_reported_values(attempt, token=token, params=params, credentials=credentials)
        return credentials

    def _keep_reported_values(self, attempt, *, token, params, credentials) -> None:
        """Store what the app reported (spec captures, after its lookup) in the attempt's config."""
        app = attempt.app
        auth = BearerAuth(credentials["access_token"], self._spec(app).get("access_token_header"))
        captured = capture_values(
            app, config=attempt.config, token=token, params=params, credentials=credentials, auth=auth
        )
        if captured:
            attempt.config = {**(attempt.config or {}), **captured}
            attempt.save(update_fields=["config"])

    def _token_request(self, app, call, *, refused: str, code_for):
        """Return the token endpoint's answer to call(); raise ConnectionFailure (code_for(OAuth2Error))."""
        try:
            return call()
        except ConnectionFailure:
            raise
        except OAuth2Error as exc:
            raise ConnectionFailure(
                code_for(exc),
                self._oauth_error_message(app, exc, refused),
                http_status=exc.status_code,
                provider_error=exc.error,
            ) from None
        except REQUEST_ERRORS as exc:
            raise unavailable_from_exception(app, exc, "token endpoint") from None

    def _oauth_error_message(self, app, exc, what: str) -> str:
        error = sanitize_provider_text(getattr(exc, "error", "") or "invalid response", limit=40)
        description = sanitize_provider_text(getattr(exc, "description", ""))
        message = f"{app.name} {what} ({error})"
        return f"{message}: {description}" if description else f"{message}."

    def _credentials(self, app, token, *, requested=None, previous=None) -> dict:
        scope = token.get("scope")
        if isinstance(scope, (list, tuple)):
            scope = " ".join(scope)
        separator = self._separator(app)
        if scope:
            scope = str(scope).replace(separator, " ")
            # Some answers list the granted scopes with commas whatever the request used
            # (LinkedIn: "email,openid,profile"); no scope we offer has a comma in its name.
            if not any("," in offered for offered in self.scopes_offered(app)[1]):
                scope = scope.replace(",", " ")
            granted = [s for s in scope.split() if s]
        elif previous and previous.get("scope"):
            granted = list(previous["scope"])
        else:
            granted = list(requested or [])
        expires_at = token.get("expires_at")
        refresh_token = token.get("refresh_token") or (previous or {}).get("refresh_token")
        return {
            "access_token": token["access_token"],
            "refresh_token": refresh_token or None,
            "token_type": token.get("token_type") or "Bearer",
            "expires_at": _expiry(expires_at),
            "scope": granted,
        }

    def granted_scopes(self, attempt, credentials) -> list:
        return list(credentials.get("scope") or attempt.scopes or [])

    def expires_at(self, credentials) -> float | None:
        return credentials.get("expires_at")

    def can_refresh(self, app, credentials) -> bool:
        return bool(credentials.get("refresh_token"))

    def revoke_supported(self, app) -> bool:
        return revoke_block(self._spec(app)) is not None

    def single_grant(self, app) -> bool:
        # `revoke_superseded: false` (Google): a new consent returns the same grant for the same
        # user and client, so revoking the superseded token would kill the new one.
        return self._spec(app).get("revoke_superseded", True) is False

    def revokes_released_grants(self, app) -> bool:
        return self.revoke_supported(app) and not self.single_grant(app)

    def scopes_offered(self, app, oauth_client=None) -> tuple[list, list]:
        """Return (default scopes, every scope that may be requested), spec order, deduplicated.

        The OAuth client's scope override, when set, replaces the spec's defaults.
        """
        spec = self._spec(app)
        defaults = list(spec.get("scopes") or [])
        if oauth_client is None:
            try:
                oauth_client = app.oauth_client
            except App.oauth_client.RelatedObjectDoesNotExist:
                oauth_client = None
        if oauth_client is not None and oauth_client.scopes_override:
            defaults = list(oauth_client.scopes_override)
        every = [*defaults, *(spec.get("scopes") or []), *(spec.get("optional_scopes") or [])]
        return defaults, list(dict.fromkeys(every))

    def requested_scopes(self, app, scopes, connection=None) -> list:
        defaults, every = self.scopes_offered(app)
        if not scopes:
            return list(connection.scopes) if connection is not None and connection.scopes else defaults
        scopes = [str(s).strip() for s in scopes if str(s).strip()]
        unknown = [s for s in scopes if s not in every]
        if unknown:
            raise ValidationError({"scopes": f"{app.name} has no scope named {', '.join(sorted(unknown))}."})
        return list(dict.fromkeys(scopes))

    def expired_statuses(self, app) -> frozenset:
        extra = self._spec(app).get("expired_status")
        return frozenset({401, int(extra)}) if extra else frozenset({401})

    def session(self, app, config, credentials):
        session = self.base_session(app, config, credentials)
        session.auth = BearerAuth(credentials["access_token"], self._spec(app).get("access_token_header"))
        return session

    def refresh(self, app, config, credentials) -> dict:
        """Exchange the refresh token; a response without a new refresh token keeps the old one."""
        if not credentials.get("refresh_token"):
            raise ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED, f"{app.name} gave no refresh token: re-authorize the connection."
            )
        client, client_secret = oauth_client_for(app, credentials)
        url_key = "refresh_url" if self._spec(app).get("refresh_url") else "token_url"
        token_url = self._rendered(app, url_key, config)
        allow_loopback_http(token_url)
        kwargs = self._client_auth(app, client, client_secret)
        if kwargs.pop("include_client_id", False):
            kwargs["client_id"] = client.client_id
        values = template_values(app, config)
        kwargs.update({key: render(app, value, values) for key, value in (self._spec(app).get("refresh_params") or {}).items()})
        oauth = self._oauth_session(app, client)
        token = self._token_request(
            app,
            lambda: oauth.refresh_token(
                token_url, refresh_token=credentials["refresh_token"], timeout=http_timeout(), **kwargs
            ),
            refused="refused the refresh",
            code_for=lambda exc: (
                ErrorCode.CONNECTION_EXPIRED
                if exc.error in EXPIRING_ERRORS or exc.status_code == 401
                else ErrorCode.APP_UNAVAILABLE
            ),
        )
        return self._credentials(app, token, previous=credentials)

    def revoke(self, app, config, credentials) -> None:
        """Revoke the grant at the provider in the style of the spec's revoke block (revoke.py)."""
        block = revoke_block(self._spec(app))
        if block is None:
            return
        client, client_secret = oauth_client_for(app, credentials)
        revoke_grant(app, block, client=client, client_secret=client_secret, config=config, credentials=credentials)


def _expiry(value) -> float | None:
    """The token's expiry as a timestamp: a number, or an ISO 8601 time (Square answers
    `"expires_at": "2024-06-13T23:21:02Z"`); anything else is no known expiry."""
    if value in (None, ""):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        pass
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.timestamp() if moment.tzinfo else None
