"""The audit timeline: one Event per thing that happened to a connection."""

from ..models import Event, EventKind

# Keys that would mean a secret is about to be written into an Event.
FORBIDDEN_DETAIL_KEYS = frozenset(
    {
        "access_token", "refresh_token", "token", "client_secret", "password", "api_key",
        "code_verifier", "oauth_token_secret", "secret", "credentials", "headers", "query",
    }
)


def _check_detail(detail, path="detail"):
    if isinstance(detail, dict):
        for key, value in detail.items():
            if str(key).lower() in FORBIDDEN_DETAIL_KEYS:
                raise ValueError(f"Event {path} must not hold {key!r}: secrets never go into events.")
            _check_detail(value, f"{path}.{key}")
    elif isinstance(detail, (list, tuple)):
        for index, value in enumerate(detail):
            _check_detail(value, f"{path}[{index}]")


def event_record(
    *, kind: str, connection=None, global_connection=None, tenant=None, actor=None, detail=None
) -> Event:
    """Write one Event; tenant defaults to the connection's, actor None means the system."""
    kind = EventKind(kind)  # an unknown kind is a bug: every kind has its words (presenters.py)
    detail = dict(detail or {})
    _check_detail(detail)
    tenant_id = tenant.pk if tenant is not None else None
    if tenant_id is None and connection is not None:
        tenant_id = connection.tenant_id
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    return Event.all_objects.create(
        kind=kind,
        connection=connection,
        global_connection=global_connection,
        tenant_id=tenant_id,
        actor=actor,
        detail=detail,
    )
