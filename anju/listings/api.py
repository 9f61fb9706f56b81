"""/api/v1 for listings (search, record, change log, status, re-verification, contact reveal),
projects and the sales-control board, and needs-to-listing matching both ways.

Listings and projects are company resources: anyone with a role reads all of them
(``visible_to``); changes go through the services, which apply the own/team/branch scope
(``listing.not_yours``, 403). The owner / developer phone is always masked; only
``POST /listings/{id}/reveal`` returns it, audited and rate-limited.

No ``from __future__ import annotations`` here: django-ninja reads ``Query[...]`` parameter
annotations at import time and cannot resolve them from strings.
"""

from decimal import Decimal
from typing import Literal

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anju.core.api import AUTH_ERRORS, BODY_ERRORS, INPUT_ERRORS, ErrorOut, Id, Paginated, require_perm
from anju.core.errors import ValidationFailed
from anju.core.scoping import get_scoped_or_404
from anju.org.schemas import Ref

from .choices import ACTIVE_STATUSES, Decoration, ListingStatus, Orientation
from .models import Building, Listing, ListingChange, ListingVerification, Project
from .schemas import (
    BoardOut,
    ListingChangeOut,
    ListingDetailOut,
    ListingIn,
    ListingOut,
    ListingPatch,
    ListingRevealIn,
    ListingRevealOut,
    ProjectDetailOut,
    ProjectOut,
    ReverifyIn,
    StatusIn,
    VerificationOut,
    named_ref,
    user_ref,
)
from .selectors import listings as selectors
from .selectors.projects import project_buildings, project_list_for
from .services import listings as services

router = Router()

VIEW = "listings.view_listing"
ADD = "listings.add_listing"
CHANGE = "listings.change_listing"
VIEW_PROJECT = "listings.view_project"
VIEW_BUILDING = "listings.view_building"

NOT_FOUND = {404: ErrorOut}
# What reading one record can answer: its id out of bounds (422) or outside the caller's scope (404).
READ_ERRORS = {**AUTH_ERRORS, **NOT_FOUND, **INPUT_ERRORS}
WRITE_ERRORS = {**AUTH_ERRORS, **BODY_ERRORS, 404: ErrorOut, 409: ErrorOut}
# Fields PATCH may clear (set to null); the others are ignored when sent as null.
NULLABLE = {"usable_area"}
DETAIL_RELATED = ("project", "building", "collector", "branch", "team", "last_verified_by")
ROW_RELATED = ("project", "building", "collector", "branch")
ROW_DEFERRED = ("contact_phone", "search_text", "facility_notes", "collector__phone", "collector__password")


def _listing(user, listing_id: int) -> Listing:
    return get_scoped_or_404(Listing.objects, user, pk=listing_id)


def _listing_detail(user, listing_id: int) -> Listing:
    listing = get_scoped_or_404(Listing.objects.select_related(*DETAIL_RELATED), user, pk=listing_id)
    now = timezone.now()
    cutoff = services.verify_due_before(listing.branch, now=now)
    listing.verify_due_at = listing.last_verified_at + (now - cutoff)
    listing.is_stale = listing.status in ACTIVE_STATUSES and listing.last_verified_at < cutoff
    return listing


def _changes(payload: Schema) -> dict:
    """The fields the caller sent; null means "leave as is" except for the fields that may be cleared."""
    sent = payload.model_dump(mode="json", exclude_unset=True, exclude={"reason", "note"})
    return {name: value for name, value in sent.items() if value is not None or name in NULLABLE}


# --- listings ---------------------------------------------------------------------------------


