"""API schemas for listings, their change log and verification, projects and the sales-control board.

The owner / developer phone leaves the server masked: ``contact_phone`` reads the model's
``contact_phone_masked``. Only ``POST /listings/{id}/reveal`` returns the full number.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.exceptions import FieldDoesNotExist
from ninja import Field, Schema

from anju.core.api import Id
from anju.org.schemas import Ref

from .choices import (
    CertificateStatus,
    Decoration,
    ListingKind,
    ListingStatus,
    Orientation,
    RightType,
)

# Choices as inline enums, not $refs: the customers' needs form has its own ``Orientation`` whose
# schema would otherwise share (and clash on) the component name.
KindValue = Literal[tuple(ListingKind.values)]  # type: ignore[valid-type]
StatusValue = Literal[tuple(ListingStatus.values)]  # type: ignore[valid-type]
OrientationValue = Literal[tuple(Orientation.values)]  # type: ignore[valid-type]
DecorationValue = Literal[tuple(Decoration.values)]  # type: ignore[valid-type]
RightTypeValue = Literal[tuple(RightType.values)]  # type: ignore[valid-type]
CertificateValue = Literal[tuple(CertificateStatus.values)]  # type: ignore[valid-type]


# Bounds that keep the derived unit price (total × 10,000 / built area, a PostgreSQL ``integer``)
# in its column: at most 200,000 × 10k CNY over at least 1 ㎡ (issue #9).
AREA_MIN = Decimal("1")
PRICE_MAX = Decimal("200000")
Tag = Annotated[str, Field(min_length=1, max_length=20)]


def user_ref(user) -> dict | None:
    """A user as ``{id, name}`` with the display name only (never a phone or a username)."""
    return {"id": user.pk, "name": str(user)} if user is not None else None


def named_ref(obj) -> dict | None:
    return {"id": obj.pk, "name": obj.name} if obj is not None else None


# --- listings ---------------------------------------------------------------------------------


class ListingOut(Schema):
    """A listing row (no owner contact: lists never show it)."""

    id: int
    kind: str
    kind_label: str = Field(..., alias="get_kind_display")
    title: str
    project: Ref | None = None
    building: Ref | None = None
    city: str
    district: str
    community: str
    address: str
    building_no: str
    unit_no: str
    room_no: str
    floor: int
    total_floors: int
    built_area: Decimal = Field(..., description="㎡")
    rooms: int
    halls: int
    baths: int
    layout: str = Field(..., description="e.g. 3室2厅1卫")
    orientation: str
    orientation_label: str = Field(..., alias="get_orientation_display")
    decoration: str
    decoration_label: str = Field(..., alias="get_decoration_display")
    total_price: Decimal = Field(..., description="10k CNY")
    unit_price: int = Field(..., description="CNY per ㎡, derived from the total price and the built area")
    status: str
    status_label: str = Field(..., alias="get_status_display")
    tags: list[str]
    collector: Ref
    branch: Ref
    last_verified_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_project(obj):
        return named_ref(obj.project) if obj.project_id else None

    @staticmethod
    def resolve_building(obj):
        return named_ref(obj.building) if obj.building_id else None

    @staticmethod
    def resolve_collector(obj):
        return user_ref(obj.collector)

    @staticmethod
    def resolve_branch(obj):
        return named_ref(obj.branch)


class ListingDetailOut(ListingOut):
    """The listing record; the owner / developer phone is masked (``139****2222``)."""

    contact_name: str
    contact_phone: str = Field(
        ..., alias="contact_phone_masked", description="Masked; reveal the full number with POST …/reveal"
    )
    usable_area: Decimal | None = Field(None, description="㎡")
    right_type: str
    right_type_label: str = Field(..., alias="get_right_type_display")
    right_term_years: int
    certificate_status: str
    certificate_status_label: str = Field(..., alias="get_certificate_status_display")
    mortgaged: bool
    seized: bool
    near_school: bool
    school_names: str
    near_transit: bool
    near_hospital: bool
    near_commerce: bool
    facility_notes: str
    team: Ref | None = None
    last_verified_by: Ref
    verify_due_at: dt.datetime = Field(
        ..., description="Re-verify before this moment (branch interval, default 30 days)"
    )
    is_stale: bool = Field(..., description="Not re-verified within the branch's interval")
    created_at: dt.datetime

    @staticmethod
    def resolve_team(obj):
        return named_ref(obj.team) if obj.team_id else None

    @staticmethod
    def resolve_last_verified_by(obj):
        return user_ref(obj.last_verified_by)


class _ListingFields(Schema):
    """Every editable field, optional (PATCH and re-verify send only what changes)."""

    title: str | None = Field(None, min_length=1, max_length=120)
    city: str | None = Field(None, min_length=1, max_length=30)
    district: str | None = Field(None, min_length=1, max_length=30)
    community: str | None = Field(None, min_length=1, max_length=100)
    address: str | None = Field(None, min_length=1, max_length=200)
    building_no: str | None = Field(None, max_length=20)
    unit_no: str | None = Field(None, max_length=20)
    room_no: str | None = Field(None, max_length=20)
    floor: int | None = Field(None, ge=-5, le=200)
    total_floors: int | None = Field(None, ge=1, le=200)
    built_area: Decimal | None = Field(None, ge=AREA_MIN, max_digits=8, decimal_places=2, description="㎡, at least 1")
    usable_area: Decimal | None = Field(
        None, ge=AREA_MIN, max_digits=8, decimal_places=2, description="㎡; null clears it"
    )
    rooms: int | None = Field(None, ge=0, le=20)
    halls: int | None = Field(None, ge=0, le=10)
    baths: int | None = Field(None, ge=0, le=10)
    orientation: OrientationValue | None = None
    decoration: DecorationValue | None = None
    right_type: RightTypeValue | None = None
    right_term_years: int | None = Field(None, ge=0, le=99)
    certificate_status: CertificateValue | None = None
    mortgaged: bool | None = None
    seized: bool | None = None
    near_school: bool | None = None
    school_names: str | None = Field(None, max_length=200)
    near_transit: bool | None = None
    near_hospital: bool | None = None
    near_commerce: bool | None = None
    facility_notes: str | None = Field(None, max_length=4000)
    total_price: Decimal | None = Field(
        None, le=PRICE_MAX, max_digits=10, decimal_places=2, description="10k CNY, greater than 0"
    )
    contact_name: str | None = Field(None, max_length=50)
    contact_phone: str | None = Field(None, max_length=30, description="An empty value keeps the stored number")
    tags: list[Tag] | None = Field(None, max_length=20)


class ListingIn(Schema):
    """A new listing; the caller becomes its collector (谁采集、谁负责)."""

    kind: KindValue = ListingKind.RESALE.value
    project: Id | None = Field(None, description="A project id (new-home units and listings in a project)")
    building: Id | None = Field(None, description="A building of the project (new-home units)")
    title: str = Field(..., min_length=1, max_length=120)
    city: str = Field(..., min_length=1, max_length=30)
    district: str = Field(..., min_length=1, max_length=30)
    community: str = Field(..., min_length=1, max_length=100)
    address: str = Field(..., min_length=1, max_length=200)
    building_no: str = Field("", max_length=20)
    unit_no: str = Field("", max_length=20)
    room_no: str = Field("", max_length=20)
    floor: int = Field(..., ge=-5, le=200)
    total_floors: int = Field(..., ge=1, le=200)
    built_area: Decimal = Field(..., ge=AREA_MIN, max_digits=8, decimal_places=2, description="㎡, at least 1")
    usable_area: Decimal | None = Field(None, ge=AREA_MIN, max_digits=8, decimal_places=2, description="㎡")
    rooms: int = Field(..., ge=0, le=20)
    halls: int = Field(1, ge=0, le=10)
    baths: int = Field(1, ge=0, le=10)
    orientation: OrientationValue
    decoration: DecorationValue
    right_type: RightTypeValue = RightType.COMMODITY.value
    right_term_years: int = Field(70, ge=0, le=99)
    certificate_status: CertificateValue
    mortgaged: bool = False
    seized: bool = False
    near_school: bool = False
    school_names: str = Field("", max_length=200)
    near_transit: bool = False
    near_hospital: bool = False
    near_commerce: bool = False
    facility_notes: str = Field("", max_length=4000)
    total_price: Decimal = Field(
        ..., le=PRICE_MAX, max_digits=10, decimal_places=2, description="10k CNY, greater than 0"
    )
    contact_name: str = Field("", max_length=50)
    contact_phone: str = Field(
        "", max_length=30, description="Owner (resale) or developer (new home); stored encrypted"
    )
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class ListingPatch(_ListingFields):
    """Only the fields sent change; ``reason`` is required (422 ``listing.reason_required`` without it)."""

    reason: str = Field("", max_length=200, description="Why the listing changes (kept in the change log)")


class StatusIn(Schema):
    status: StatusValue
    reason: str = Field("", max_length=200, description="Required: why the status changes")


class ReverifyIn(_ListingFields):
    """Confirm the listing as is (send only ``note``) or update the fields found changed."""

    note: str = Field("", max_length=200, description="What was checked, e.g. 电话联系业主确认在售")


class VerificationOut(Schema):
    id: int
    outcome: str
    outcome_label: str = Field(..., alias="get_outcome_display")
    note: str
    change_id: int | None
    verified_by: Ref
    verified_at: dt.datetime

    @staticmethod
    def resolve_verified_by(obj):
        return user_ref(obj.verified_by)


class ListingRevealIn(Schema):
    reason: str = Field("", max_length=200, description="Why the full number is needed (audited)")


class ListingRevealOut(Schema):
    value: str


class FieldChangeOut(Schema):
    field: str
    label: str
    before: Any = None
    after: Any = None


class ListingChangeOut(Schema):
    """One entry of the change log (append-only): field-level before/after, reason, person, time."""

    id: int
    changed_at: dt.datetime
    changed_by: Ref
    reason: str
    changes: list[FieldChangeOut]

    @staticmethod
    def resolve_changed_by(obj):
        return user_ref(obj.changed_by)

    @staticmethod
    def resolve_changes(obj):
        from .models import Listing

        def label(name: str) -> str:
            try:
                return str(Listing._meta.get_field(name).verbose_name)
            except FieldDoesNotExist:  # a field removed since the change was logged
                return name

        return [
            {"field": name, "label": label(name), "before": value.get("before"), "after": value.get("after")}
            for name, value in obj.changes.items()
        ]


# --- projects and the sales-control board -----------------------------------------------------


class ProjectOut(Schema):
    id: int
    name: str
    city: str
    district: str
    address: str
    developer: str
    branch: Ref
    building_count: int = 0
    listing_count: int = 0
    available_count: int = 0

    @staticmethod
    def resolve_branch(obj):
        return named_ref(obj.branch)


class BuildingOut(Schema):
    id: int
    name: str
    floors: int
    units_per_floor: int
    unit_count: int = 0
    available_count: int = 0


class ProjectDetailOut(ProjectOut):
    description: str
    buildings: list[BuildingOut]
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_buildings(obj):
        return getattr(obj, "buildings_list", [])


class BoardCellOut(Schema):
    listing_id: int
    floor: int
    unit_no: str
    room_no: str
    status: str
    status_label: str
    total_price: Decimal = Field(..., description="10k CNY")
    unit_price: int = Field(..., description="CNY per ㎡")
    built_area: Decimal = Field(..., description="㎡")
    layout: str


class BoardBuildingOut(Schema):
    id: int
    name: str
    floors: int
    units_per_floor: int
    project: Ref


class BoardOut(Schema):
    """The sales-control board (销控表) of one building: every unit, top floor first."""

    building: BoardBuildingOut
    counts: dict[str, int] = Field(..., description="Units per status")
    cells: list[BoardCellOut]
