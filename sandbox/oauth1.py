"""The sandbox's OAuth1 server (RFC 5849, HMAC-SHA1) on oauthlib's endpoints and Django models.

Request token → authorize (consent page) → access token, then signed requests to the API.
Plain http is allowed (enforce_ssl is off) because the sandbox runs on loopback.
"""

import string

from django.db import IntegrityError, transaction
from django.utils import timezone
from oauthlib.oauth1 import (
    AccessTokenEndpoint,
    AuthorizationEndpoint,
    RequestTokenEndpoint,
    RequestValidator,
    ResourceEndpoint,
)
from oauthlib.oauth1.rfc5849 import SIGNATURE_HMAC_SHA1, errors

from .models import OAuth1AccessToken, OAuth1Client, OAuth1Nonce, OAuth1RequestToken

REQUEST_TOKEN_LIFETIME = 600
_SAFE = set(string.ascii_letters + string.digits + "-_.~")


class SandboxOAuth1Validator(RequestValidator):
    """Answer oauthlib's OAuth1 questions from the sandbox tables.

    `account` is the sandbox account granting access on the consent page (authorization only).
    """

    def __init__(self, account=None):
        super().__init__()
        self.account = account

    # Policy: loopback http, HMAC-SHA1, keys chosen by whoever registers the client.

    @property
    def enforce_ssl(self):
        return False

    @property
    def allowed_signature_methods(self):
        return (SIGNATURE_HMAC_SHA1,)

    @property
    def safe_characters(self):
        return _SAFE

    @property
    def client_key_length(self):
        return 1, 200

    @property
    def request_token_length(self):
        return 20, 100

    @property
    def access_token_length(self):
        return 20, 100

    @property
    def nonce_length(self):
        return 8, 100

    @property
    def verifier_length(self):
        return 20, 100

    # Dummies keep the timing of failures close to that of successes.

    @property
    def dummy_client(self):
        return "sandbox-dummy-client"

    @property
    def dummy_request_token(self):
        return "sandboxdummyrequesttoken00000"

    @property
    def dummy_access_token(self):
        return "sandboxdummyaccesstoken000000"

    def _client(self, client_key):
        return OAuth1Client.objects.filter(client_key=client_key).first()

    def _request_token(self, client_key, token):
        return (
            OAuth1RequestToken.objects.select_related("client", "account")
            .filter(token=token, client__client_key=client_key)
            .first()
        )

    def _access_token(self, client_key, token):
        return (
            OAuth1AccessToken.objects.select_related("client", "account")
            .filter(token=token, client__client_key=client_key, revoked_at__isnull=True)
            .first()
        )

    # Secrets for signature checks.

    def get_client_secret(self, client_key, request):
        client = self._client(client_key)
        return client.client_secret if client else "sandbox-dummy-secret"

    def get_request_token_secret(self, client_key, token, request):
        row = self._request_token(client_key, token)
        return row.secret if row else "sandbox-dummy-secret"

    def get_access_token_secret(self, client_key, token, request):
        row = self._access_token(client_key, token)
        return row.secret if row else "sandbox-dummy-secret"

    # Validation.

    def validate_client_key(self, client_key, request):
        return self._client(client_key) is not None

    def validate_timestamp_and_nonce(
        self, client_key, timestamp, nonce, request, request_token=None, access_token=None
    ):
        try:
            with transaction.atomic():
                OAuth1Nonce.objects.create(
                    client_key=client_key,
                    token=request_token or access_token or "",
                    nonce=nonce,
                    timestamp=int(timestamp),
                )
        except (IntegrityError, ValueError):
            return False
        return True

    def validate_redirect_uri(self, client_key, redirect_uri, request):
        client = self._client(client_key)
        return client is not None and (redirect_uri == "oob" or redirect_uri in client.callback_uris)

    def get_default_realms(self, client_key, request):
        return []

    def validate_requested_realms(self, client_key, realms, request):
        return True

    def validate_request_token(self, client_key, token, request):
        row = self._request_token(client_key, token)
        return row is not None and row.used_at is None and not self._expired(row)

    def validate_access_token(self, client_key, token, request):
        row = self._access_token(client_key, token)
        if row is None:
            return False
        request.sandbox_account = row.account
        return True

    def validate_realms(self, client_key, token, request, uri=None, realms=None):
        return True

    def validate_verifier(self, client_key, token, verifier, request):
        row = self._request_token(client_key, token)
        if row is None or not row.verifier or row.account_id is None:
            return False
        return row.verifier == verifier

    def verify_request_token(self, token, request):
        row = OAuth1RequestToken.objects.filter(token=token, used_at__isnull=True).first()
        return row is not None and not self._expired(row)

    def verify_realms(self, token, realms, request):
        return True

    def _expired(self, row):
        return (timezone.now() - row.created_at).total_seconds() > REQUEST_TOKEN_LIFETIME

    def get_realms(self, token, request):
        row = OAuth1RequestToken.objects.filter(token=token).first()
        return list(row.realms) if row else []

    def get_redirect_uri(self, token, request):
        return OAuth1RequestToken.objects.get(token=token).callback_uri

    def get_rsa_key(self, client_key, request):
        raise NotImplementedError("The sandbox signs with HMAC-SHA1 only.")

    # Persistence.

    def save_request_token(self, token, request):
        OAuth1RequestToken.objects.create(
            token=token["oauth_token"],
            secret=token["oauth_token_secret"],
            client=self._client(request.client_key),
            callback_uri=request.redirect_uri,
            realms=list(request.realms or []),
        )

    def save_verifier(self, token, verifier, request):
        updated = OAuth1RequestToken.objects.filter(token=token, used_at__isnull=True).update(
            verifier=verifier["oauth_verifier"], account=self.account
        )
        if not updated:
            raise errors.InvalidRequestError(description="The request token was already used.")

    def invalidate_request_token(self, client_key, request_token, request):
        OAuth1RequestToken.objects.filter(
            token=request_token, client__client_key=client_key
        ).update(used_at=timezone.now())

    def save_access_token(self, token, request):
        # Consume the request token atomically so one verifier yields one access token.
        request_token = self._request_token(request.client_key, request.resource_owner_key)
        if not OAuth1RequestToken.objects.filter(pk=request_token.pk, used_at__isnull=True).update(
            used_at=timezone.now()
        ):
            raise errors.InvalidRequestError(description="The request token was already used.")
        OAuth1AccessToken.objects.create(
            token=token["oauth_token"],
            secret=token["oauth_token_secret"],
            client=request_token.client,
            account=request_token.account,
            realms=list(request.realms or []),
        )


def request_token_endpoint() -> RequestTokenEndpoint:
    return RequestTokenEndpoint(SandboxOAuth1Validator())


def authorization_endpoint(account=None) -> AuthorizationEndpoint:
    return AuthorizationEndpoint(SandboxOAuth1Validator(account=account))


def access_token_endpoint() -> AccessTokenEndpoint:
    return AccessTokenEndpoint(SandboxOAuth1Validator())


def resource_endpoint() -> ResourceEndpoint:
    return ResourceEndpoint(SandboxOAuth1Validator())