class ListingFilters(Schema):
    search: str = Field("", max_length=50, description="Chinese substring of the title, community or address")
    district: str = Field("", max_length=30)
    project: Id | None = None
    # Bounded like the columns they are compared with (total_price 10,2; built_area 8,2).
    price_min: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2, description="Total price, 10k CNY")
    price_max: Decimal | None = Field(None, ge=0, max_digits=10, decimal_places=2, description="Total price, 10k CNY")
    area_min: Decimal | None = Field(None, ge=0, max_digits=8, decimal_places=2, description="Built area, ㎡")
    area_max: Decimal | None = Field(None, ge=0, max_digits=8, decimal_places=2, description="Built area, ㎡")
    rooms: str = Field("", pattern=r"^(\d{1,2}\+?)?$", description="Bedrooms: `3` exactly, `4+` four or more")
    floor_min: int | None = Field(None, ge=-5, le=200)
    floor_max: int | None = Field(None, ge=-5, le=200)
    orientation: Literal[("", *Orientation.values)] = ""  # type: ignore[valid-type]
    decoration: Literal[("", *Decoration.values)] = ""  # type: ignore[valid-type]
    status: Literal[("", "all", *ListingStatus.values)] = Field(  # type: ignore[valid-type]
        "", description="Empty: available and reserved; `all`: every status"
    )
    tag: str = Field("", max_length=20, description="Only listings carrying exactly this tag, e.g. `学区`")
    mine: bool = Field(False, description="Only listings the caller collected")
    sort: Literal[tuple(selectors.LISTING_SORTS)] = selectors.DEFAULT_SORT  # type: ignore[valid-type]


@router.get("/listings", response={200: list[ListingOut], **AUTH_ERRORS, **INPUT_ERRORS}, tags=["listings"])
@paginate(Paginated)
def list_listings(request, filters: Query[ListingFilters]):
    """The company's listings, searched, filtered and sorted like the list page (no owner contact in rows)."""
    require_perm(request, VIEW)
    return selectors.listing_list_for(
        request.user,
        search=filters.search,
        district=filters.district,
        project_id=filters.project,
        price_min=filters.price_min,
        price_max=filters.price_max,
        area_min=filters.area_min,
        area_max=filters.area_max,
        rooms=filters.rooms or None,
        floor_min=filters.floor_min,
        floor_max=filters.floor_max,
        orientation=filters.orientation,
        decoration=filters.decoration,
        status=filters.status,
        tag=filters.tag,
        mine=filters.mine,
        sort=filters.sort,
    ).select_related(*ROW_RELATED)


@router.post("/listings", response={201: ListingDetailOut, **WRITE_ERRORS}, tags=["listings"])
def create_listing(request, payload: ListingIn):
    """Collect a listing; the caller becomes its collector and is responsible for it (谁采集、谁负责)."""
    require_perm(request, ADD)
    project = building = None
    if payload.building is not None:
        building = get_scoped_or_404(Building.objects.select_related("project"), request.user, pk=payload.building)
        if payload.project is not None and payload.project != building.project_id:
            message = _("This building belongs to another project.")
            raise ValidationFailed("listing.building_mismatch", message, {"building": [message]})
        project = building.project
    elif payload.project is not None:
        project = get_scoped_or_404(Project.objects, request.user, pk=payload.project)
    fields = payload.model_dump(mode="json", exclude={"kind", "project", "building"})
    listing = services.listing_create(
        actor=request.user, kind=payload.kind, project=project, building=building, **fields
    )
    return Status(201, _listing_detail(request.user, listing.pk))


@router.get("/listings/{listing_id}", response={200: ListingDetailOut, **READ_ERRORS}, tags=["listings"])
def get_listing(request, listing_id: Id):
    """One listing with its property rights, facilities and verification; the contact phone masked."""
    require_perm(request, VIEW)
    return _listing_detail(request.user, listing_id)


@router.patch("/listings/{listing_id}", response={200: ListingDetailOut, **WRITE_ERRORS}, tags=["listings"])
def update_listing(request, listing_id: Id, payload: ListingPatch):
    """Change the fields sent, with a reason (422 ``listing.reason_required`` without one).

    The field-level before/after goes to the change log. Only the collector, their team lead or
    branch manager may change a listing (403 ``listing.not_yours``).
    """
    require_perm(request, CHANGE)
    listing = _listing(request.user, listing_id)
    services.listing_update(actor=request.user, listing=listing, reason=payload.reason, **_changes(payload))
    return _listing_detail(request.user, listing_id)


