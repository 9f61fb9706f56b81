"""Background jobs of the customers app (DESIGN.md §8): follow-up planning and protection lapse.

Thin tasks: set the task context and call the service, which tests and commands call directly too.
Both services are idempotent and safe on two hosts at once.
"""

from __future__ import annotations

from datetime import timedelta

from anju.core.context import use_context
from anju.core.jobs import periodic

from .services import followups as followup_services
from .services import ownership as ownership_services


@periodic("customers.followups_generate", every=timedelta(minutes=5))
def followups_generate() -> int:
    """Every 5 minutes (and on demand after a reception ends): plan follow-ups of finished first visits."""
    with use_context(source="task"):
        return followup_services.followups_generate()


@periodic("customers.pool_release_lapsed", every=timedelta(hours=1), offset=timedelta(minutes=7))
def pool_release_lapsed() -> int:
    """Hourly: customers whose protection lapsed go to their branch's public pool."""
    with use_context(source="task"):
        return ownership_services.pool_release_lapsed()
