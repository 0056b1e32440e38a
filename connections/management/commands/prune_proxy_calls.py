"""Delete the usage rows of proxied calls older than PROXY_CALL_RETENTION_DAYS, once, in this process."""

from django.conf import settings
from django.core.management.base import BaseCommand

from connections import locks
from connections.services.usage import proxy_calls_prune


class Command(BaseCommand):
    help = "Delete ProxyCall rows older than PROXY_CALL_RETENTION_DAYS (the beat does it daily)."

    def handle(self, *args, **options):
        with locks.lease("sweep:proxy-calls", ttl=3600) as mine:
            if not mine:
                self.stdout.write("Another run is in progress; nothing done.")
                return
            count = proxy_calls_prune()
        days = settings.PROXY_CALL_RETENTION_DAYS
        self.stdout.write(f"Deleted {count} proxy call{'s' if count != 1 else ''} older than {days} days")