@router.post("/listings/{listing_id}/status", response={200: ListingDetailOut, **WRITE_ERRORS}, tags=["listings"])
def change_status(request, listing_id: Id, payload: StatusIn):
    """A manual status change with a reason, along the status table (409 ``listing.bad_status_change``)."""
    require_perm(request, CHANGE)
    listing = _listing(request.user, listing_id)
    services.listing_change_status(actor=request.user, listing=listing, to_status=payload.status, reason=payload.reason)
    return _listing_detail(request.user, listing_id)


@router.post("/listings/{listing_id}/reverify", response={200: VerificationOut, **WRITE_ERRORS}, tags=["listings"])
def reverify_listing(request, listing_id: Id, payload: ReverifyIn):
    """Re-verify the listing (at least monthly): confirm it as is, or send the fields found changed."""
    require_perm(request, CHANGE)
    listing = _listing(request.user, listing_id)
    verification = services.listing_reverify(
        actor=request.user, listing=listing, note=payload.note, **_changes(payload)
    )
    return ListingVerification.objects.select_related("verified_by").get(pk=verification.pk)


@router.post(
    "/listings/{listing_id}/reveal",
    response={200: ListingRevealOut, **AUTH_ERRORS, **NOT_FOUND, **BODY_ERRORS, 429: ErrorOut},
    tags=["listings"],
)
def reveal_contact(request, listing_id: Id, payload: ListingRevealIn):
    """The full owner / developer phone: needs the reveal permission and a typed reason; audited and rate-limited."""
    require_perm(request, VIEW)
    listing = _listing(request.user, listing_id)
    value = services.listing_reveal_contact(actor=request.user, listing=listing, reason=payload.reason)
    return {"value": value}


@router.get(
    "/listings/{listing_id}/history",
    response={200: list[ListingChangeOut], **READ_ERRORS},
    tags=["listings"],
)
@paginate(Paginated)
def listing_history(request, listing_id: Id):
    """The change log, newest first: field-level before/after, reason, person and time (append-only)."""
    require_perm(request, VIEW)
    listing = _listing(request.user, listing_id)
    return ListingChange.objects.filter(listing=listing).select_related("changed_by").order_by("-changed_at", "-pk")


# --- matching ---------------------------------------------------------------------------------


class MatchReasonOut(Schema):
    ok: bool
    text: str


class ListingMatchOut(Schema):
    score: int = Field(..., description="0–100; 100 meets every criterion the customer stated")
    reasons: list[MatchReasonOut]
    listing: ListingOut


class MatchedCustomerOut(Schema):
    id: int
    name: str
    phone: str = Field(..., alias="phone_masked", description="Masked")
    stage: str
    stage_label: str = Field(..., alias="get_stage_display")
    budget_min: int | None
    budget_max: int | None
    owner: Ref | None = None

    @staticmethod
    def resolve_owner(obj):
        return user_ref(obj.owner) if obj.owner_id else None


class CustomerMatchOut(Schema):
    score: int = Field(..., description="0–100; 100 meets every criterion the customer stated")
    reasons: list[MatchReasonOut]
    customer: MatchedCustomerOut


class MatchParams(Schema):
    limit: int = Field(20, ge=1, le=50, description="Best matches first, at most 50")


def _reasons(match) -> list[dict]:
    return [{"ok": ok, "text": text} for ok, text in match.reasons]


