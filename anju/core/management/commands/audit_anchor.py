"""``manage.py audit_anchor``: verify the audit chain, then append a signed checkpoint of its head.

The checkpoint (seq, hash, time, HMAC under the audit key) goes to the anchor file outside the
database and to the ``anju.audit`` log (issue #9). The hourly job ``core.verify_audit_chain``
does the same; run this by hand before and after maintenance, or before shipping a backup.
A broken chain is not anchored: the break goes to stderr and the exit status is 1.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from anju.core import audit
from anju.core.context import use_context


class Command(BaseCommand):
    help = "Verify the audit chain and append a signed checkpoint of its head to the anchor file."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="Rows read from the database per round trip (default 2000)."
        )
        parser.add_argument(
            "--anchors", metavar="PATH", help="Anchor file to append to (default ANJU_AUDIT_ANCHOR_FILE)."
        )

    def handle(self, *args, **options):
        path = audit.anchor_path(options["anchors"])
        if path is None:
            raise CommandError("No anchor file: set ANJU_AUDIT_ANCHOR_FILE or pass --anchors PATH.")
        with use_context(source="cli"):
            result, anchor = audit.anchor(path=path, batch_size=max(1, options["batch_size"]))
        if not result.ok:
            self.stderr.write(result.describe_break())
            self.stderr.write("not anchored: a broken chain is never vouched for")
            raise SystemExit(1)
        if anchor is None:
            self.stdout.write("nothing to anchor: the audit trail is empty")
            return
        self.stdout.write(f"anchored event #{anchor.seq} ({anchor.hash[:16]}…) at {anchor.at} in {path}")
