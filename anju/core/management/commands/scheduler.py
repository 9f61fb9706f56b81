"""``manage.py scheduler [--once] [--interval S]``: enqueue due periodic jobs, forever.

Safe to run on several hosts at once: each job is enqueued once per slot (see core.jobs).
"""

from __future__ import annotations

import argparse
import logging
import signal
import time
from datetime import timedelta

from django.core.management.base import BaseCommand
from django.db import DatabaseError, close_old_connections

from anju.core import jobs
from anju.core.context import use_context
from anju.core.models import ScheduledRun

logger = logging.getLogger("anju.scheduler")


def positive_seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not seconds > 0:
        raise argparse.ArgumentTypeError("must be more than 0")
    return seconds


def _duration(every: timedelta) -> str:
    seconds = int(every.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


class Command(BaseCommand):
    help = "Enqueue due periodic jobs every --interval seconds (idempotent across hosts)."

    def add_arguments(self, parser):
        parser.add_argument("--once", action="store_true", help="Enqueue what is due now, then exit.")
        parser.add_argument(
            "--interval", type=positive_seconds, default=30.0, help="Seconds between rounds (default 30)."
        )

    def handle(self, *args, once: bool, interval: float, verbosity: int, **options):
        jobs.discover()
        if once:
            for run in self._round():
                if verbosity > 0:
                    self.stdout.write(f"Enqueued {run.job} for slot {run.slot}")
            return
        self._stopping = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        names = ", ".join(f"{job.name} (every {_duration(job.every)})" for job in jobs.registered())
        logger.info("Scheduler started, checking every %ss: %s", interval, names or "no jobs")
        while not self._stopping:
            started = time.monotonic()
            try:
                self._round()  # what it enqueues is logged by core.jobs
            except DatabaseError:
                # A database blip must not stop the scheduler (and with it the whole stack).
                logger.exception("Scheduler round failed; retrying in %ss", interval)
            finally:
                close_old_connections()
            while not self._stopping and time.monotonic() - started < interval:
                time.sleep(min(1.0, interval))
        logger.info("Scheduler stopped")

    def _stop(self, signum, frame) -> None:
        self._stopping = True

    def _round(self) -> list[ScheduledRun]:
        with use_context(source="cli"):
            return jobs.enqueue_due()
