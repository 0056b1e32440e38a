"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init
from django.core.checks import Error, Tags, register

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("app_connections")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Seconds a worker process keeps its database connection between tasks. Tasks are small (a
# dozen queries), so opening a connection per task would cost as much as the task itself.
WORKER_CONN_MAX_AGE = int(os.environ.get("WORKER_CONN_MAX_AGE", "300"))


@worker_process_init.connect
def _keep_database_connections(**kwargs):
    from django.db import connections  # this module loads before Django is set up

    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = WORKER_CONN_MAX_AGE
        connections[alias].settings_dict["CONN_HEALTH_CHECKS"] = True
        connections[alias].close()  # never share the parent's connection with a forked child


@worker_init.connect
@beat_init.connect
def _refuse_to_start_without_vault_keys(**kwargs):
    # This module loads before Django is set up (config/__init__.py): import when called.
    from django.core.exceptions import ImproperlyConfigured

    from vault.checks import require_keyring

    try:
        require_keyring()
    except ImproperlyConfigured as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit it does not.
        raise SystemExit(f"ImproperlyConfigured: {exc}") from None


@register(Tags.compatibility)
def check_task_time_limits(app_configs=None, **kwargs):
    """Refuse time limits and delays that would let the broker deliver a running task twice."""
    from django.conf import settings  # this module loads before Django is set up

    errors = []
    soft, hard = settings.CELERY_TASK_SOFT_TIME_LIMIT, settings.CELERY_TASK_TIME_LIMIT
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    visibility = options.get("visibility_timeout")
    if not soft < hard:
        errors.append(Error(
            f"CELERY_TASK_SOFT_TIME_LIMIT ({soft}) must be below CELERY_TASK_TIME_LIMIT ({hard}).",
            id="config.E101",
        ))
    if visibility is not None:
        from connections.tasks import BACKOFF_CAP  # the tasks need the app registry

        longest = max(hard, getattr(settings, "CHECK_SPREAD", 0), BACKOFF_CAP)
        if not longest < visibility:
            errors.append(Error(
                f"The broker's visibility timeout ({visibility} s) must exceed the hard time limit, "
                f"the check spread and the retry backoff cap ({longest} s), or tasks run twice.",
                hint="Raise CELERY_VISIBILITY_TIMEOUT or lower CELERY_TASK_TIME_LIMIT / CHECK_SPREAD.",
                id="config.E102",
            ))
    return errors
