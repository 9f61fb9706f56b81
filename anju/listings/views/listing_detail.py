"""The listing page: header, photos and floor plans, facilities, rights, masked contact, verification,
and the tabs History (change log + re-verifications) and Matching customers (R3.1.1, R3.1.2, R3.2.2).

Anyone with a role sees every listing (company resource); users without a role get a 404. The page
reads each source once, so its query count does not grow with the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from anju.core.scoping import get_scoped_or_404, in_scope

from ..choices import ACTIVE_STATUSES, PhotoKind
from ..models import Listing, ListingChange, ListingVerification
from ..selectors.matching import customers_for_listing
from ..services.listings import DECIMALS, verify_due_before

CHANGE = "listings.change_listing"
HISTORY_LIMIT = 100
CENT = Decimal("0.01")
# Change-log keys that are not model fields.
EXTRA_LABELS = {"photo": lambda: _("Photo / floor plan")}


# --- history ----------------------------------------------------------------------------------------


def field_label(name: str) -> str:
    if name in EXTRA_LABELS:
        return EXTRA_LABELS[name]()
    try:
        return str(capfirst(Listing._meta.get_field(name).verbose_name))
    except Exception:  # a field removed since the change was written
        return name


def field_value(name: str, value: Any) -> str:
    """A logged value as a person reads it: choice labels, yes/no, lists joined, photos described."""
    if value in (None, "", []):
        return "—"
    if isinstance(value, bool):
        return _("Yes") if value else _("No")
    if isinstance(value, list):
        return "、".join(str(item) for item in value)
    if name in DECIMALS:
        try:
            return str(Decimal(str(value)).quantize(CENT))  # "300" and "300.00" read alike
        except InvalidOperation:
            return str(value)
    if name == "photo" and isinstance(value, dict):
        try:
            kind = str(PhotoKind(value.get("kind")).label)
        except ValueError:
            kind = str(value.get("kind", ""))
        return f"{kind} · {value['caption']}" if value.get("caption") else kind
    try:
        choices = dict(Listing._meta.get_field(name).flatchoices)
    except Exception:
        choices = {}
    return str(choices.get(value, value))


@dataclass
class HistoryEntry:
    kind: str  # change or verification
    time: dt.datetime
    actor: str
    reason: str
    title: str
    rows: list[tuple[str, str, str]] = field(default_factory=list)  # (label, before, after)


def _change_title(changes: dict) -> str:
    if "photo" in changes:
        return _("Photo or floor plan deleted") if changes["photo"].get("after") is None else _("Photos changed")
    if set(changes) == {"status"}:
        return _("Status changed")
    return _("Changed")


def history_for(listing: Listing) -> tuple[list[HistoryEntry], bool]:
    """The change log and the re-verifications, newest first (two queries, each capped)."""
    changes = list(ListingChange.objects.filter(listing=listing).select_related("changed_by")[: HISTORY_LIMIT + 1])
    checks = list(
        ListingVerification.objects.filter(listing=listing).select_related("verified_by")[: HISTORY_LIMIT + 1]
    )
    truncated = len(changes) > HISTORY_LIMIT or len(checks) > HISTORY_LIMIT
    entries = [
        HistoryEntry(
            kind="change",
            time=change.changed_at,
            actor=str(change.changed_by),
            reason=change.reason,
            title=_change_title(change.changes),
            rows=[
                (field_label(name), field_value(name, diff.get("before")), field_value(name, diff.get("after")))
                for name, diff in change.changes.items()
            ],
        )
        for change in changes[:HISTORY_LIMIT]
    ]
    entries += [
        HistoryEntry(
            kind="verification",
            time=check.verified_at,
            actor=str(check.verified_by),
            reason=check.note,
            title=_("Re-verified: %(outcome)s") % {"outcome": check.get_outcome_display()},
        )
        for check in checks[:HISTORY_LIMIT]
    ]
    entries.sort(key=lambda entry: entry.time, reverse=True)
    return entries, truncated


# --- the page ------------------------------------------------------------------------------------------


def matching_customers(listing: Listing, user) -> tuple[bool, list]:
    """(shown, matches): customers in the user's scope whose needs this listing meets; the tab is
    hidden from users who may not see customers."""
    if not user.has_perm("customers.view_customer"):
        return False, []
    return True, customers_for_listing(listing, user)


@login_required
def listing_detail(request, pk: int):
    listing = get_scoped_or_404(
        Listing.objects.select_related("collector", "last_verified_by", "project", "building", "branch", "team"),
        request.user,
        pk=pk,
    )
    photos = list(listing.photos.all())
    can_manage = request.user.has_perm(CHANGE) and in_scope(request.user, listing, "manage")
    history, history_truncated = history_for(listing)
    show_matching, matches = matching_customers(listing, request.user)
    context = {
        "listing": listing,
        "gallery": [photo for photo in photos if photo.kind == PhotoKind.PHOTO],
        "floor_plans": [photo for photo in photos if photo.kind == PhotoKind.FLOOR_PLAN],
        "can_manage": can_manage,
        "can_reveal_contact": can_manage and request.user.has_perm("listings.reveal_listing_contact"),
        "stale": listing.status in ACTIVE_STATUSES and listing.last_verified_at < verify_due_before(listing.branch_id),
        "history": history,
        "history_truncated": history_truncated,
        "show_matching": show_matching,
        "matches": matches,
        "facilities": [
            (_("Schools"), listing.near_school, "mortarboard"),
            (_("Metro / transit"), listing.near_transit, "train-front"),
            (_("Hospital"), listing.near_hospital, "hospital"),
            (_("Shopping"), listing.near_commerce, "bag"),
        ],
    }
    return render(request, "listings/listing_detail.html", context)
