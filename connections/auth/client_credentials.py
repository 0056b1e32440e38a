"""OAuth 2.0 client credentials (RFC 6749 §4.4): machine-to-machine apps, no person at the app.

The operator types the client id and secret of their own app at the provider; both are sealed
with the connection's credentials (never in `config`). The access token is fetched when the
account is linked and fetched again, with the same client id and secret, by the single-flight
refresh (connections/services/refresh.py) before it expires: there is no refresh token, so a
"refresh" is a new client-credentials token request. The token URL renders through
`render_url` (the host the spec fixes) and the request goes through connections/outbound.py.
"""

from django.views.decorators.debug import sensitive_variables
from oauthlib.oauth2 import BackendApplicationClient
from oauthlib.oauth2.rfc6749.parameters import prepare_token_request

from vault.services import secret_open, secret_seal

from ..errors import ConnectionFailure
from ..models import ATTEMPT_PURPOSE, ErrorCode
from .base import allow_loopback_http, http_timeout, render, template_values
from .oauth2 import EXPIRING_ERRORS, OAuth2Mode

CLIENT_KEYS = ("client_id", "client_secret")


class GrantClient(BackendApplicationClient):
    """oauthlib's client-credentials client with the grant type a provider names (Zoom's
    `account_credentials`)."""

    def __init__(self, client_id, *, grant_type="client_credentials", **kwargs):
        super().__init__(client_id, **kwargs)
        self.grant_type = grant_type

    def prepare_request_body(self, body="", scope=None, include_client_id=False, **kwargs):
        kwargs["client_id"] = self.client_id
        kwargs["include_client_id"] = include_client_id
        scope = self.scope if scope is None else scope
        return prepare_token_request(self.grant_type, body=body, scope=scope, **kwargs)


class ClientCredentialsMode(OAuth2Mode):
    name = "oauth2_client_credentials"
    redirects = False
    needs_client = False  # the operator types the client; no platform registration
    has_scopes = True
    expiring = True

    def _spec(self, app) -> dict:
        return (app.spec or {}).get("client_credentials") or {}

    def scopes_offered(self, app, oauth_client=None) -> tuple[list, list]:
        spec = self._spec(app)
        defaults = list(spec.get("scopes") or [])
        return defaults, list(dict.fromkeys([*defaults, *(spec.get("optional_scopes") or [])]))

    def split_values(self, app, field_values) -> tuple[dict, dict]:
        """Return (config, secret values); the client id goes to the vault with the secret."""
        config, secret_values = super().split_values(app, field_values)
        if "client_id" in config:
            secret_values["client_id"] = config.pop("client_id")
        return config, secret_values

    def start(self, attempt, *, request, secret_values) -> None:
        attempt.pending_secret = secret_seal(
            payload={"credentials": dict(secret_values or {})}, purpose=ATTEMPT_PURPOSE
        )
        attempt.save(update_fields=["pending_secret"])
        return None

    @sensitive_variables()  # client secret and tokens
    def complete(self, attempt, *, request, params) -> dict:
        typed = dict(
            secret_open(secret=attempt.pending_secret, purpose=ATTEMPT_PURPOSE)["credentials"]
        )
        token = self._fetch(
            attempt.app, attempt.config, typed, scopes=attempt.scopes,
            refused="refused the client credentials",
            code_for=lambda exc: ErrorCode.AUTHORIZATION_REJECTED,
        )  # fmt: skip
        return {**typed, **self._credentials(attempt.app, token, requested=attempt.scopes)}

    def can_refresh(self, app, credentials) -> bool:
        return all(credentials.get(key) for key in CLIENT_KEYS)

    @sensitive_variables()  # client secret and tokens
    def refresh(self, app, config, credentials) -> dict:
        """Fetch a new access token with the stored client id and secret."""
        if not self.can_refresh(app, credentials):
            raise ConnectionFailure(
                ErrorCode.CONNECTION_EXPIRED,
                f"{app.name}'s client id or secret is missing: re-authorize the connection.",
            )
        scopes = list(credentials.get("scope") or [])
        token = self._fetch(
            app, config, credentials, scopes=scopes, refused="refused the client credentials",
            code_for=lambda exc: (
                ErrorCode.CONNECTION_EXPIRED
                if exc.error in EXPIRING_ERRORS or exc.status_code == 401
                else ErrorCode.APP_UNAVAILABLE
            ),
        )  # fmt: skip
        return {**self._credentials(app, token, previous=credentials), "refresh_token": None}

    def revoke_supported(self, app) -> bool:
        return False  # no grant to withdraw: the client lives at the provider, tokens expire

    def revoke(self, app, config, credentials) -> None:
        return None

    @sensitive_variables()  # client secret and tokens
    def _fetch(self, app, config, credentials, *, scopes, refused, code_for) -> dict:
        spec = self._spec(app)
        values = template_values(app, config)
        token_url = self._rendered(app, "token_url", config)
        allow_loopback_http(token_url)
        client_id, client_secret = credentials["client_id"], credentials["client_secret"]
        oauth = self._oauth_session(app, _Client(client_id), scopes=scopes)
        oauth._client = GrantClient(
            client_id, grant_type=spec.get("grant_type") or "client_credentials"
        )
        kwargs = self._client_auth(app, _Client(client_id), client_secret)
        kwargs.update(
            {
                key: render(app, value, values)
                for key, value in (spec.get("token_params") or {}).items()
            }
        )
        if scopes:
            kwargs["scope"] = self._separator(app).join(scopes)
        return self._token_request(
            app, lambda: oauth.fetch_token(token_url, timeout=http_timeout(), **kwargs),
            refused=refused, code_for=code_for,
        )  # fmt: skip


class _Client:
    """What OAuth2Mode's helpers read of a client: its id (no redirect URI in this grant)."""

    redirect_uri = None

    def __init__(self, client_id):
        self.client_id = client_id
