import uuid
from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .scoping import TenantScopedManager

# Vault purposes: a ciphertext opens only under the purpose it was sealed for.
CREDENTIALS_PURPOSE = "connection"  # a connection's (and its global copies') credentials
ATTEMPT_PURPOSE = "attempt"  # an attempt's pending secret (PKCE verifier, typed credentials…)
WEBHOOK_PURPOSE = "webhook"  # a tenant's webhook signing secret
TENANT_CLIENT_PURPOSE = "tenant_oauth_client"  # a tenant's own OAuth client secret


class Role(models.TextChoices):
    ADMIN = "admin", _("Admin")
    OPERATOR = "operator", _("Operator")
    VIEWER = "viewer", _("Viewer")


class ConnectionStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    EXPIRED = "expired", _("Connection expired")
    ERROR = "error", _("App unavailable")
    REVOKED = "revoked", _("Revoked")


class ErrorCode(models.TextChoices):
    AUTHORIZATION_REJECTED = "authorization_rejected", _("Authorization rejected")
    CONNECTION_EXPIRED = "connection_expired", _("Connection expired")
    TEST_FAILED = "test_failed", _("Test failed")
    APP_UNAVAILABLE = "app_unavailable", _("App unavailable")


class EventKind(models.TextChoices):
    """What an Event of the audit timeline records; each kind is written by one service."""

    ATTEMPT_STARTED = "attempt_started", _("Link started")
    ATTEMPT_FAILED = "attempt_failed", _("Link failed")
    ATTEMPT_CANCELLED = "attempt_cancelled", _("Re-authorization cancelled")
    ATTEMPT_ABANDONED = "attempt_abandoned", _("Link abandoned")
    ACCOUNT_DIFFERS = "reauthorization_account_differs", _("Provider reported a different account")
    CREATED = "created", _("Created")
    TESTED = "tested", _("Tested")
    CHECKED = "checked", _("Checked")
    REAUTHORIZED = "reauthorized", _("Re-authorized")
    LINK_REFUSED = "link_refused", _("Link refused: not a member of this company")
    SUPERSEDED_GRANT_REVOKED = "superseded_grant_revoked", _("Revocation of the previous grant at the app")
    DISCARDED_GRANT_REVOKED = "discarded_grant_revoked", _("Revocation of an unused grant at the app")
    SOURCE_REAUTHORIZED = "source_reauthorized", _("Source of a global connection re-authorized")
    PUBLICATION_REVIEW_REOPENED = "publication_review_reopened", _("Back in review after a re-authorization")
    RENAMED = "renamed", _("Renamed")
    REVOKED = "revoked", _("Revoked")
    GRANT_REVOKED = "grant_revoked", _("Grant revoked at the app")
    STATUS_CHANGED = "status_changed", _("Status changed")
    ROTATION_DUE = "rotation_due", _("Rotation due")
    ALERT_SENT = "alert_sent", _("Alert sent")
    PUBLICATION_REQUESTED = "publication_requested", _("Publication requested")
    PUBLICATION_WITHDRAWN = "publication_withdrawn", _("Publication request withdrawn")
    PUBLICATION_REJECTED = "publication_rejected", _("Publication rejected")
    PUBLISHED = "published", _("Published globally")
    UNPUBLISHED = "unpublished", _("Unpublished")
    API_TOKEN_CREATED = "api_token_created", _("API token created")
    API_TOKEN_REVOKED = "api_token_revoked", _("API token revoked")
    WEBHOOK_UPDATED = "webhook_updated", _("Webhook saved")
    WEBHOOK_SECRET_ROTATED = "webhook_secret_rotated", _("Webhook signing secret rotated")
    WEBHOOK_REMOVED = "webhook_removed", _("Webhook removed")
    MEMBER_INVITED = "member_invited", _("Member invited")
    INVITATION_CANCELLED = "invitation_cancelled", _("Invitation cancelled")
    MEMBER_JOINED = "member_joined", _("Member joined")
    MEMBER_ROLE_CHANGED = "member_role_changed", _("Member's role changed")
    MEMBER_REMOVED = "member_removed", _("Member removed")
    SETUP_REQUESTED = "setup_requested", _("App setup requested")
    CONNECTION_REMOVED = "connection_removed", _("Revoked connection removed from the history")
    ALERT_RECIPIENTS_UPDATED = "alert_recipients_updated", _("Alert recipients changed")
    OAUTH_CLIENT_SAVED = "oauth_client_saved", _("Company OAuth client saved")
    OAUTH_CLIENT_REMOVED = "oauth_client_removed", _("Company OAuth client removed")


