"""Check every connection due (last check older than CHECK_INTERVAL), once, in this process."""

import sys

from django.conf import settings
from django.core.management.base import BaseCommand
from tqdm import tqdm

from connections.models import HealthCheck
from connections.services import sweeps


class Command(BaseCommand):
    help = "Check due connections (or --all live ones) once, without a worker, honouring CHECKS_PER_APP."

    def add_arguments(self, parser):
        parser.add_argument("--all", action="store_true", dest="everything",
                            help="Check every live connection now, however recently it was checked.")
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args, everything=False, quiet=False, **options):
        ok = failed = skipped = 0
        wait = float(settings.HTTP_TIMEOUT) * 3 + 30
        refs = tqdm(sweeps.due_for_check(everything=everything), desc="Checking", unit=" connections",
                    file=sys.stderr, disable=quiet, mininterval=1.0)
        for kind, pk in refs:
            try:
                result = sweeps.check_one(kind, pk, force=everything, slot_wait=wait)
            except sweeps.ChecksFull:
                skipped += 1
                continue
            if not isinstance(result, HealthCheck):
                skipped += 1
            elif result.ok:
                ok += 1
            else:
                failed += 1
                self.stderr.write(f"{kind} {pk}: {result.message}")
        self.stdout.write(f"Checked {ok + failed}: {ok} ok, {failed} failed, {skipped} skipped")
