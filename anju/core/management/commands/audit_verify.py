"""``manage.py audit_verify``: walk the audit hash chain and report the first broken link.

Exit status 0 and ``ok: N events`` when the chain is intact; otherwise one line on stderr
naming the first broken event and exit status 1, so cron and monitoring can alert on it.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand

from anju.core import audit
from anju.core.context import use_context


class Command(BaseCommand):
    help = "Check the audit trail's hash chain; report the first edited, deleted or reordered event."

    def add_arguments(self, parser):
        parser.add_argument(
            "--batch-size", type=int, default=2000, help="Rows read from the database per round trip (default 2000)."
        )

    def handle(self, *args, **options):
        with use_context(source="cli"):
            result = audit.verify(batch_size=max(1, options["batch_size"]))
        if result.ok:
            self.stdout.write(f"ok: {result.count} events")
            return
        event_id = result.broken_id if result.broken_id is not None else "-"
        self.stderr.write(f"broken at event #{result.broken_seq} (id {event_id}): {result.reason}")
        raise SystemExit(1)
