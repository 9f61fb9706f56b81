"""``manage.py rotate_keys``: re-encrypt every protected field under the newest key (R5.2.2)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, DjangoHelpFormatter
from tqdm import tqdm

from anju.core import audit, keyrotation
from anju.core.context import use_context

ACTOR_NAME = "rotate_keys"

HELP = """\
Re-encrypt every encrypted field (phones, ID numbers …) under the newest field key.

Rotating the field-encryption key:
  1. Generate a key:  python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"
  2. Put it FIRST in ANJU_FIELD_KEYS (comma-separated, newest first), keeping the old keys
     after it — in the environment, or in var/keys/field_keys when the environment does not set it.
  3. Restart every web process, task worker and scheduler, so new writes use the new key and
     every process can still read the old values.
  4. Run  manage.py rotate_keys  (batches of --batch-size rows, one transaction each; safe while
     the application runs). If it is interrupted, run it again: it continues from the checkpoint
     files rotation-<model>-<field>.json in --checkpoint-dir (default var/keys/).
  5. Run  manage.py rotate_keys --check : exit status 0 means no value is left under an old key.
  6. Only then, and only once no backup taken before the rotation must be restored any more,
     remove the old key from ANJU_FIELD_KEYS and restart the processes again.
The blind-index key (ANJU_BLIND_INDEX_KEY) is separate and is not changed by this command.
"""


class _Formatter(DjangoHelpFormatter, argparse.RawDescriptionHelpFormatter):
    pass


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        kwargs["formatter_class"] = _Formatter
        return super().create_parser(prog_name, subcommand, **kwargs)

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=positive_int, default=500, help="Rows per batch and transaction (default 500)."
        )
        parser.add_argument(
            "--checkpoint-dir",
            type=Path,
            default=None,
            help="Where progress is kept between runs (default: the keys directory, var/keys/).",
        )
        parser.add_argument(
            "--restart", action="store_true", help="Ignore (and delete) checkpoints and start every field anew."
        )
        parser.add_argument(
            "--max-batches",
            type=positive_int,
            default=None,
            help="Stop after this many batches in all; the next run continues (spread work over several windows).",
        )
        parser.add_argument(
            "--check",
            action="store_true",
            help="Change nothing: count values not yet under the newest key; exit status 1 if any remain.",
        )

    def handle(self, *args, **options):
        if not settings.ANJU_FIELD_KEYS:
            raise CommandError("ANJU_FIELD_KEYS is empty.")
        columns = keyrotation.encrypted_columns()
        with use_context(source="cli"):
            if options["check"]:
                self._check(columns, batch_size=options["batch_size"])
            else:
                self._rotate(columns, options)

    # --- --check ---------------------------------------------------------------------------

    def _check(self, columns, *, batch_size: int) -> None:
        outdated = unreadable = 0
        for column in columns:
            result = keyrotation.check_column(column, batch_size=batch_size)
            outdated += result.outdated
            unreadable += result.unreadable
            line = f"{result.label}: {result.outdated} of {result.total} values not under the newest key"
            if result.unreadable:
                line += f"; {result.unreadable} open with no configured key (ids {_sample(result.unreadable_ids, result.unreadable)})"
            self.stdout.write(line)
        if outdated:
            self.stderr.write(f"{outdated} values still need rotating ({unreadable} unreadable).")
            raise SystemExit(1)
        self.stdout.write("ok: every value is under the newest key")

    # --- rotation --------------------------------------------------------------------------

    def _rotate(self, columns, options) -> None:
        checkpoint_dir = options["checkpoint_dir"] or Path(settings.KEYS_DIR)
        fingerprint = keyrotation.key_fingerprint(keyrotation.newest_key())
        budget = {"left": options["max_batches"]}
        show_progress = options["verbosity"] > 0
        stream = getattr(self.stderr, "_out", sys.stderr)

        def batch_budget() -> bool:
            if budget["left"] is None:
                return True
            if budget["left"] <= 0:
                return False
            budget["left"] -= 1
            return True

        self.stdout.write(f"Rotating {len(columns)} encrypted fields to key {fingerprint}")
        unreadable_total = 0
        for column in columns:
            bars = []

            def on_start(total, after, column=column, bars=bars):
                bars.append(
                    tqdm(
                        desc=column.label, total=total, unit="rows", file=stream, disable=not show_progress or not total
                    )
                )

            result = keyrotation.rotate_column(
                column,
                checkpoint_dir=checkpoint_dir,
                batch_size=options["batch_size"],
                restart=options["restart"],
                batch_budget=batch_budget,
                on_progress=lambda done, bars=bars: bars[0].update(done),
                on_start=on_start,
            )
            for bar in bars:
                bar.close()
            self.stdout.write(_summary(result))
            if not result.finished:
                self.stdout.write(
                    f"Stopped after --max-batches; run rotate_keys again to continue from "
                    f"{keyrotation.checkpoint_path(checkpoint_dir, column)}"
                )
                return
            unreadable_total += result.unreadable
            audit.record(
                actor=None,
                actor_name=ACTOR_NAME,
                action="core.keys.rotated",
                after=result.as_audit(fingerprint),
            )
        if unreadable_total:
            self.stderr.write(
                f"{unreadable_total} values open with no configured key and were left as they are; "
                "see the ids above (a key is missing from ANJU_FIELD_KEYS, or the data is damaged)."
            )
            raise SystemExit(1)


def _sample(ids: list, total: int) -> str:
    """The first few ids, with an ellipsis when there are more."""
    return ", ".join(str(value) for value in ids) + (" …" if total > len(ids) else "")


def _summary(result: keyrotation.FieldResult) -> str:
    line = (
        f"{result.label}: {result.rotated} rotated, {result.already_current} already current, "
        f"{result.changed_meanwhile} changed meanwhile, {result.unreadable} unreadable "
        f"({result.scanned} scanned"
    )
    if result.resumed_after is not None:
        line += f", resumed after id {result.resumed_after}"
    line += ")"
    if result.unreadable_ids:
        line += f"; unreadable ids {_sample(result.unreadable_ids, result.unreadable)}"
    return line
