"""What several listing services share."""

from __future__ import annotations

from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError
from anju.core.scoping import in_scope, require_in_scope


def require_managed(actor, listing) -> None:
    """Edits need the listing in the actor's ``manage`` reach (the collector, their lead or manager).

    Everyone with a role sees the catalogue, so a listing outside that reach is a refusal
    with a reason (403), while one outside ``view`` stays "not found".
    """
    require_in_scope(actor, listing)
    if not in_scope(actor, listing, "manage"):
        raise ApplicationError(
            "listing.not_yours",
            _("Only the collector, their team lead or branch manager can change this listing."),
            status=403,
        )
