"""Failure switches and request counters of the sandbox, kept in the database.

Every process (web, worker, tests) sees the same rows. A switch fires for the next `count`
matching requests; each firing decrements it with a conditional UPDATE, so N concurrent
requests consume exactly N firings.

Modes, per target endpoint:
- "500": answer 500 {"error": "server_error"}.
- "429": answer 429 {"error": "rate_limited"} with `Retry-After: <retry_after>`.
- "hang": sleep `seconds`, then answer NORMALLY (a client with a shorter timeout sees a timeout).
- "invalid_grant": token and revoke endpoints answer 400 {"error": "invalid_grant"};
  the API answers 401 {"error": "invalid_token"} (credentials rejected).

Targets: "token" (OAuth2 token endpoint and the OAuth1 request/access token endpoints),
"api" (/sandbox/api/me), "revoke" (OAuth2 revocation), "all" (every one of those).
"""

from django.db import transaction
from django.db.models import F

from .models import Counter, Switch, SwitchMode, SwitchTarget

TARGETS = tuple(SwitchTarget.values)
MODES = tuple(SwitchMode.values)
# Bounds, so that arming a switch cannot hold the server's threads for long.
MAX_SECONDS = 30.0
MAX_COUNT = 100
MAX_RETRY_AFTER = 3600


def set_switch(target: str, mode: str, count: int = 1, seconds: float = 0, retry_after: int = 1) -> Switch:
    """Arm a failure for the next `count` requests to `target`."""
    if target not in TARGETS:
        raise ValueError(f"unknown switch target {target!r}; use one of {', '.join(TARGETS)}")
    if mode not in MODES:
        raise ValueError(f"unknown switch mode {mode!r}; use one of {', '.join(MODES)}")
    if not 1 <= count <= MAX_COUNT:
        raise ValueError(f"count must be from 1 to {MAX_COUNT}")
    if not 0 <= seconds <= MAX_SECONDS:  # also refuses NaN and infinity
        raise ValueError(f"seconds must be from 0 to {MAX_SECONDS:g}")
    if not 0 <= retry_after <= MAX_RETRY_AFTER:
        raise ValueError(f"retry_after must be from 0 to {MAX_RETRY_AFTER}")
    return Switch.objects.create(
        target=target, mode=mode, remaining=count, seconds=seconds, retry_after=retry_after
    )


def reset() -> None:
    """Disarm every switch."""
    Switch.objects.all().delete()


def active() -> list[Switch]:
    """Return the switches that will still fire."""
    return list(Switch.objects.filter(remaining__gt=0))


def consume(target: str) -> Switch | None:
    """Fire the oldest armed switch for `target` (or "all") and return it, or None."""
    for switch in Switch.objects.filter(target__in=[target, SwitchTarget.ALL], remaining__gt=0):
        if Switch.objects.filter(pk=switch.pk, remaining__gt=0).update(remaining=F("remaining") - 1):
            return switch
    return None


def hit(endpoint: str) -> None:
    """Count one request to `endpoint`."""
    if Counter.objects.filter(endpoint=endpoint).update(value=F("value") + 1):
        return
    with transaction.atomic():
        counter, _ = Counter.objects.select_for_update().get_or_create(endpoint=endpoint)
        Counter.objects.filter(pk=counter.pk).update(value=F("value") + 1)


def count(endpoint: str) -> int:
    """Return how many requests `endpoint` received ("token", "api", "revoke", "authorize", …)."""
    return Counter.objects.filter(endpoint=endpoint).values_list("value", flat=True).first() or 0


def counts() -> dict[str, int]:
    """Return every endpoint's request count."""
    return dict(Counter.objects.values_list("endpoint", "value"))


def reset_counts() -> None:
    """Set every counter back to zero."""
    Counter.objects.all().delete()
