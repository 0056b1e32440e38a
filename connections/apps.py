from django.apps import AppConfig


class ConnectionsConfig(AppConfig):
    name = "connections"
    verbose_name = "Connections"

    def ready(self):
        from . import receivers  # noqa: F401  (connects the signal receivers; needs the app registry)
