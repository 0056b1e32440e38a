"""OAuth 2.0 authorization code with PKCE S256, refresh and RFC 7009 revocation (requests-oauthlib)."""

import base64
import hashlib
import logging
import os
import secrets
from urllib.parse import urlsplit

import requests
from django.conf import settings
from oauthlib.oauth2.rfc6749.errors import OAuth2Error
from requests_oauthlib import OAuth2Session

from catalog.models import OAuthClient
from catalog.services import oauth_client_secret
from vault.services import secret_open, secret_seal

from ..errors import ConnectionFailure, sanitize_provider_text
from ..models import ErrorCode
from .base import BaseMode, TimeoutSession, bind_state, http_timeout, new_state, render, template_values

logger = logging.getLogger(__name__)

ATTEMPT_PURPOSE = "attempt"
EXPIRING_ERRORS = {"invalid_grant", "invalid_client", "unauthorized_client"}
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def allow_loopback_http(url: str) -> None:
    """Let oauthlib use plain http for the sandbox and loopback only (development and tests)."""
    parts = urlsplit(url)
    if parts.scheme != "http":
        return
    sandbox = settings.SANDBOX_ENABLED and url.startswith(settings.SANDBOX_URL)
    if sandbox or (parts.hostname or "") in LOOPBACK_HOSTS:
        os.environ["OAUTHLIB_INSECURE_TRANSPORT"] = "1"


# The scopes actually granted are stored; a provider granting fewer is not an error.
os.environ.setdefault("OAUTHLIB_RELAX_TOKEN_SCOPE", "1")


def retry_after_seconds(response) -> float | None:
    value = response.headers.get("Retry-After") if response is not None else None
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def unavailable_from_response(app, response, where: str) -> ConnectionFailure:
    return ConnectionFailure(
        ErrorCode.APP_UNAVAILABLE,
        f"{app.name} answered HTTP {response.status_code} at its {where}.",
        http_status=response.status_code,
        retry_after=retry_after_seconds(response),
    )


def unavailable_from_exception(app, exc, where: str) -> ConnectionFailure:
    if isinstance(exc, requests.Timeout):
        message = f"{app.name} did not answer within {http_timeout():g} seconds at its {where}."
    elif isinstance(exc, requests.ConnectionError):
        message = f"{app.name} could not be reached at its {where}."
    else:
        message = f"The request to {app.name}'s {where} failed ({type(exc).__name__})."
    return ConnectionFailure(ErrorCode.APP_UNAVAILABLE, message)


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


def oauth_client_for(app):
    """Return (OAuthClient, client_secret) or raise ConnectionFailure when none is registered."""
    try:
        client = app.oauth_client
    except OAuthClient.DoesNotExist:
        raise ConnectionFailure(
            ErrorCode.APP_UNAVAILABLE,
            f"{app.name} has no OAuth client registration yet: a system administrator must add one.",
        ) from None
    secret = oauth_client_secret(client) if client.client_secret_id else ""
    return client, secret


