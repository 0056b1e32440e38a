"""Re-encrypt every secret under the primary key of VAULT_KEYS."""

import sys

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from vault.keyring import KeyringError
from vault.services import ROTATION_BATCH_SIZE, RotationReport, get_keyring, secrets_rotate


def _by_key(counter) -> str:
    return "{" + ", ".join(f"{key_id}: {n}" for key_id, n in sorted(counter.items())) + "}"


class Command(BaseCommand):
    help = (
        "Re-encrypt every secret that is not under the primary (first) key of VAULT_KEYS. "
        "Put the new key first and keep the old ones after it, run this, then drop the old keys. "
        "Safe to run while the application serves requests, and to run again after a crash."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size",
            type=int,
            default=ROTATION_BATCH_SIZE,
            help=f"Secrets per transaction (default {ROTATION_BATCH_SIZE}).",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="Open every secret that would be re-encrypted, and report, without writing.",
        )

    def handle(self, *args, batch_size, dry_run, verbosity, **options):
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            keyring = get_keyring()
        except KeyringError as exc:
            raise CommandError(str(exc)) from None
        self.verbosity = verbosity
        self.bar = None
        try:
            report = secrets_rotate(batch_size=batch_size, dry_run=dry_run, on_batch=self.progress)
        finally:
            if self.bar is not None:
                self.bar.close()
        self.summarize(report, keyring_size=len(keyring.keys))
        if report.problems:
            raise CommandError(
                f"{report.problems} secret(s) are not under key {report.primary_id}; "
                f"see the messages above."
            )

    def progress(self, report: RotationReport, handled: int) -> None:
        """Advance the progress bar (a TTY), or print one line per batch (a log)."""
        if self.verbosity < 1:
            return
        if self.stderr.isatty():
            if self.bar is None:
                self.bar = tqdm(
                    total=report.to_rotate,
                    unit="secret",
                    desc=f"Re-encrypting to {report.primary_id}",
                    file=getattr(self.stderr, "_out", sys.stderr),
                    dynamic_ncols=True,
                )
            self.bar.update(handled)
            return
        done = report.rotated_total + report.failed
        self.stderr.write(
            f"Batch {report.batches}: {done}/{report.to_rotate} secrets handled "
            f"({report.rotated_total} {'to re-encrypt' if report.dry_run else 're-encrypted'}, "
            f"{report.failed} failed)."
        )

    def summarize(self, report: RotationReport, *, keyring_size: int) -> None:
        primary = report.primary_id
        if report.dry_run:
            self.stdout.write(
                f"Dry run: would re-encrypt {report.rotated_total} secrets from keys "
                f"{_by_key(report.rotated)} to {primary}; {report.already_current} already "
                f"current (checked in {report.seconds:.1f}s)."
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Re-encrypted {report.rotated_total} secrets from keys "
                    f"{_by_key(report.rotated)} to {primary} in {report.seconds:.1f}s; "
                    f"{report.already_current} already current."
                )
            )
        for key_id, n in sorted(report.unknown.items()):
            examples = ", ".join(str(pk) for pk in report.unknown_examples.get(key_id, []))
            self.stderr.write(
                self.style.ERROR(
                    f"{n} secret(s) are sealed with key {key_id!r}, which is not in VAULT_KEYS "
                    f"(for example {examples}). Add {key_id!r} back to VAULT_KEYS after the "
                    f"primary key and run this command again."
                )
            )
        if report.failed:
            examples = ", ".join(str(pk) for pk in report.failed_examples)
            self.stderr.write(
                self.style.ERROR(
                    f"{report.failed} secret(s) failed authentication and were left as they are "
                    f"(tampered, corrupted, or a key in VAULT_KEYS has the right id but the "
                    f"wrong bytes); for example {examples}."
                )
            )
        if report.leftover:
            self.stderr.write(
                self.style.WARNING(
                    f"{report.leftover} secret(s) were written under an old key during the run "
                    f"(by a process that still has the old VAULT_KEYS, or locked by another "
                    f"transaction). Run this command again once every process uses the new keys."
                )
            )
        if not report.problems and not report.dry_run and keyring_size > 1 and self.verbosity:
            self.stdout.write(
                f"Every secret is under {primary}; the other keys can now be removed from "
                f"VAULT_KEYS."
            )
