import secrets
import sys

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from connections.models import Member, Role, Tenant


class Command(BaseCommand):
    help = (
        "Add a user to a tenant with a role, creating the user when missing. "
        "Example: echo 'a-long-password' | add_member acme alice --role operator --password-stdin"
    )

    stealth_options = ("stdin",)

    def add_arguments(self, parser):
        parser.add_argument("tenant_slug", help="The tenant's slug (see create_tenant).")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, help="admin, operator or viewer.")
        parser.add_argument("--email", default="", help="Email for a new user (alerts are sent there).")
        parser.add_argument(
            "--password-stdin", action="store_true",
            help="Read the password of a new user from standard input (first line).",
        )
        parser.add_argument(
            "--reset-password", action="store_true",
            help="Replace an existing user's password (from --password-stdin, or generated and "
            "printed once); this signs them out everywhere.",
        )

    def handle(
        self, *args, tenant_slug, username, role, email="", password_stdin=False,
        reset_password=False, **options,
    ):
        role = role.strip().lower()
        if role not in Role.values:
            raise CommandError(f"Unknown role {role!r}: use one of {', '.join(Role.values)}.")
        tenant = Tenant.objects.filter(slug=tenant_slug).first()
        if tenant is None:
            known = ", ".join(Tenant.objects.order_by("slug").values_list("slug", flat=True)[:20]) or "none yet"
            raise CommandError(
                f"Unknown tenant {tenant_slug!r} (known: {known}). Create it with: manage.py create_tenant NAME --slug {tenant_slug}"
            )
        username = username.strip()
        if not username:
            raise CommandError("The username is empty.")

        password = None
        if password_stdin:
            stdin = options.get("stdin") or sys.stdin
            password = (stdin.readline() or "").rstrip("\r\n")
            if not password:
                raise CommandError("--password-stdin was given but standard input has no password.")

        User = get_user_model()
        with transaction.atomic():
            user = User.objects.filter(username=username).first()
            created_user = user is None
            if not created_user and password is not None and not reset_password:
                # The person may not be who the caller thinks: never take over a sign-in silently.
                raise CommandError(
                    f"User {username} already exists; its password was not changed and nothing "
                    "was done. Run again without --password-stdin to add the user with the "
                    "password they have, or add --reset-password to replace it (this signs "
                    "them out everywhere)."
                )
            if created_user:
                user = User(username=username, email=email)
            generated = None
            if password is None and (created_user or reset_password):
                generated = secrets.token_urlsafe(12)
            new_password = password or generated
            if new_password is not None:
                try:
                    validate_password(new_password, user)
                except ValidationError as exc:
                    raise CommandError("Password refused: " + " ".join(exc.messages)) from None
                user.set_password(new_password)
            user.save()

            member = Member.objects.filter(user=user, tenant=tenant).first()
            if member is None:
                member = Member.objects.create(user=user, tenant=tenant, role=role)
                action = f"Added {username} to {tenant.name} as {member.get_role_display().lower()}."
            elif member.role != role:
                old = member.get_role_display().lower()
                member.role = role
                member.save(update_fields=["role"])
                action = f"Changed {username}'s role in {tenant.name} from {old} to {member.get_role_display().lower()}."
            else:
                action = f"{username} is already {member.get_role_display().lower()} of {tenant.name}."

        if created_user:
            self.stdout.write(f"Created user {username}.")
        elif new_password is not None:
            self.stdout.write(f"Set a new password for {username}; they are signed out.")
        else:
            self.stdout.write(f"{username} already exists; the password was not changed.")
        self.stdout.write(self.style.SUCCESS(action))
        if generated:
            self.stdout.write(f"Password for {username} (shown once): {generated}")
