"""``manage.py compiletranslations [--force]``: .po → .mo with Babel, no GNU gettext needed.

Django's own ``compilemessages`` shells out to ``msgfmt``, which a bare machine lacks.
Catalogues whose .mo is newer than the .po are skipped; fuzzy entries are left out (as
``msgfmt`` does) and placeholder mismatches fail the command.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

from babel.core import UnknownLocaleError
from babel.messages.catalog import Catalog, Message
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError


def catalogue_files() -> list[Path]:
    """Every ``<LOCALE_PATH>/<lang>/LC_MESSAGES/*.po``."""
    return sorted(po for base in settings.LOCALE_PATHS for po in Path(base).glob("*/LC_MESSAGES/*.po"))


# Fresh catalogues from makemessages carry msgstr[0] and msgstr[1] even for Chinese, whose
# header says nplurals=1; the extra form is never used, so Babel dropping it is harmless.
HARMLESS = {"msg has more translations than num_plurals of catalog"}


def read_catalogue(po_path: Path) -> Catalog:
    """Parse ``po_path``; syntax errors fail with file and line, harmless oddities pass."""
    language = po_path.parent.parent.name
    with po_path.open("rb") as handle, contextlib.redirect_stdout(io.StringIO()) as warnings:
        try:
            catalog = read_po(handle, locale=language, domain=po_path.stem)
        except UnknownLocaleError:
            handle.seek(0)
            catalog = read_po(handle, domain=po_path.stem)
    # Babel reports each problem as two lines: "WARNING: <what>", "WARNING: Problem on line N: ...".
    lines = [line.removeprefix("WARNING: ") for line in warnings.getvalue().splitlines()]
    pairs = zip(lines[::2], lines[1::2], strict=False)
    problems = [f"{po_path}: {where}: {what}" for what, where in pairs if what not in HARMLESS]
    problems += [f"{po_path}:{message.lineno}: {error}" for message, errors in catalog.check() for error in errors]
    if problems:
        raise CommandError("Translation errors:\n" + "\n".join(problems))
    return catalog


def compile_catalogue(po_path: Path) -> int:
    """Write the .mo beside ``po_path`` (atomically, so a running server never reads half a file)."""
    catalog = read_catalogue(po_path)
    mo_path = po_path.with_suffix(".mo")
    fd, tmp_name = tempfile.mkstemp(dir=po_path.parent, prefix=".", suffix=".mo.tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write_mo(out, catalog, use_fuzzy=False)
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, mo_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return sum(1 for message in catalog if message.id and _translated(message) and not message.fuzzy)


def _translated(message: Message) -> bool:
    strings = message.string if isinstance(message.string, (list, tuple)) else [message.string]
    return any(strings)


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(settings.BASE_DIR))
    except ValueError:
        return str(path)


class Command(BaseCommand):
    help = "Compile the .po catalogues under LOCALE_PATHS to .mo with Babel (skips up-to-date ones)."
    requires_system_checks: list[str] = []

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Recompile even when the .mo is newer.")

    def handle(self, *args, force: bool, verbosity: int, **options):
        for po_path in catalogue_files():
            mo_path = po_path.with_suffix(".mo")
            if not force and mo_path.exists() and mo_path.stat().st_mtime >= po_path.stat().st_mtime:
                if verbosity > 1:
                    self.stdout.write(f"Up to date: {_shown(po_path)}")
                continue
            count = compile_catalogue(po_path)
            if verbosity > 0:
                self.stdout.write(f"Compiled {_shown(po_path)} ({count} translated messages)")
