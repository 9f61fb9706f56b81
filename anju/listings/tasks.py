"""Background jobs of the listings app (DESIGN.md §8): the daily stale-listing flag (R3.1.2) and
large price-list imports (issue #9, R3.1.1).

Thin tasks: set the task context and call the service, which tests and commands call directly too.
The stale flag is idempotent per local day and an import job is claimed once, so both are safe on
two hosts at once.
"""

from __future__ import annotations

from datetime import timedelta

from django_tasks import task

from anju.core.context import use_context
from anju.core.jobs import periodic

from .services import import_jobs
from .services import stale as stale_services


@periodic("listings.flag_stale", every=timedelta(days=1), offset=timedelta(hours=18))
def flag_stale() -> int:
    """Daily, 02:00 Asia/Shanghai: notify each collector of their listings due for re-verification."""
    with use_context(source="task"):
        return stale_services.flag_stale()


@task()
def price_list_import_run(job_id: int) -> dict:
    """Import a large price list queued from the import page (issue #9); the page polls its progress."""
    with use_context(source="task"):
        return import_jobs.price_list_job_run(job_id=job_id)
