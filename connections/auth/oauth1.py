"""OAuth 1.0a (HMAC-SHA1): request token → authorize → access token (requests-oauthlib)."""

from requests_oauthlib import OAuth1, OAuth1Session
from requests_oauthlib.oauth1_session import TokenMissing, TokenRequestDenied

from vault.services import secret_open, secret_seal

from .. import outbound
from ..errors import ConnectionFailure
from ..models import ATTEMPT_PURPOSE, ErrorCode
from .base import (
    REQUEST_ERRORS,
    BaseMode,
    allow_loopback_http,
    bind_state,
    http_timeout,
    oauth_client_for,
    render,
    render_url,
    template_values,
    unavailable_from_exception,
    unavailable_from_response,
)


class OAuth1Mode(BaseMode):
    name = "oauth1"
    redirects = True
    needs_client = True

    def _spec(self, app) -> dict:
        return (app.spec or {}).get("oauth1") or {}

    def _url(self, app, key, config) -> str:
        url = render_url(app, self._spec(app).get(key), template_values(app, config))
        allow_loopback_http(url)
        return url

    def _token_failure(self, app, exc, where: str, rejected_code) -> ConnectionFailure:
        if isinstance(exc, TokenRequestDenied):
            response = exc.response
            if response.status_code >= 500 or response.status_code == 429:
                return unavailable_from_response(app, response, where)
            return ConnectionFailure(
                rejected_code, f"{app.name} refused the request at its {where} (HTTP {response.status_code}).",
                http_status=response.status_code,
            )
        if isinstance(exc, REQUEST_ERRORS):
            return unavailable_from_exception(app, exc, where)
        return ConnectionFailure(rejected_code, f"{app.name} gave an unusable answer at its {where}.")

    def start(self, attempt, *, request, secret_values) -> str:
        app = attempt.app
        client, client_secret = oauth_client_for(app, tenant_client=attempt.oauth_client)
        oauth = outbound.harden(
            OAuth1Session(client.client_id, client_secret=client_secret, callback_uri=client.redirect_uri)
        )
        try:
            token = oauth.fetch_request_token(
                self._url(app, "request_token_url", attempt.config), timeout=http_timeout()
            )
        except (TokenRequestDenied, TokenMissing, ValueError, *REQUEST_ERRORS) as exc:
            raise self._token_failure(app, exc, "request-token endpoint", ErrorCode.AUTHORIZATION_REJECTED) from None
        values = template_values(app, attempt.config)
        extra = {key: render(app, value, values) for key, value in (self._spec(app).get("authorize_params") or {}).items()}
        url = oauth.authorization_url(self._url(app, "authorize_url", attempt.config), **extra)
        attempt.pending_secret = secret_seal(
            payload={"oauth_token": token["oauth_token"], "oauth_token_secret": token["oauth_token_secret"]},
            purpose=ATTEMPT_PURPOSE,
        )
        bind_state(attempt, request, token["oauth_token"])
        attempt.save(update_fields=["state_hash", "pending_secret"])
        return url

    def callback_state(self, params) -> str | None:
        # A denial comes back as `denied=<request token>` (Twitter-style) instead of oauth_token.
        return params.get("oauth_token") or params.get("denied") or None

    def complete(self, attempt, *, request, params) -> dict:
        app = attempt.app
        verifier = params.get("oauth_verifier")
        if not verifier:
            raise ConnectionFailure(ErrorCode.AUTHORIZATION_REJECTED, f"{app.name}'s answer had no verifier.")
        pending = secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE)
        client, client_secret = oauth_client_for(app, tenant_client=attempt.oauth_client)
        oauth = outbound.harden(
            OAuth1Session(
                client.client_id,
                client_secret=client_secret,
                resource_owner_key=pending["oauth_token"],
                resource_owner_secret=pending["oauth_token_secret"],
                verifier=verifier,
            )
        )
        try:
            token = oauth.fetch_access_token(
                self._url(app, "access_token_url", attempt.config), verifier=verifier, timeout=http_timeout()
            )
        except (TokenRequestDenied, TokenMissing, ValueError, *REQUEST_ERRORS) as exc:
            raise self._token_failure(app, exc, "access-token endpoint", ErrorCode.AUTHORIZATION_REJECTED) from None
        return {"oauth_token": token["oauth_token"], "oauth_token_secret": token["oauth_token_secret"]}

    def session(self, app, config, credentials):
        client, client_secret = oauth_client_for(app, credentials)
        session = self.base_session(app, config, credentials)
        session.auth = OAuth1(
            client.client_id,
            client_secret=client_secret,
            resource_owner_key=credentials["oauth_token"],
            resource_owner_secret=credentials["oauth_token_secret"],
        )
        return session