class Tenant(models.Model):
    """A company. Everything a tenant owns is invisible to other tenants."""

    name = models.CharField(_("name"), max_length=120)
    slug = models.SlugField(_("slug"), max_length=64, unique=True)
    webhook_url = models.URLField(_("webhook URL"), blank=True)
    webhook_secret = models.ForeignKey(
        "vault.Secret", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("tenant")
        verbose_name_plural = _("tenants")

    def __str__(self):
        return self.name


class Member(models.Model):
    """A user's membership in a tenant, with a role."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.OPERATOR)
    # Status alerts by email: None follows the default (admins are told), True/False is chosen.
    alerts = models.BooleanField(_("gets alerts"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [models.UniqueConstraint(fields=["user", "tenant"], name="member_unique_user_tenant")]

    def __str__(self):
        return f"{self.user} in {self.tenant} ({self.get_role_display()})"

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_create(self) -> bool:
        return self.role in (Role.ADMIN, Role.OPERATOR)

    @property
    def gets_alerts(self) -> bool:
        return self.is_admin if self.alerts is None else self.alerts


class AlertSettings(models.Model):
    """Who else a tenant's status alerts are mailed to, beside its members (Member.alerts)."""

    tenant = models.OneToOneField(Tenant, on_delete=models.CASCADE, related_name="alert_settings")
    extra_emails = models.JSONField(_("extra addresses"), default=list, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("alert settings")
        verbose_name_plural = _("alert settings")

    def __str__(self):
        return f"Alert settings of {self.tenant}"


class Invitation(models.Model):
    """An invitation to join a tenant: a single-use link mailed to one address, valid a while.

    Only the SHA-256 hash of the link's token is stored; accepting it creates the user (or adds
    the membership to the signed-in one) and marks it accepted, so it never works twice.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField(_("email"))
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.OPERATOR)
    token_hash = models.CharField(max_length=64, unique=True)
    invited_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    cancelled_at = models.DateTimeField(_("cancelled at"), null=True, blank=True)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at"]
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")

    def __str__(self):
        return f"Invitation of {self.email} to {self.tenant}"

    @property
    def is_pending(self) -> bool:
        return self.accepted_at is None and self.cancelled_at is None and self.expires_at > timezone.now()


class SetupRequest(models.Model):
    """A member's request to set up an app that is not configured, told by email and listed.

    An operator's request goes to the tenant's admins (email and an item on their dashboard);
    a tenant admin's goes to the platform administrators (Django staff, by email).
    """

    class Audience(models.TextChoices):
        ADMINS = "admins", _("Company admins")
        STAFF = "staff", _("Platform administrators")

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="setup_requests")
    app = models.ForeignKey("catalog.App", on_delete=models.CASCADE, related_name="+")
    audience = models.CharField(_("told"), max_length=8, choices=Audience.choices)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at"]
        verbose_name = _("setup request")
        verbose_name_plural = _("setup requests")

    def __str__(self):
        return f"Set up {self.app} for {self.tenant}"


class TokenScope(models.TextChoices):
    """What an API token may do; each endpoint of /api names the one scope it needs."""

    READ = "read", _("Read: list and get connections (no secrets)")
    CHECK = "check", _("Check: check connections now")
    CREDENTIALS = "credentials", _("Credentials: fetch fresh credentials of connections")
    ATTEMPTS = "attempts", _("Attempts: create connections and test attempts")
    MANAGE = "manage", _("Manage: rename and revoke connections")
    PROXY = "proxy", _("Proxy: call apps through the credential proxy")


def default_token_scopes() -> list:
    """Return the scopes of a new token when none are chosen: least privilege."""
    return [TokenScope.READ.value]


class ApiToken(models.Model):
    """A tenant API token for flows. Only its SHA-256 hash is stored; it is shown once.

    It holds scopes (TokenScope), an optional expiry and, unless `all_connections`, the list of
    tenant and global connections it may use; any other connection looks missing to it.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=120)
    token_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(_("prefix"), max_length=16)
    scopes = models.JSONField(_("scopes"), default=default_token_scopes)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    # An explicit flag, not "an empty list means all": deleting the last listed connection
    # must never widen a token to every connection.
    all_connections = models.BooleanField(_("all connections"), default=True)
    connections = models.ManyToManyField("Connection", blank=True, related_name="+")
    global_connections = models.ManyToManyField("GlobalConnection", blank=True, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    last_used_from = models.GenericIPAddressField(_("last used from"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_live(self) -> bool:
        return self.revoked_at is None and not self.is_expired

    def has_scope(self, scope) -> bool:
        return str(scope) in (self.scopes or [])

    def may_use(self, connection) -> bool:
        """Return whether this token may see and use the (tenant or global) connection."""
        if isinstance(connection, GlobalConnection):
            return self.all_connections or self.global_connections.filter(pk=connection.pk).exists()
        if connection.tenant_id != self.tenant_id:
            return False
        return self.all_connections or self.connections.filter(pk=connection.pk).exists()


class TenantOAuthClient(models.Model):
    """A company's own registration with an OAuth provider ("bring your own app").

    Allowed per app by system administrators (App.tenant_clients_allowed). The secret lives in
    the vault and is never shown again. A replaced or removed client is retired, not deleted:
    the connections it minted keep pointing at it, so they are told to re-authorize instead of
    silently falling back to the platform's client.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="oauth_clients")
    app = models.ForeignKey("catalog.App", on_delete=models.CASCADE, related_name="tenant_clients")
    client_id = models.CharField(_("client id"), max_length=255)
    client_secret = models.ForeignKey(
        "vault.Secret", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    retired_at = models.DateTimeField(_("retired at"), null=True, blank=True)
    retired_reason = models.CharField(_("retired because"), max_length=16, blank=True)  # replaced | removed

    all_objects = models.Manager()
    objects = TenantScopedManager()

    scopes_override = ()  # only the platform's registration overrides the spec's scopes

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at"]
        verbose_name = _("company OAuth client")
        verbose_name_plural = _("company OAuth clients")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "app"], condition=Q(retired_at__isnull=True),
                name="tenant_oauth_client_one_live",
            )
        ]

    def __str__(self):
        return f"{self.tenant}'s OAuth client for {self.app}"

    @property
    def redirect_uri(self) -> str:
        return self.app.redirect_uri

    @property
    def is_live(self) -> bool:
        return self.retired_at is None


class Attempt(models.Model):
    """One try at creating or re-authorizing a connection."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        SUCCEEDED = "succeeded", _("Succeeded")
        FAILED = "failed", _("Failed")
        ABANDONED = "abandoned", _("Abandoned")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="attempts")
    app = models.ForeignKey("catalog.App", on_delete=models.PROTECT, related_name="attempts")
    name = models.CharField(_("name"), max_length=120)
    scopes = models.JSONField(_("requested scopes"), default=list, blank=True)
    config = models.JSONField(_("settings"), default=dict, blank=True)  # non-secret field values
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    error_code = models.CharField(_("error code"), max_length=32, choices=ErrorCode.choices, blank=True)
    error_message = models.TextField(_("error message"), blank=True)
    state_hash = models.CharField(max_length=64, blank=True, db_index=True)
    # PKCE verifier, OAuth1 request-token secret, or typed secret fields: never in this row.
    pending_secret = models.ForeignKey(
        "vault.Secret", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    expires_at = models.DateTimeField(_("expires at"))
    connection = models.ForeignKey(
        "Connection", on_delete=models.SET_NULL, null=True, blank=True, related_name="attempts",
        help_text=_("The connection this attempt produced or re-authorizes."),
    )
    global_connection = models.ForeignKey(
        "GlobalConnection", on_delete=models.SET_NULL, null=True, blank=True, related_name="attempts",
    )
    is_reauthorization = models.BooleanField(default=False)
    # The company's own OAuth client this attempt goes through (null: the platform's).
    oauth_client = models.ForeignKey(
        TenantOAuthClient, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The connection's authorized_at when a re-authorization started: one that finds another
    # authorization in place (a newer re-authorization won) is stale and refused.
    connection_authorized_at = models.DateTimeField(null=True, blank=True)
    # Started without a browser session (API token): the callback needs a member's confirmation.
    unbound = models.BooleanField(default=False)
    callback_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        help_text=_("Who landed on the callback of an unbound attempt (the only one who may confirm it)."),
    )
    account_label = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at"]
        verbose_name = _("attempt")
        verbose_name_plural = _("attempts")
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self):
        return f"Attempt {self.id} ({self.get_status_display()})"

    def get_absolute_url(self):
        return reverse("connections:attempt", args=[self.id])

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class BaseConnection(models.Model):
    """Fields shared by a tenant's connection and a global connection."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    app = models.ForeignKey("catalog.App", on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("name"), max_length=120)
    status = models.CharField(
        _("status"), max_length=16, choices=ConnectionStatus.choices, default=ConnectionStatus.ACTIVE
    )
    credentials = models.ForeignKey(
        "vault.Secret", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    config = models.JSONField(_("settings"), default=dict, blank=True)  # non-secret field values
    scopes = models.JSONField(_("granted scopes"), default=list, blank=True)
    account_label = models.CharField(_("account"), max_length=255, blank=True)
    authorized_at = models.DateTimeField(_("authorized at"), null=True, blank=True)
    expires_at = models.DateTimeField(_("access token expires at"), null=True, blank=True)
    last_refreshed_at = models.DateTimeField(_("last refreshed at"), null=True, blank=True)
    last_checked_at = models.DateTimeField(_("last checked at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(_("consecutive failures"), default=0)
    last_error_code = models.CharField(_("last error code"), max_length=32, choices=ErrorCode.choices, blank=True)
    last_error_message = models.TextField(_("last error message"), blank=True)
    rotation_flagged_at = models.DateTimeField(_("rotation flagged at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    version = models.PositiveIntegerField(default=0)  # compare-and-swap on credential writes
    # Which OAuth client minted the grant: the company's own, or null for the platform's.
    # Refresh, revoke and re-authorize use it (connections/auth/base.py, oauth_client_for).
    oauth_client = models.ForeignKey(
        TenantOAuthClient, on_delete=models.RESTRICT, null=True, blank=True, related_name="+",
        verbose_name=_("minted by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        abstract = True

    def __str__(self):
        return self.name

    @property
    def is_live(self) -> bool:
        return self.status != ConnectionStatus.REVOKED

    def is_rotation_due(self, now=None) -> bool:
        """Return whether the credentials are older than the rotation period (or were flagged)."""
        if self.status == ConnectionStatus.REVOKED:
            return False
        if self.rotation_flagged_at:
            return True
        limit = (now or timezone.now()) - timedelta(days=settings.ROTATION_PERIOD_DAYS)
        return bool(self.authorized_at and self.authorized_at < limit)


class Connection(BaseConnection):
    """An authorized, tested, encrypted link from a tenant to one account of one app."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="connections")
    app = models.ForeignKey("catalog.App", on_delete=models.PROTECT, related_name="connections")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["name"]
        verbose_name = _("connection")
        verbose_name_plural = _("connections")
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "app", "name"],
                condition=~Q(status="revoked"),
                name="connection_unique_live_name",
            )
        ]
        indexes = [
            models.Index(fields=["tenant", "status"]),
            models.Index(fields=["tenant", "app"]),
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["status", "last_checked_at"]),
        ]

    def get_absolute_url(self):
        return reverse("connections:detail", args=[self.id])

    def as_owner(self) -> dict:
        """Return the keyword that ties an Event, HealthCheck or Usage row to this connection."""
        return {"connection": self}


