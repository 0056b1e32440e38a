"""The sandbox's OAuth2 authorization server: oauthlib's WebApplicationServer on Django models.

Authorization code grant (and, on the same token endpoint, the client credentials grant of
RFC 6749 §4.4 through BackendApplicationServer: no refresh token, the client's own service
account), PKCE S256 required ("plain" and a missing challenge are
refused), exact redirect URI matching, single-use codes valid for CODE_LIFETIME seconds,
refresh tokens rotated on every use, RFC 7009 revocation, client authentication with HTTP
basic or client_secret_post.
"""

import base64
import binascii
import hmac
import uuid
from datetime import timedelta
from urllib.parse import unquote_plus

from django.db.models import Q
from django.utils import timezone
from oauthlib.oauth2 import BackendApplicationServer, RequestValidator, WebApplicationServer
from oauthlib.oauth2.rfc6749.grant_types.authorization_code import code_challenge_method_s256

from .models import AccessToken, AuthorizationCode, OAuth2Client, RefreshToken, digest
from .services import client_service_account

CODE_LIFETIME = 60
DEFAULT_SCOPES = ["profile"]


def _basic_credentials(headers) -> tuple[str, str] | None:
    """Return (client_id, client_secret) from an HTTP basic Authorization header."""
    auth = headers.get("Authorization", "")
    scheme, _, value = auth.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


