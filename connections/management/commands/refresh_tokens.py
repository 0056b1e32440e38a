"""Refresh every OAuth2 access token due within REFRESH_WINDOW, once, in this process (no worker)."""

import sys

from django.core.management.base import BaseCommand
from tqdm import tqdm

from connections.errors import ConnectionFailure
from connections.services import refresh, sweeps


class Command(BaseCommand):
    help = "Refresh due OAuth2 access tokens (tenant and global connections) once, without a worker."

    def add_arguments(self, parser):
        parser.add_argument("--quiet", action="store_true", help="No progress bar.")

    def handle(self, *args, quiet=False, **options):
        refreshed = failed = fresh = busy = 0
        refs = tqdm(sweeps.due_for_refresh(), desc="Refreshing", unit=" connections", file=sys.stderr,
                    disable=quiet, mininterval=1.0)
        for kind, pk in refs:
            try:
                outcome = sweeps.refresh_one(kind, pk)
            except refresh.RefreshBusy:
                busy += 1
            except ConnectionFailure as failure:
                failed += 1
                self.stderr.write(f"{kind} {pk}: {failure.message}")
            else:
                refreshed += outcome == "refreshed"
                fresh += outcome != "refreshed"
        summary = f"Refreshed {refreshed}, {failed} failed, {fresh} skipped (fresh)"
        if busy:
            summary += f", {busy} skipped (being refreshed elsewhere)"
        self.stdout.write(summary)
