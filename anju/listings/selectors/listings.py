"""Reads for listings: the company-wide catalogue with filters, search and sort (R3.1.1, R6.1.2).

Every list starts from ``Listing.objects.visible_to(viewer)`` (DESIGN.md §1): listings are a
company resource, so anyone with a role sees all of them, a user without one sees nothing.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from decimal import Decimal

from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..choices import ACTIVE_STATUSES
from ..models import BranchListingSettings, Listing
from ..search import search_q

ALL_STATUSES = "all"
DEFAULT_VERIFY_DAYS = 30  # BranchListingSettings.verify_every_days when a branch has none

# Sort keys offered on the list page → ORDER BY; the pk breaks ties so pages never overlap.
LISTING_SORTS: dict[str, tuple] = {
    "updated": (F("updated_at").desc(), F("pk").desc()),
    "price_asc": (F("total_price").asc(), F("pk").asc()),
    "price_desc": (F("total_price").desc(), F("pk").desc()),
    "unit_price_asc": (F("unit_price").asc(), F("pk").asc()),
    "unit_price_desc": (F("unit_price").desc(), F("pk").desc()),
    "area_asc": (F("built_area").asc(), F("pk").asc()),
    "area_desc": (F("built_area").desc(), F("pk").desc()),
}
LISTING_SORT_CHOICES = [
    ("updated", _("Recently updated")),
    ("price_asc", _("Price: low to high")),
    ("price_desc", _("Price: high to low")),
    ("unit_price_asc", _("Unit price: low to high")),
    ("unit_price_desc", _("Unit price: high to low")),
    ("area_asc", _("Area: small to large")),
    ("area_desc", _("Area: large to small")),
]
DEFAULT_SORT = "updated"


def tag_q(tag: str) -> Q:
    """Listings whose ``tags`` JSON list holds exactly ``tag`` (not a longer tag containing it).

    JSONField ``contains`` is not supported on SQLite, so the JSON *text* is matched with the
    quoted value: ``"学区"`` matches the element 学区 but not 学区房. The text differs by
    database — Django writes JSON with ``ensure_ascii`` on SQLite (``"\\u5b66\\u533a"``) while
    PostgreSQL renders ``jsonb::text`` with the characters themselves (``"学区"``) — so both
    spellings are tried; for ASCII tags they are the same string.
    """
    tag = (tag or "").strip()
    if not tag:
        return Q()
    escaped, plain = json.dumps(tag), json.dumps(tag, ensure_ascii=False)
    condition = Q(tags__icontains=plain)
    return condition if escaped == plain else condition | Q(tags__icontains=escaped)


def _rooms_q(rooms) -> Q:
    """``3`` → exactly three bedrooms; ``"4+"`` → four or more."""
    if rooms in (None, ""):
        return Q()
    text = str(rooms).strip()
    if text.endswith("+"):
        return Q(rooms__gte=int(text[:-1]))
    return Q(rooms=int(text))


def _status_q(status: str | Sequence[str] | None) -> Q:
    if status == ALL_STATUSES:
        return Q()
    if not status:
        # "IN (true)", not "= true": Django renders ``is_active=True`` as a bare column, which
        # SQLite cannot look up in an index.
        return Q(is_active__in=[True])
    if isinstance(status, str):
        return Q(status=status)
    return Q(status__in=list(status))


def listing_list_for(
    viewer,
    *,
    search: str = "",
    district: str = "",
    project_id: int | None = None,
    price_min: Decimal | None = None,
    price_max: Decimal | None = None,
    area_min: Decimal | None = None,
    area_max: Decimal | None = None,
    rooms: int | str | None = None,
    floor_min: int | None = None,
    floor_max: int | None = None,
    orientation: str = "",
    decoration: str = "",
    status: str | Sequence[str] = "",
    tag: str = "",
    mine: bool = False,
    sort: str = DEFAULT_SORT,
) -> QuerySet[Listing]:
    """Listings the viewer may see, filtered and sorted, ready for a page of rows (no N+1).

    Prices are in 10k CNY, areas the built area in ㎡; ``status`` "" means available + reserved,
    ``"all"`` every status. The owner's phone is deferred: the list never shows it.
    """
    queryset = (
        Listing.objects.visible_to(viewer)
        .select_related("collector", "project", "branch")
        # Never shown in a list: skip decrypting the owner's phone and the collector's own phone.
        .defer("contact_phone", "search_text", "facility_notes", "collector__phone", "collector__password")
    )
    conditions = [_status_q(status), _rooms_q(rooms), tag_q(tag)]
    if search and search.strip():
        conditions.append(search_q(search))
    if district:
        conditions.append(Q(district=district.strip()))
    if project_id:
        conditions.append(Q(project_id=project_id))
    if price_min is not None:
        conditions.append(Q(total_price__gte=price_min))
    if price_max is not None:
        conditions.append(Q(total_price__lte=price_max))
    if area_min is not None:
        conditions.append(Q(built_area__gte=area_min))
    if area_max is not None:
        conditions.append(Q(built_area__lte=area_max))
    if floor_min is not None:
        conditions.append(Q(floor__gte=floor_min))
    if floor_max is not None:
        conditions.append(Q(floor__lte=floor_max))
    if orientation:
        conditions.append(Q(orientation=orientation))
    if decoration:
        conditions.append(Q(decoration=decoration))
    if mine:
        conditions.append(Q(collector_id=getattr(viewer, "pk", None)))
    for condition in conditions:
        if condition:
            queryset = queryset.filter(condition)
    return queryset.order_by(*LISTING_SORTS.get(sort, LISTING_SORTS[DEFAULT_SORT]))


def verify_cutoffs(branch_ids: Iterable[int], *, now: dt.datetime | None = None) -> dict[int, dt.datetime]:
    """``verify_due_before`` for several branches in one query: branch id → the stale threshold."""
    now = now or timezone.now()
    ids = set(branch_ids)
    days = dict(BranchListingSettings.objects.filter(branch_id__in=ids).values_list("branch_id", "verify_every_days"))
    return {branch_id: now - dt.timedelta(days=days.get(branch_id, DEFAULT_VERIFY_DAYS)) for branch_id in ids}


def mark_stale(listings: list[Listing], *, now: dt.datetime | None = None) -> list[Listing]:
    """Set ``listing.is_stale`` on a page of listings: active and not re-verified within its branch's interval."""
    cutoffs = verify_cutoffs({listing.branch_id for listing in listings}, now=now)
    for listing in listings:
        listing.is_stale = listing.status in ACTIVE_STATUSES and listing.last_verified_at < cutoffs[listing.branch_id]
    return listings