class SandboxOAuth2Validator(RequestValidator):
    """Answer oauthlib's questions from the sandbox tables."""

    def _client(self, client_id):
        if not client_id:
            return None
        return OAuth2Client.objects.filter(client_id=client_id).first()

    # Client authentication (token and revocation endpoints).

    def client_authentication_required(self, request, *args, **kwargs):
        return True

    def authenticate_client(self, request, *args, **kwargs):
        credentials = _basic_credentials(request.headers)
        if credentials is None:
            credentials = (request.client_id, request.client_secret)
        client_id, secret = credentials
        client = self._client(client_id)
        if client is None or not secret:
            return False
        if not hmac.compare_digest(client.secret_digest, digest(secret)):
            return False
        if request.client_id and request.client_id != client.client_id:
            return False
        request.client = client
        request.client_id = client.client_id
        return True

    def authenticate_client_id(self, client_id, request, *args, **kwargs):
        return False

    # Authorization request.

    def validate_client_id(self, client_id, request, *args, **kwargs):
        client = self._client(client_id)
        if client is None:
            return False
        request.client = client
        return True

    def validate_redirect_uri(self, client_id, redirect_uri, request, *args, **kwargs):
        client = request.client or self._client(client_id)
        return client is not None and redirect_uri in client.redirect_uris

    def get_default_redirect_uri(self, client_id, request, *args, **kwargs):
        return None

    def validate_response_type(self, client_id, response_type, client, request, *args, **kwargs):
        return response_type == "code"

    def validate_scopes(self, client_id, scopes, client, request, *args, **kwargs):
        client = client or self._client(client_id)
        return client is not None and all(scope in client.scopes for scope in scopes)

    def get_default_scopes(self, client_id, request, *args, **kwargs):
        return list(DEFAULT_SCOPES)

    def is_pkce_required(self, client_id, request):
        return True

    def save_authorization_code(self, client_id, code, request, *args, **kwargs):
        AuthorizationCode.objects.create(
            code_digest=digest(code["code"]),
            client=request.client,
            account=request.account,
            redirect_uri=request.redirect_uri,
            scopes=list(request.scopes or []),
            code_challenge=request.code_challenge,
            code_challenge_method=request.code_challenge_method,
            expires_at=timezone.now() + timedelta(seconds=CODE_LIFETIME),
        )

    # Token request: authorization_code grant.

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        return grant_type in ("authorization_code", "refresh_token")

    def validate_code(self, client_id, code, client, request, *args, **kwargs):
        now = timezone.now()
        row = (
            AuthorizationCode.objects.select_related("account")
            .filter(code_digest=digest(code), client=client)
            .first()
        )
        if row is None or row.expires_at <= now:
            return False
        family = uuid.uuid4().hex
        # Consume now, atomically: a second exchange of the same code fails even when concurrent.
        consumed = AuthorizationCode.objects.filter(pk=row.pk, used_at__isnull=True).update(
            used_at=now, family=family
        )
        if not consumed:
            # RFC 6749 §4.1.2: a replayed code revokes what was issued for it.
            if row.family:
                _revoke_family(row.family, now)
            return False
        request.sandbox_code = row
        request.user = row.account
        request.scopes = list(row.scopes)
        request.sandbox_family = family
        return True

    def _code_row(self, code, request):
        row = getattr(request, "sandbox_code", None)
        if row is None:
            row = AuthorizationCode.objects.filter(code_digest=digest(code)).first()
        return row

    def get_code_challenge(self, code, request):
        row = self._code_row(code, request)
        return row.code_challenge if row else None

    def get_code_challenge_method(self, code, request):
        row = self._code_row(code, request)
        return row.code_challenge_method if row else None

    def confirm_redirect_uri(self, client_id, code, redirect_uri, client, request, *args, **kwargs):
        row = self._code_row(code, request)
        return row is not None and row.redirect_uri == redirect_uri

    def invalidate_authorization_code(self, client_id, code, request, *args, **kwargs):
        """The code was consumed in validate_code already."""

    # Token request: refresh_token grant.

    def validate_refresh_token(self, refresh_token, client, request, *args, **kwargs):
        row = (
            RefreshToken.objects.select_related("account")
            .filter(token_digest=digest(refresh_token), client=client, revoked_at__isnull=True)
            .first()
        )
        if row is None:
            return False
        # Rotation: the token is retired by its first use, atomically.
        if not RefreshToken.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=timezone.now()):
            return False
        request.sandbox_refresh = row
        request.sandbox_family = row.family
        request.user = row.account
        return True

    def get_original_scopes(self, refresh_token, request, *args, **kwargs):
        return list(request.sandbox_refresh.scopes)

    def rotate_refresh_token(self, request):
        return True

    def save_bearer_token(self, token, request, *args, **kwargs):
        now = timezone.now()
        scopes = list(request.scopes or [])
        family = getattr(request, "sandbox_family", None) or uuid.uuid4().hex
        refresh = None
        if token.get("refresh_token"):
            refresh = RefreshToken.objects.create(
                token_digest=digest(token["refresh_token"]),
                client=request.client,
                account=request.user,
                family=family,
                scopes=scopes,
            )
        AccessToken.objects.create(
            token_digest=digest(token["access_token"]),
            client=request.client,
            account=request.user,
            refresh_token=refresh,
            family=family,
            scopes=scopes,
            expires_at=now + timedelta(seconds=int(token["expires_in"])),
        )

    # Resource requests.

    def validate_bearer_token(self, token, scopes, request):
        if not token:
            return False
        row = (
            AccessToken.objects.select_related("account", "client")
            .filter(token_digest=digest(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
            .first()
        )
        if row is None or not all(scope in row.scopes for scope in scopes or []):
            return False
        request.user = row.account
        request.client = row.client
        request.scopes = list(row.scopes)
        request.access_token = row
        return True

    # Revocation (RFC 7009).

    def revoke_token(self, token, token_type_hint, request, *args, **kwargs):
        now = timezone.now()
        token_digest = digest(token)
        refresh = RefreshToken.objects.filter(token_digest=token_digest, client=request.client).first()
        if refresh is not None:
            # Revoking a refresh token ends the whole grant: every token of its family.
            _revoke_family(refresh.family, now)
            return
        AccessToken.objects.filter(
            Q(token_digest=token_digest), client=request.client, revoked_at__isnull=True
        ).update(revoked_at=now)


def _revoke_family(family: str, now) -> None:
    """Revoke every access and refresh token issued from one authorization code."""
    RefreshToken.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=now)
    AccessToken.objects.filter(family=family, revoked_at__isnull=True).update(revoked_at=now)


def get_server() -> WebApplicationServer:
    """Return an OAuth2 server whose access tokens live as long as their client says."""
    server = WebApplicationServer(
        SandboxOAuth2Validator(),
        token_expires_in=lambda request: request.client.access_token_lifetime,
    )
    # PKCE with S256 only: "plain" (also oauthlib's default when the method is omitted) is refused.
    server.auth_grant._code_challenge_methods = {"S256": code_challenge_method_s256}
    return server


class SandboxClientCredentialsValidator(SandboxOAuth2Validator):
    """The client credentials grant: the client acts as its own service account."""

    def validate_grant_type(self, client_id, grant_type, client, request, *args, **kwargs):
        if grant_type != "client_credentials":
            return False
        request.user = client_service_account(request.client)
        return True


def get_client_credentials_server() -> BackendApplicationServer:
    """Return the server of the client credentials grant (tokens live as long as the client says)."""
    return BackendApplicationServer(
        SandboxClientCredentialsValidator(),
        token_expires_in=lambda request: request.client.access_token_lifetime,
    )
