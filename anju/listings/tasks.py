"""Background jobs of the listings app (DESIGN.md §8): the daily stale-listing flag (R3.1.2).

Thin task: set the task context and call the service, which tests and commands call directly too.
The service is idempotent per local day and safe on two hosts at once.
"""

from __future__ import annotations

from datetime import timedelta

from anju.core.context import use_context
from anju.core.jobs import periodic

from .services import stale as stale_services


@periodic("listings.flag_stale", every=timedelta(days=1), offset=timedelta(hours=18))
def flag_stale() -> int:
    """Daily, 02:00 Asia/Shanghai: notify each collector of their listings due for re-verification."""
    with use_context(source="task"):
        return stale_services.flag_stale()
