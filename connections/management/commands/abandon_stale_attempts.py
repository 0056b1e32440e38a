"""Mark pending attempts past their lifetime as abandoned, once, in this process."""

from django.core.management.base import BaseCommand

from connections import locks
from connections.services.attempts import attempts_abandon_stale


class Command(BaseCommand):
    help = "Abandon pending attempts older than ATTEMPT_LIFETIME and destroy their pending secrets."

    def handle(self, *args, **options):
        with locks.lease("sweep:attempts", ttl=600) as mine:
            if not mine:
                self.stdout.write("Another run is in progress; nothing done.")
                return
            count = attempts_abandon_stale()
        self.stdout.write(f"Abandoned {count} stale attempt{'s' if count != 1 else ''}")
