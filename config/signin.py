"""Sign-in under attack: the client address django-axes counts failures for, its lockout page,
and the password reset by email with a throttle of its own.

Axes records each failed sign-in (ours at /accounts/login/ and the admin's at /admin/login/: both
call `authenticate` with the request) for the pair (username, client address). The address is
REMOTE_ADDR, or, with BEHIND_PROXY, the entry our proxies appended to X-Forwarded-For: entries to
its left are whatever the client sent and are never believed, so a forged header cannot give an
attacker a fresh counter per request.
"""

import hashlib
import math
from datetime import timedelta

from axes.backends import AxesStandaloneBackend
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_cool_off, get_failure_limit
from axes.utils import reset as axes_reset
from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.db.models import Max
from django.shortcuts import render
from django.utils import timezone

from connections.middleware import client_ip

RESET_KEY_PREFIX = "password-reset:"


class SignInBackend(AxesStandaloneBackend, ModelBackend):
    """Refuse a locked-out username and address before hashing anything, then check the password."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        # Raises PermissionDenied (a failed sign-in, counted) when the pair is locked out.
        AxesStandaloneBackend.authenticate(self, request, username, password, **kwargs)
        return ModelBackend.authenticate(self, request, username, password, **kwargs)


def lockout_response(request, original_response, credentials):
    """Render the lockout page: sign-in for this username from here is paused until a given time."""
    cool_off = get_cool_off(request)
    attempts = AxesProxyHandler.get_implementation().get_user_attempts(request, credentials)
    times = [qs.aggregate(last=Max("attempt_time"))["last"] for qs in attempts]
    retry_at = max((found for found in times if found), default=timezone.now()) + cool_off
    wait = max(retry_at - timezone.now(), timedelta(0))
    context = {
        "retry_at": retry_at,
        "minutes": max(math.ceil(wait.total_seconds() / 60), 1),
        "failure_limit": get_failure_limit(request, credentials),
        "login_url": request.path,
    }
    status = settings.AXES_HTTP_RESPONSE_CODE
    response = render(request, "registration/lockout.html", context, status=status)
    response["Retry-After"] = str(max(math.ceil(wait.total_seconds()), 1))
    return response


def reset_throttle_keys(*, address: str | None, emails: list[str]) -> list[str]:
    """Return the cache keys counting reset requests from an address and for each email."""
    keys = [f"{RESET_KEY_PREFIX}address:{address}"] if address else []
    for email in emails:
        digest = hashlib.sha256(email.strip().lower().encode()).hexdigest()
        keys.append(f"{RESET_KEY_PREFIX}email:{digest}")
    return keys


def _count_request(key: str) -> int:
    """Count one request under `key` in the current window and return the count."""
    cache.add(key, 0, timeout=settings.PASSWORD_RESET_WINDOW)
    try:
        return cache.incr(key)
    except ValueError:  # the window ended between add and incr
        cache.set(key, 1, timeout=settings.PASSWORD_RESET_WINDOW)
        return 1


class PasswordResetView(auth_views.PasswordResetView):
    """Mail a reset link on BASE_URL (never the Host header), a few times per address and email."""

    email_template_name = "registration/password_reset_email.txt"
    subject_template_name = "registration/password_reset_subject.txt"

    def form_valid(self, form):
        address, email = client_ip(self.request), form.cleaned_data["email"]
        keys = reset_throttle_keys(address=address, emails=[email])
        counts = [_count_request(key) for key in keys]
        if max(counts) > settings.PASSWORD_RESET_LIMIT:
            minutes = max(settings.PASSWORD_RESET_WINDOW // 60, 1)
            form.add_error(
                None,
                f"Too many reset requests from your network or for this email. "
                f"Try again within {minutes} minutes, or ask a system administrator.",
            )
            return self.render_to_response(self.get_context_data(form=form), status=429)
        self.extra_email_context = {
            "base_url": settings.BASE_URL,
            "valid_minutes": max(settings.PASSWORD_RESET_TIMEOUT // 60, 1),
        }
        return super().form_valid(form)


class PasswordResetConfirmView(auth_views.PasswordResetConfirmView):
    """Set the new password and lift the user's sign-in lockout: they proved they own the email."""

    def form_valid(self, form):
        response = super().form_valid(form)
        axes_reset(username=self.user.get_username())
        return response
