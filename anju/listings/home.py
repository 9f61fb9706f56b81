"""Listings' part of the home page: listings waiting for re-verification (R3.1.2)."""

from __future__ import annotations

import datetime as dt

from .models import Listing
from .services.stale import stale_count


def agent_panel(user, now: dt.datetime) -> dict:
    """An agent: the listings they collected that are due for re-verification."""
    return {"listings_stale": stale_count(Listing.objects.restrict(user, "manage").filter(collector=user), now=now)}


def manager_panel(user, now: dt.datetime) -> dict:
    """A branch manager: the stale listings of everyone they manage."""
    return {"listings_stale": stale_count(Listing.objects.restrict(user, "manage"), now=now)}
