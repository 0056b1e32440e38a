import logging

from django.apps import AppConfig


class SandboxConfig(AppConfig):
    name = "sandbox"
    verbose_name = "Sandbox provider"

    def ready(self):
        # oauthlib logs codes and tokens at DEBUG; keep them out of the logs even when LOG_LEVEL=DEBUG.
        logging.getLogger("oauthlib").setLevel(logging.INFO)
