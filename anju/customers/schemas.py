"""API schemas for customers, needs, visits, communications and follow-ups.

Phones and ID numbers leave the server masked: the ``phone`` / ``id_number`` fields read the
model's ``*_masked`` properties. Only ``POST /customers/{id}/reveal`` returns a full value.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any, Literal

from django.utils import timezone
from django.utils.translation import gettext
from ninja import Field, Schema

from anju.core.api import MAX_INT32, Id, Moment
from anju.org.schemas import Ref

from .choices import Channel, FollowUpOutcome, FollowUpStatus, Gender, Source, Stage, ValueTier
from .models import CustomerNeeds

# Bounded like their columns (issue #9): tag names are 30 characters, amounts PostgreSQL ``integer``.
TagName = Annotated[str, Field(min_length=1, max_length=30)]
District = Annotated[str, Field(min_length=1, max_length=30)]
Amount = Annotated[int, Field(ge=0, le=MAX_INT32)]


def user_ref(user) -> dict | None:
    """A user as ``{id, name}`` with the display name only (never a phone or a username)."""
    return {"id": user.pk, "name": str(user)} if user is not None else None


def named_ref(obj) -> dict | None:
    return {"id": obj.pk, "name": obj.name} if obj is not None else None


# --- customers --------------------------------------------------------------------------------


class CustomerOut(Schema):
    """A customer row: the phone is masked (``138****1234``)."""

    id: int
    name: str
    phone: str = Field(..., alias="phone_masked", description="Masked; reveal the full number with POST …/reveal")
    gender: str
    gender_label: str = Field(..., alias="get_gender_display")
    source: str
    source_label: str = Field(..., alias="get_source_display")
    stage: str
    stage_label: str = Field(..., alias="get_stage_display")
    value_tier: str
    value_tier_label: str = Field(..., alias="get_value_tier_display")
    budget_min: int | None
    budget_max: int | None
    tags: list[str]
    owner: Ref | None = None
    team: Ref | None = None
    branch: Ref
    in_pool: bool
    protected_until: dt.datetime | None
    last_contact_at: dt.datetime | None
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_tags(obj) -> list[str]:
        return sorted(tag.name for tag in obj.tags.all())

    @staticmethod
    def resolve_owner(obj):
        return user_ref(obj.owner) if obj.owner_id else None

    @staticmethod
    def resolve_team(obj):
        return named_ref(obj.team) if obj.team_id else None

    @staticmethod
    def resolve_branch(obj):
        return named_ref(obj.branch)


class ConsentOut(Schema):
    id: int
    kind: str
    kind_label: str = Field(..., alias="get_kind_display")
    purpose: str
    policy_version: str
    channel: str
    granted_at: dt.datetime
    withdrawn_at: dt.datetime | None


class CustomerDetailOut(CustomerOut):
    """The customer file; the ID-card number is masked too."""

    id_number: str = Field(..., alias="id_number_masked", description="Masked; empty when none is stored")
    household_notes: str
    lost_reason: str
    acquired_via: str
    acquired_via_label: str = Field(..., alias="get_acquired_via_display")
    pool_since: dt.datetime | None
    consents: list[ConsentOut]

    @staticmethod
    def resolve_consents(obj):
        return list(obj.consents.all())


class CustomerIn(Schema):
    name: str = Field(..., min_length=1, max_length=50)
    phone: str = Field(..., min_length=1, max_length=30, description="Mainland mobile number of 11 digits")
    source: Source
    consent_channel: Channel = Field(..., description="How the customer gave the personal-information consent")
    gender: Gender = Gender.UNKNOWN
    budget_min: Amount | None = None
    budget_max: Amount | None = None
    value_tier: ValueTier = ValueTier.C
    tags: list[TagName] = Field(default_factory=list, max_length=20)
    household_notes: str = Field("", max_length=2000)
    id_number: str = Field("", max_length=30, description="Stored only with id_number_consent")
    id_number_consent: bool = Field(False, description="The customer's separate consent to store the ID number")


class CustomerPatch(Schema):
    """Only the fields sent are changed; a new phone number is checked for collisions."""

    name: str | None = Field(None, min_length=1, max_length=50)
    phone: str | None = Field(None, min_length=1, max_length=30)
    gender: Gender | None = None
    source: Source | None = None
    budget_min: Amount | None = None
    budget_max: Amount | None = None
    value_tier: ValueTier | None = None
    household_notes: str | None = Field(None, max_length=2000)
    tags: list[TagName] | None = Field(None, max_length=20)


class StageIn(Schema):
    stage: Stage
    lost_reason: str = Field("", max_length=200, description="Required when the stage is `lost`")


class RevealIn(Schema):
    field: Literal["phone", "id_number"]
    reason: str = Field("", max_length=200, description="Why the full value is needed (audited)")


class RevealOut(Schema):
    field: str
    value: str


# --- needs ------------------------------------------------------------------------------------


class NeedsIn(Schema):
    """The whole questionnaire (PUT replaces it); each change is kept as a revision."""

    purpose: CustomerNeeds.Purpose = CustomerNeeds.Purpose.BUY
    usage: CustomerNeeds.Usage | Literal[""] = ""
    districts: list[District] = Field(default_factory=list, max_length=20)
    environment: str = Field("", max_length=2000)
    community: str = Field("", max_length=2000)
    needs_school: bool = False
    needs_hospital: bool = False
    needs_transit: bool = False
    needs_commerce: bool = False
    rooms_min: int | None = Field(None, ge=0, le=20)
    rooms_max: int | None = Field(None, ge=0, le=20)
    floor_min: int | None = Field(None, ge=-10, le=200)
    floor_max: int | None = Field(None, ge=-10, le=200)
    orientation: CustomerNeeds.Orientation = CustomerNeeds.Orientation.ANY
    area_min: Amount | None = None
    area_max: Amount | None = None
    price_min: Amount | None = None
    price_max: Amount | None = None
    payment: CustomerNeeds.Payment = CustomerNeeds.Payment.ANY
    notes: str = Field("", max_length=4000)


class NeedsRevisionOut(Schema):
    changed_at: dt.datetime
    changed_by: Ref
    before: dict[str, Any]
    after: dict[str, Any]

    @staticmethod
    def resolve_changed_by(obj):
        return user_ref(obj.changed_by)


class NeedsOut(Schema):
    purpose: str
    usage: str
    districts: list[str]
    environment: str
    community: str
    needs_school: bool
    needs_hospital: bool
    needs_transit: bool
    needs_commerce: bool
    rooms_min: int | None
    rooms_max: int | None
    floor_min: int | None
    floor_max: int | None
    orientation: str
    area_min: int | None
    area_max: int | None
    price_min: int | None
    price_max: int | None
    payment: str
    notes: str
    updated_at: dt.datetime | None = Field(None, description="Empty while the questionnaire was never saved")
    updated_by: Ref | None = None
    revisions: list[NeedsRevisionOut] = Field(default_factory=list, description="Latest changes first")

    @staticmethod
    def resolve_updated_by(obj):
        return user_ref(obj.updated_by) if obj.updated_by_id else None


# --- visits -----------------------------------------------------------------------------------


class CustomerRef(Schema):
    id: int
    name: str
    phone: str = Field(..., alias="phone_masked")


class VisitOut(Schema):
    id: int
    customer: CustomerRef
    branch: Ref
    arrived_at: dt.datetime
    is_first_visit: bool
    party_size: int
    status: str
    status_label: str = Field(..., alias="get_status_display")
    assigned_to: Ref | None = None
    by_rotation: bool
    received_by: Ref | None = None
    reception_started_at: dt.datetime | None
    reception_ended_at: dt.datetime | None
    waiting_seconds: int | None = Field(None, description="Arrival → start of reception")
    reception_seconds: int | None = Field(None, description="Start → end of reception")
    presented: str
    questions: str

    @staticmethod
    def resolve_branch(obj):
        return named_ref(obj.branch)

    @staticmethod
    def resolve_assigned_to(obj):
        return user_ref(obj.assigned_to) if obj.assigned_to_id else None

    @staticmethod
    def resolve_received_by(obj):
        return user_ref(obj.received_by) if obj.received_by_id else None


class VisitRegisteredOut(Schema):
    """What the desk is told after registering a visitor (issue #9 defect 6): only what it needs.

    A customer outside the caller's own data scope comes with a masked name and no id; the owner
    is never named as such (``GET /visits/{id}`` shows more, inside the caller's scope).
    """

    id: int
    branch: Ref
    arrived_at: dt.datetime
    party_size: int
    status: str
    status_label: str
    assigned_to: Ref | None = Field(None, description="The agent who receives the visitor; empty while unassigned")
    customer_id: int | None = Field(None, description="Only when the customer is inside your data scope")
    customer_name: str = Field(..., description="Masked (王*) unless the customer is inside your data scope")
    returning_customer: bool = Field(..., description="The visitor was received at this branch's desk before")


class VisitIn(Schema):
    branch: Id = Field(..., description="The branch whose desk registers the visit")
    phone: str = Field(..., min_length=1, max_length=30)
    name: str = Field("", max_length=50, description="Required when the phone number is not on file")
    party_size: int = Field(1, ge=1, le=50)
    arrived_at: Moment | None = Field(None, description="Defaults to now")
    source: Source = Source.WALK_IN
    consent_channel: Channel = Channel.FACE_TO_FACE
    note: str = Field("", max_length=200)


class VisitEndIn(Schema):
    presented: str = Field("", max_length=4000)
    questions: str = Field("", max_length=4000)


# --- communications ---------------------------------------------------------------------------


class CommunicationOut(Schema):
    id: int
    customer_id: int
    channel: str
    channel_label: str = Field(..., alias="get_channel_display")
    occurred_at: dt.datetime
    summary: str
    info_core: str
    info_auxiliary: str
    info_supplementary: str
    materials: str
    customer_confirmed: bool
    next_step: str
    visit_id: int | None
    recorded_by: Ref
    created_at: dt.datetime

    @staticmethod
    def resolve_recorded_by(obj):
        return user_ref(obj.recorded_by)


class CommunicationIn(Schema):
    channel: Channel
    summary: str = Field(..., max_length=4000)
    info_core: str = Field("", max_length=4000)
    info_auxiliary: str = Field("", max_length=4000)
    info_supplementary: str = Field("", max_length=4000)
    materials: str = Field("", max_length=300)
    customer_confirmed: bool = False
    next_step: str = Field("", max_length=300)
    occurred_at: Moment | None = Field(None, description="Defaults to now; not in the future")
    visit: Id | None = Field(None, description="A visit of this customer the conversation belongs to")


# --- follow-ups -------------------------------------------------------------------------------


class FollowUpOut(Schema):
    id: int
    customer: CustomerRef
    assignee: Ref
    title: str
    plan: str
    step: int | None
    due_at: dt.datetime
    is_overdue: bool
    status: str
    status_label: str = Field(..., alias="get_status_display")
    method: str
    content: str
    outcome: str
    completed_at: dt.datetime | None
    communication_id: int | None

    @staticmethod
    def resolve_assignee(obj):
        return user_ref(obj.assignee)

    @staticmethod
    def resolve_title(obj) -> str:
        # Default plan titles are stored as msgids and translated on display.
        return gettext(obj.title)

    @staticmethod
    def resolve_is_overdue(obj) -> bool:
        return obj.status == FollowUpStatus.OPEN and obj.due_at < timezone.now()


class FollowUpCompleteIn(Schema):
    outcome: FollowUpOutcome
    method: Channel
    content: str = Field("", max_length=4000)
    next_due_at: Moment | None = Field(None, description="Plan the next follow-up (in the future)")


# --- timeline ---------------------------------------------------------------------------------


class TimelineDetail(Schema):
    label: str
    value: str


class TimelineEntryOut(Schema):
    kind: str = Field(..., description="visit, communication, followup, ownership, consent, needs, feedback, stage")
    time: dt.datetime
    actor: str = Field(..., description="Display name of who did it (empty for the system)")
    title: str
    details: list[TimelineDetail]

    @staticmethod
    def resolve_details(obj):
        return [{"label": label, "value": value} for label, value in obj.details]