class GlobalConnection(BaseConnection):
    """A copy of a tenant's connection approved for every tenant, read-only to them."""

    app = models.ForeignKey("catalog.App", on_delete=models.PROTECT, related_name="global_connections")
    source_connection = models.ForeignKey(
        Connection, on_delete=models.SET_NULL, null=True, blank=True, related_name="global_copies"
    )
    source_tenant = models.ForeignKey(Tenant, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    published_at = models.DateTimeField(_("published at"), default=timezone.now)
    unpublished_at = models.DateTimeField(_("unpublished at"), null=True, blank=True)
    # Off: other tenants use it only through the credential proxy (/api/proxy/…); on: their
    # tokens with the credentials scope may also fetch the raw credentials.
    allow_credential_sharing = models.BooleanField(_("allow credential sharing"), default=False)

    objects = models.Manager()
    all_objects = models.Manager()  # the same rows: every tenant sees global connections

    class Meta:
        ordering = ["name"]
        verbose_name = _("global connection")
        verbose_name_plural = _("global connections")
        indexes = [
            models.Index(fields=["status", "expires_at"]),
            models.Index(fields=["status", "last_checked_at"]),
        ]

    def get_absolute_url(self):
        return reverse("connections:global_detail", args=[self.id])

    def as_owner(self) -> dict:
        """Return the keyword that ties an Event, HealthCheck or Usage row to this connection."""
        return {"global_connection": self}


class PublicationRequest(models.Model):
    """A tenant admin's request to publish a connection to every tenant."""

    class Status(models.TextChoices):
        PENDING = "pending", _("Pending")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Rejected")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="publication_requests")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(_("reason"))
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    review_note = models.TextField(_("review note"), blank=True)
    global_connection = models.ForeignKey(
        GlobalConnection, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("publication request")
        verbose_name_plural = _("publication requests")
        permissions = [("review_publicationrequest", "Can approve or reject publication requests")]
        constraints = [
            models.UniqueConstraint(
                fields=["connection"], condition=Q(status="pending"), name="publication_one_open_request"
            )
        ]

    def __str__(self):
        return f"Publication of {self.connection} ({self.get_status_display()})"


class Event(models.Model):
    """One line of a connection's audit timeline. Detail never holds a secret."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="events")
    global_connection = models.ForeignKey(
        GlobalConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    kind = models.CharField(_("kind"), max_length=48, choices=EventKind.choices)
    detail = models.JSONField(_("detail"), default=dict, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at", "-id"]
        verbose_name = _("event")
        verbose_name_plural = _("events")
        indexes = [
            models.Index(fields=["connection", "-created_at"]),
            models.Index(fields=["global_connection", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.kind} at {self.created_at:%Y-%m-%d %H:%M}"


class HealthCheck(models.Model):
    """The result of one test, check or refresh, kept for a bounded history."""

    class Kind(models.TextChoices):
        TEST = "test", _("Test")
        CHECK = "check", _("Check")
        REFRESH = "refresh", _("Refresh")

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="health")
    global_connection = models.ForeignKey(
        GlobalConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="health"
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    ok = models.BooleanField()
    error_code = models.CharField(max_length=32, choices=ErrorCode.choices, blank=True)
    message = models.TextField(blank=True)
    http_status = models.PositiveSmallIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["connection", "-created_at"]),
            models.Index(fields=["global_connection", "-created_at"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {'ok' if self.ok else self.error_code}"


class Usage(models.Model):
    """Which consumer (a flow, a board) used a connection, how often and when last."""

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="usages")
    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="usages")
    global_connection = models.ForeignKey(
        GlobalConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="usages"
    )
    consumer = models.CharField(_("consumer"), max_length=200)
    count = models.PositiveIntegerField(default=0)
    first_used_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-last_used_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["tenant", "connection", "consumer"],
                condition=Q(connection__isnull=False),
                name="usage_unique_connection_consumer",
            ),
            models.UniqueConstraint(
                fields=["tenant", "global_connection", "consumer"],
                condition=Q(global_connection__isnull=False),
                name="usage_unique_global_consumer",
            ),
        ]

    def __str__(self):
        return f"{self.consumer} ({self.count})"


# The session caches the user's theme, so rendering a page costs no query.
SESSION_THEME = "ui_theme"


class UiPreference(models.Model):
    """One user's dashboard preferences, kept across sessions and devices."""

    class Theme(models.TextChoices):
        SYSTEM = "system", _("System")
        LIGHT = "light", _("Light")
        DARK = "dark", _("Dark")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="ui_preference",
        verbose_name=_("user"),
    )
    theme = models.CharField(_("theme"), max_length=8, choices=Theme.choices, default=Theme.SYSTEM)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("UI preference")
        verbose_name_plural = _("UI preferences")

    def __str__(self):
        return f"{self.user} · {self.theme}"


class WebhookDelivery(models.Model):
    """One attempt to POST a message to a tenant's webhook, for the delivery log.

    It keeps the URL only as `outbound.display_url` shows it (a webhook's path and query often
    carry its own secret) and never the body, the headers or the signature.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="webhook_deliveries")
    message_id = models.CharField(_("message id"), max_length=64)  # the webhook-id header
    event_type = models.CharField(_("event"), max_length=64)
    url = models.CharField(_("address"), max_length=300)  # outbound.display_url, never the query
    status_code = models.PositiveSmallIntegerField(_("status code"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=200, blank=True)  # safe to show (no URL)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    retry = models.PositiveSmallIntegerField(_("retry"), default=0)  # 0: the first attempt
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "-created_at", "-id"], name="webhook_delivery_log")]
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")

    def __str__(self):
        return f"{self.event_type} {self.status_code or self.error or '-'}"

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class ProxyCall(models.Model):
    """One call through the credential proxy: who, what (method, path without query values), outcome.

    Never a body, a header or a query value: `path` keeps the query's parameter names only.
    """

    tenant = models.ForeignKey(Tenant, on_delete=models.CASCADE, related_name="proxy_calls")
    connection = models.ForeignKey(
        Connection, on_delete=models.CASCADE, null=True, blank=True, related_name="proxy_calls"
    )
    global_connection = models.ForeignKey(
        GlobalConnection, on_delete=models.CASCADE, null=True, blank=True, related_name="proxy_calls"
    )
    token = models.ForeignKey(ApiToken, on_delete=models.SET_NULL, null=True, blank=True, related_name="+")
    consumer = models.CharField(_("consumer"), max_length=200)
    method = models.CharField(_("method"), max_length=10)
    path = models.CharField(_("path"), max_length=500)
    status = models.PositiveSmallIntegerField(_("status"))
    error_code = models.CharField(_("error code"), max_length=32, blank=True)
    duration_ms = models.PositiveIntegerField(_("duration (ms)"), default=0)
    request_bytes = models.PositiveBigIntegerField(_("request bytes"), default=0)
    response_bytes = models.PositiveBigIntegerField(_("response bytes"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    all_objects = models.Manager()
    objects = TenantScopedManager()

    class Meta:
        default_manager_name = "all_objects"
        ordering = ["-created_at", "-id"]
        verbose_name = _("proxy call")
        verbose_name_plural = _("proxy calls")
        indexes = [
            models.Index(fields=["tenant", "-created_at"]),
            models.Index(fields=["connection", "-created_at"]),
            models.Index(fields=["global_connection", "-created_at"]),
            models.Index(fields=["created_at"], name="proxycall_created_at"),  # the daily prune
        ]

    def __str__(self):
        return f"{self.method} {self.path} → {self.status}"