class OAuth2Mode(BaseMode):
    name = "oauth2"
    redirects = True

    def _spec(self, app) -> dict:
        return (app.spec or {}).get("oauth2") or {}

    def _separator(self, app) -> str:
        return self._spec(app).get("scope_separator") or " "

    def _rendered(self, app, key, config) -> str:
        return render(app, self._spec(app).get(key), template_values(app, config))

    def _client_auth(self, app, client, client_secret) -> dict:
        """Return fetch_token/refresh_token keyword arguments for the token endpoint's client auth."""
        if self._spec(app).get("client_auth") == "basic":
            return {"auth": requests.auth.HTTPBasicAuth(client.client_id, client_secret)}
        return {"include_client_id": True, "client_secret": client_secret}

    def _oauth_session(self, app, client, *, scopes=None, state=None) -> OAuth2Session:
        scope = self._separator(app).join(scopes) if scopes else None
        oauth = OAuth2Session(client.client_id, redirect_uri=client.redirect_uri, scope=scope, state=state)

        def check_status(response):
            if response.status_code >= 500 or response.status_code == 429:
                raise unavailable_from_response(app, response, "token endpoint")
            return response

        oauth.register_compliance_hook("access_token_response", check_status)
        oauth.register_compliance_hook("refresh_token_response", check_status)
        return oauth

    def start(self, attempt, *, request, secret_values) -> str:
        app = attempt.app
        spec = self._spec(app)
        client, _secret = oauth_client_for(app)
        authorize_url = self._rendered(app, "authorize_url", attempt.config)
        allow_loopback_http(authorize_url)
        state = new_state()
        oauth = self._oauth_session(app, client, scopes=attempt.scopes, state=state)
        values = template_values(app, attempt.config)
        extra = {key: render(app, value, values) for key, value in (spec.get("authorize_params") or {}).items()}
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
        client, client_secret = oauth_client_for(app)
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
        try:
            token = oauth.fetch_token(token_url, code=code, timeout=http_timeout(), **kwargs)
        except ConnectionFailure:
            raise
        except OAuth2Error as exc:
            raise ConnectionFailure(
                ErrorCode.AUTHORIZATION_REJECTED,
                self._oauth_error_message(app, exc, "refused the authorization code"),
                http_status=exc.status_code,
                provider_error=exc.error,
            ) from None
        except requests.RequestException as exc:
            raise unavailable_from_exception(app, exc, "token endpoint") from None
        return self._credentials(app, token, requested=attempt.scopes)

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
            granted = [s for s in str(scope).replace(separator, " ").split() if s]
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
            "expires_at": float(expires_at) if expires_at else None,
            "scope": granted,
        }

    def granted_scopes(self, attempt, credentials) -> list:
        return list(credentials.get("scope") or attempt.scopes or [])

    def expires_at(self, credentials) -> float | None:
        return credentials.get("expires_at")

    def can_refresh(self, app, credentials) -> bool:
        return bool(credentials.get("refresh_token"))

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
        client, client_secret = oauth_client_for(app)
        token_url = self._rendered(app, "token_url", config)
        allow_loopback_http(token_url)
        kwargs = self._client_auth(app, client, client_secret)
        if kwargs.pop("include_client_id", False):
            kwargs["client_id"] = client.client_id
        oauth = self._oauth_session(app, client)
        try:
            token = oauth.refresh_token(
                token_url, refresh_token=credentials["refresh_token"], timeout=http_timeout(), **kwargs
            )
        except ConnectionFailure:
            raise
        except OAuth2Error as exc:
            expired = exc.error in EXPIRING_ERRORS or exc.status_code == 401
            raise ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED if expired else ErrorCode.APP_UNAVAILABLE,
                self._oauth_error_message(app, exc, "refused the refresh"),
                http_status=exc.status_code,
                provider_error=exc.error,
            ) from None
        except requests.RequestException as exc:
            raise unavailable_from_exception(app, exc, "token endpoint") from None
        return self._credentials(app, token, previous=credentials)

    def revoke(self, app, config, credentials) -> None:
        """Revoke the grant at the provider (RFC 7009) when the spec has a revoke_url."""
        if not self._spec(app).get("revoke_url"):
            return
        client, client_secret = oauth_client_for(app)
        url = self._rendered(app, "revoke_url", config)
        auth = None
        base = {}
        if self._spec(app).get("client_auth") == "basic":
            auth = requests.auth.HTTPBasicAuth(client.client_id, client_secret)
        else:
            base = {"client_id": client.client_id, "client_secret": client_secret}
        failure = None
        with TimeoutSession() as http:
            for hint in ("refresh_token", "access_token"):
                token = credentials.get(hint)
                if not token:
                    continue
                try:
                    response = http.post(url, data={**base, "token": token, "token_type_hint": hint}, auth=auth)
                except requests.RequestException as exc:
                    failure = failure or unavailable_from_exception(app, exc, "revocation endpoint")
                    continue
                if response.status_code >= 500 or response.status_code == 429:
                    failure = failure or unavailable_from_response(app, response, "revocation endpoint")
                elif response.status_code >= 400:
                    failure = failure or ConnectionFailure(
                        ErrorCode.AUTHORIZATION_REJECTED,
                        f"{app.name} refused the revocation (HTTP {response.status_code}).",
                        http_status=response.status_code,
                    )
        if failure is not None:
            raise failure
