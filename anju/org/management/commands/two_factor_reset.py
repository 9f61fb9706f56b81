"""``manage.py two_factor_reset USERNAME --reason "…" --operator NAME``: remove a user's
authenticator and recovery codes from the server, for when no administrator can sign in
(the only administrator lost phone and codes). Audited under the operator's name."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from anju.core.context import use_context
from anju.core.errors import ApplicationError
from anju.org.models import User
from anju.org.services import two_factor


class Command(BaseCommand):
    help = "Reset a user's two-factor sign-in (they set it up again at their next sign-in); audited."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--reason", required=True, help="Why, e.g. the ticket number and how identity was checked.")
        parser.add_argument("--operator", required=True, help="Who runs this (recorded in the audit trail).")

    def handle(self, *args, username: str, reason: str, operator: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"No user named {username!r}.")
        if not operator.strip():
            raise CommandError("--operator must name the person running this.")
        try:
            with use_context(source="cli"):
                removed = two_factor.two_factor_reset_by_operator(user=user, reason=reason, operator=operator.strip())
        except ApplicationError as exc:
            raise CommandError(str(exc.message)) from None
        self.stdout.write(f"{username}: {removed} device(s) removed, sessions ended; set up again at next sign-in.")
