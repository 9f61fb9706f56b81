"""``manage.py worker``: django-tasks' ``db_worker`` that outlives a busy or unreachable database (issue #9).

``db_worker`` shrugs off "database is locked" only while claiming a task; the same error anywhere
else (opening the claim transaction, recording a result) ends the process, and ``runstack`` stops
the whole stack when one of its processes ends. This command runs the same worker and, on a
database error, logs it, waits (1 s, doubling up to 30 s) and starts the worker again. Its options,
signals (Ctrl-C / SIGTERM stop it, also while it waits) and ``--batch`` are ``db_worker``'s.
"""

from __future__ import annotations

import logging
import time

from django.db import DatabaseError, InterfaceError, connections
from django_tasks_db.management.commands.db_worker import Command as DbWorkerCommand

logger = logging.getLogger("anju.worker")

FIRST_DELAY = 1.0
MAX_DELAY = 30.0
HEALTHY_SECONDS = 60.0  # a worker that ran this long before failing starts again with the first delay


class Command(DbWorkerCommand):
    help = "Run the database task worker; a locked or unreachable database makes it wait and retry, never exit."

    def handle(self, *args, **options):
        delay = FIRST_DELAY
        while True:
            started = time.monotonic()
            try:
                return super().handle(*args, **options)
            except (DatabaseError, InterfaceError):
                if time.monotonic() - started > HEALTHY_SECONDS:
                    delay = FIRST_DELAY
                logger.warning("Task worker hit a database error; starting again in %.0f s", delay, exc_info=True)
                connections.close_all()  # the next round opens fresh connections
                time.sleep(delay)
                delay = min(delay * 2, MAX_DELAY)
