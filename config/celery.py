"""The Celery app: configured from Django settings (CELERY_*), tasks found in each app."""

import os

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("app_connections")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Seconds a worker process keeps its database connection between tasks. Tasks are small (a
# dozen queries), so opening a connection per task would cost as much as the task itself.
WORKER_CONN_MAX_AGE = int(os.environ.get("WORKER_CONN_MAX_AGE", "300"))


@worker_process_init.connect
def _keep_database_connections(**kwargs):
    from django.db import connections

    for alias in connections:
        connections[alias].settings_dict["CONN_MAX_AGE"] = WORKER_CONN_MAX_AGE
        connections[alias].settings_dict["CONN_HEALTH_CHECKS"] = True
        connections[alias].close()  # never share the parent's connection with a forked child


@worker_init.connect
@beat_init.connect
def _refuse_to_start_without_vault_keys(**kwargs):
    from django.core.exceptions import ImproperlyConfigured

    from vault.checks import require_keyring

    try:
        require_keyring()
    except ImproperlyConfigured as exc:
        # Celery logs and swallows exceptions from signal handlers; SystemExit it does not.
        raise SystemExit(f"ImproperlyConfigured: {exc}") from None