@router.get(
    "/customers/{customer_id}/matching-listings",
    response={200: list[ListingMatchOut], **READ_ERRORS},
    tags=["listings"],
)
def matching_listings(request, customer_id: Id, params: Query[MatchParams]):
    """Available listings ranked for the customer's needs, each with the criteria met and missed."""
    from anju.customers.models import Customer

    from .selectors.matching import listings_for_customer

    require_perm(request, VIEW)
    require_perm(request, "customers.view_customer")
    customer = get_scoped_or_404(Customer.objects, request.user, pk=customer_id)
    matches = listings_for_customer(customer, request.user, limit=params.limit)
    loaded = Listing.objects.select_related(*ROW_RELATED).defer(*ROW_DEFERRED).in_bulk([m.listing.pk for m in matches])
    return [
        {"score": match.score, "reasons": _reasons(match), "listing": loaded.get(match.listing.pk, match.listing)}
        for match in matches
    ]


@router.get(
    "/listings/{listing_id}/matching-customers",
    response={200: list[CustomerMatchOut], **READ_ERRORS},
    tags=["listings"],
)
def matching_customers(request, listing_id: Id, params: Query[MatchParams]):
    """Customers in the caller's scope whose needs this available listing meets, best first (phones masked)."""
    from .selectors.matching import customers_for_listing

    require_perm(request, VIEW)
    require_perm(request, "customers.view_customer")
    listing = _listing(request.user, listing_id)
    matches = customers_for_listing(listing, request.user, limit=params.limit)
    return [{"score": match.score, "reasons": _reasons(match), "customer": match.customer} for match in matches]


# --- projects and the sales-control board -----------------------------------------------------


class ProjectFilters(Schema):
    search: str = Field("", max_length=50, description="Part of the project name")
    city: str = Field("", max_length=30)
    district: str = Field("", max_length=30)


@router.get("/projects", response={200: list[ProjectOut], **AUTH_ERRORS, **INPUT_ERRORS}, tags=["projects"])
@paginate(Paginated)
def list_projects(request, filters: Query[ProjectFilters]):
    """New-home projects with their building and unit counts, by name."""
    require_perm(request, VIEW_PROJECT)
    return project_list_for(request.user, name=filters.search, city=filters.city, district=filters.district)


@router.get("/projects/{project_id}", response={200: ProjectDetailOut, **READ_ERRORS}, tags=["projects"])
def get_project(request, project_id: Id):
    """One project with its buildings and how many of their units are still available."""
    require_perm(request, VIEW_PROJECT)
    project = project_list_for(request.user).filter(pk=project_id).first()
    if project is None:
        raise Http404
    project.buildings_list = project_buildings(project)
    return project


BOARD_FIELDS = (
    "pk",
    "floor",
    "unit_no",
    "room_no",
    "status",
    "total_price",
    "unit_price",
    "built_area",
    "rooms",
    "halls",
    "baths",
)


@router.get("/buildings/{building_id}/board", response={200: BoardOut, **READ_ERRORS}, tags=["projects"])
def building_board(request, building_id: Id):
    """The sales-control board (销控表): every unit of the building, top floor first, with status and price."""
    require_perm(request, VIEW_BUILDING)
    building = get_scoped_or_404(Building.objects.select_related("project"), request.user, pk=building_id)
    rows = Listing.objects.filter(building=building).order_by("-floor", "unit_no", "pk").values(*BOARD_FIELDS)
    labels = dict(ListingStatus.choices)
    counts = {status: 0 for status in ListingStatus.values}
    cells = []
    for row in rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
        cells.append(
            {
                "listing_id": row["pk"],
                "floor": row["floor"],
                "unit_no": row["unit_no"],
                "room_no": row["room_no"],
                "status": row["status"],
                "status_label": str(labels.get(row["status"], row["status"])),
                "total_price": row["total_price"],
                "unit_price": row["unit_price"],
                "built_area": row["built_area"],
                "layout": f"{row['rooms']}室{row['halls']}厅{row['baths']}卫",
            }
        )
    return {
        "building": {
            "id": building.pk,
            "name": building.name,
            "floors": building.floors,
            "units_per_floor": building.units_per_floor,
            "project": named_ref(building.project),
        },
        "counts": counts,
        "cells": cells,
    }
