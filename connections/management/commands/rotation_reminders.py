"""Flag connections due for credential rotation and tell tenant admins, once, in this process."""

from django.core.management.base import BaseCommand

from connections import locks
from connections.services.rotation import rotation_reminders_send


class Command(BaseCommand):
    help = "Flag connections authorized longer than ROTATION_PERIOD_DAYS ago and email their admins."

    def handle(self, *args, **options):
        with locks.lease("sweep:rotation", ttl=3600) as mine:
            if not mine:
                self.stdout.write("Another rotation reminder run is in progress; nothing done.")
                return
            flagged = rotation_reminders_send()
        self.stdout.write(f"Flagged {flagged} connection{'s' if flagged != 1 else ''} for rotation")
