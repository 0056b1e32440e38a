"""Data of the sandbox provider: its accounts, clients, grants, tokens, switches and counters.

The sandbox plays a third-party service in tests and demos. OAuth2 codes and tokens, API keys
and basic passwords are stored as SHA-256 digests; OAuth1 secrets must stay readable because
HMAC-SHA1 signatures are computed from them.
"""

import hashlib

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


def digest(value: str) -> str:
    """Return the SHA-256 hex digest under which a token or key is stored."""
    return hashlib.sha256(value.encode()).hexdigest()


class Account(models.Model):
    """A user of the sandbox service; what /sandbox/api/me answers with."""

    email = models.EmailField(_("email"), unique=True)
    name = models.CharField(_("name"), max_length=120)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.email

    def as_json(self) -> dict:
        """Return the account as /sandbox/api/me shows it."""
        return {"id": self.pk, "email": self.email, "name": self.name}


class OAuth2Client(models.Model):
    """A registered OAuth2 client application."""

    client_id = models.CharField(_("client id"), max_length=200, unique=True)
    secret_digest = models.CharField(_("client secret digest"), max_length=64)
    name = models.CharField(_("name"), max_length=120)
    redirect_uris = models.JSONField(_("redirect URIs"), default=list)
    scopes = models.JSONField(_("allowed scopes"), default=list)
    access_token_lifetime = models.PositiveIntegerField(_("access token lifetime (s)"), default=3600)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class AuthorizationCode(models.Model):
    """A single-use, short-lived OAuth2 authorization code."""

    code_digest = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuth2Client, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    redirect_uri = models.CharField(max_length=1000)
    scopes = models.JSONField(default=list)
    code_challenge = models.CharField(max_length=200)
    code_challenge_method = models.CharField(max_length=10)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    # The token family the code was exchanged for, so that a replayed code can revoke it.
    family = models.CharField(max_length=32, blank=True)

    def __str__(self):
        return f"code #{self.pk} for {self.client}"


class RefreshToken(models.Model):
    """An OAuth2 refresh token; rotated (and so retired) on every use."""

    token_digest = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuth2Client, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    # Every token issued from one authorization code (through its rotations) shares a family.
    family = models.CharField(max_length=32, db_index=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"refresh token #{self.pk} for {self.client}"


class AccessToken(models.Model):
    """An OAuth2 bearer token."""

    token_digest = models.CharField(max_length=64, unique=True)
    client = models.ForeignKey(OAuth2Client, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    refresh_token = models.ForeignKey(
        RefreshToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="access_tokens"
    )
    family = models.CharField(max_length=32, db_index=True)
    scopes = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"access token #{self.pk} for {self.client}"


class OAuth1Client(models.Model):
    """A registered OAuth1 consumer (HMAC-SHA1)."""

    client_key = models.CharField(_("client key"), max_length=200, unique=True)
    client_secret = models.CharField(_("client secret"), max_length=200)
    name = models.CharField(_("name"), max_length=120)
    callback_uris = models.JSONField(_("callback URIs"), default=list)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return self.name


class OAuth1RequestToken(models.Model):
    """A temporary credential of the OAuth1 flow, authorized on the consent page."""

    token = models.CharField(max_length=100, unique=True)
    secret = models.CharField(max_length=100)
    client = models.ForeignKey(OAuth1Client, on_delete=models.CASCADE, related_name="+")
    callback_uri = models.CharField(max_length=1000)
    realms = models.JSONField(default=list)
    verifier = models.CharField(max_length=100, blank=True)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, null=True, blank=True, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"OAuth1 request token #{self.pk} for {self.client}"


class OAuth1AccessToken(models.Model):
    """A token credential of the OAuth1 flow."""

    token = models.CharField(max_length=100, unique=True)
    secret = models.CharField(max_length=100)
    client = models.ForeignKey(OAuth1Client, on_delete=models.CASCADE, related_name="+")
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    realms = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"OAuth1 access token #{self.pk} for {self.client}"


class OAuth1Nonce(models.Model):
    """A nonce already seen, so that a signed request cannot be replayed."""

    client_key = models.CharField(max_length=200)
    token = models.CharField(max_length=100, blank=True)
    nonce = models.CharField(max_length=100)
    timestamp = models.BigIntegerField()

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["client_key", "token", "nonce", "timestamp"], name="sandbox_nonce_unique"
            )
        ]

    def __str__(self):
        return f"nonce #{self.pk}"


class ApiKey(models.Model):
    """An API key accepted in the X-API-Key header."""

    key_digest = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=12)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="api_keys")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self):
        return f"{self.prefix}… ({self.account})"


class BasicAccount(models.Model):
    """Username and password accepted with HTTP basic authentication."""

    username = models.CharField(max_length=150, unique=True)
    password_digest = models.CharField(max_length=64)
    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="basic_logins")

    def __str__(self):
        return self.username


class SwitchTarget(models.TextChoices):
    TOKEN = "token", _("Token endpoints")
    API = "api", _("API")
    REVOKE = "revoke", _("Revocation endpoint")
    ALL = "all", _("All of them")


class SwitchMode(models.TextChoices):
    ERROR = "500", _("500 server error")
    RATE_LIMITED = "429", _("429 too many requests")
    HANG = "hang", _("Hang, then answer")
    INVALID_GRANT = "invalid_grant", _("invalid_grant / invalid_token")


class Switch(models.Model):
    """A failure armed for the next `remaining` calls of an endpoint."""

    target = models.CharField(max_length=10, choices=SwitchTarget.choices)
    mode = models.CharField(max_length=20, choices=SwitchMode.choices)
    remaining = models.PositiveIntegerField(default=1)
    seconds = models.FloatField(default=0)
    retry_after = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.target}: {self.mode} × {self.remaining}"


class Counter(models.Model):
    """How many requests an endpoint received."""

    endpoint = models.CharField(max_length=40, unique=True)
    value = models.PositiveBigIntegerField(default=0)

    def __str__(self):
        return f"{self.endpoint}: {self.value}"
