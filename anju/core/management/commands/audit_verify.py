"""``manage.py audit_verify``: walk the audit chain, check its anchors, report the first broken link.

Exit status 0 and ``ok: N events`` (then a line about the anchors) when the chain is intact;
otherwise one line on stderr naming the first broken event and exit status 1, so cron and
monitoring can alert on it. ``--anchors PATH`` checks a copy of the anchor file, e.g. the one
shipped to the backup host (issue #9).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from anju.core import audit
from anju.core.context import use_context


class Command(BaseCommand):
    help = (
        "Check the audit trail's keyed hash chain and its anchors; report the first edited, forged, "
        "deleted or reordered event."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="Rows read from the database per round trip (default 2000)."
        )
        parser.add_argument(
            "--anchors", metavar="PATH", help="Anchor file to check against (default ANJU_AUDIT_ANCHOR_FILE)."
        )

    def handle(self, *args, **options):
        path = audit.anchor_path(options["anchors"])
        with use_context(source="cli"):
            result = audit.verify(batch_size=max(1, options["batch_size"]), anchor_file=path)
        if not result.ok:
            self.stderr.write(result.describe_break())
            raise SystemExit(1)
        self.stdout.write(f"ok: {result.count} events")
        if path is None:
            self.stdout.write("anchors: not configured (ANJU_AUDIT_ANCHOR_FILE)")
        elif result.last_anchor is None:
            self.stdout.write(f"anchors: none in {path}")
        else:
            last = result.last_anchor
            self.stdout.write(f"anchors: {result.anchors} checked in {path}, last #{last.seq} at {last.at}")
