"""``manage.py seed_demo [--scale N] [--if-empty]``: create the demo company (see ``anju.org.demo``)."""

from __future__ import annotations

import argparse
import unicodedata

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError
from anju.org import demo


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _width(text: str) -> int:
    """Display width in a terminal: Chinese characters take two columns."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def _pad(text: str, width: int) -> str:
    return text + " " * (width - _width(text))


class _ProgressSink:
    """Lets tqdm draw on the command's stderr (``OutputWrapper`` would add newlines and colour)."""

    def __init__(self, wrapper):
        self.wrapper = wrapper
        self.encoding = getattr(wrapper, "encoding", None)  # tqdm draws Unicode blocks only if it may

    def write(self, text: str) -> None:
        self.wrapper.write(text, style_func=lambda x: x, ending="")

    def flush(self) -> None:
        self.wrapper.flush()


class Command(BaseCommand):
    help = "Create a demo company with branches, teams and staff, and print the demo logins."

    def add_arguments(self, parser):
        parser.add_argument(
            "--scale", type=positive_int, default=1, help="Multiply the volume of generated records (default 1)."
        )
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing (and succeed) when the database already holds data."
        )

    def handle(self, *args, scale: int, if_empty: bool, verbosity: int, **options):
        if if_empty and demo.database_has_data():
            return
        try:
            ctx = demo.seed(scale=scale, progress_file=_ProgressSink(self.stderr) if verbosity > 0 else None)
        except demo.SeedError as exc:
            raise CommandError(str(exc)) from None
        except ApplicationError as exc:
            raise CommandError(_("Seeding failed, nothing was saved: %(message)s") % {"message": exc.message}) from None
        if verbosity == 0:
            return
        self.stdout.write(self.style.SUCCESS(_("Demo company “%(name)s” created.") % {"name": ctx.company.name}))
        for label, count in ctx.summary.items():
            self.stdout.write(f"  {label}: {count}")
        self.stdout.write("")
        self._print_logins(demo.demo_logins(ctx))
        self.stdout.write(_("Password for every demo user: %(password)s") % {"password": settings.ANJU_DEMO_PASSWORD})
        self.stdout.write(
            _(
                "Two-factor sign-in is off in the demo (a new installation requires it of administrators and "
                "auditors); turn it on per role under Organisation → Roles."
            )
        )

    def _print_logins(self, rows: list[dict[str, str]]) -> None:
        columns = [
            ("username", _("Username")),
            ("name", _("Name")),
            ("role", _("Role")),
            ("branch", _("Branch")),
            ("team", _("Team")),
        ]
        widths = {key: max(_width(title), *(_width(row[key]) for row in rows)) for key, title in columns}
        self.stdout.write("  ".join(_pad(title, widths[key]) for key, title in columns).rstrip())
        self.stdout.write("  ".join("-" * widths[key] for key, _title in columns))
        for row in rows:
            self.stdout.write("  ".join(_pad(row[key], widths[key]) for key, _title in columns).rstrip())
