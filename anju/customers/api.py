"""/api/v1 for customers, needs, visits, communications and follow-ups.

Reads start from ``visible_to(user)`` (out of scope is a 404); writes call the services, whose
``ApplicationError`` the API root renders in the one error shape. Phones are always masked.

No ``from __future__ import annotations`` here: django-ninja reads ``Query[...]`` parameter
annotations at import time and cannot resolve them from strings.
"""

import datetime as dt
from typing import Literal

from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anju.core.api import AUTH_ERRORS, BODY_ERRORS, INPUT_ERRORS, Day, ErrorOut, Id, Paginated, require_perm
from anju.core.errors import ApplicationError, ValidationFailed
from anju.core.scoping import get_scoped_or_404
from anju.org.models import Branch

from . import selectors
from .choices import FollowUpStatus, Source, Stage, VisitStatus
from .disclosure import desk_visitor
from .models import Communication, Customer, CustomerNeeds, FollowUpTask, NeedsRevision, Visit
from .schemas import (
    CommunicationIn,
    CommunicationOut,
    CustomerDetailOut,
    CustomerIn,
    CustomerOut,
    CustomerPatch,
    FollowUpCompleteIn,
    FollowUpOut,
    NeedsIn,
    NeedsOut,
    RevealIn,
    RevealOut,
    StageIn,
    TimelineEntryOut,
    VisitEndIn,
    VisitIn,
    VisitOut,
    VisitRegisteredOut,
    named_ref,
    user_ref,
)
from .selectors import tab_filter
from .services import communications, followups, reception
from .services import customers as customer_services
from .timeline import timeline_for

router = Router()

VIEW = "customers.view_customer"
ADD = "customers.add_customer"
CHANGE = "customers.change_customer"

NOT_FOUND = {404: ErrorOut}
# Reading one record: its id out of bounds (422) or outside the caller's scope (404).
READ_ERRORS = {**AUTH_ERRORS, **INPUT_ERRORS, **NOT_FOUND}
LIST_ERRORS = {**AUTH_ERRORS, **INPUT_ERRORS}
WRITE_ERRORS = {**AUTH_ERRORS, **BODY_ERRORS, 404: ErrorOut, 409: ErrorOut}
# Fields PATCH may clear (set to null); the others are ignored when sent as null.
NULLABLE = {"budget_min", "budget_max"}


def _customer_detail(user, customer_id: int) -> Customer:
    queryset = Customer.objects.select_related("owner", "team", "branch").prefetch_related("tags", "consents")
    return get_scoped_or_404(queryset, user, pk=customer_id)


def _customer(user, customer_id: int) -> Customer:
    return get_scoped_or_404(Customer.objects, user, pk=customer_id)


# --- customers --------------------------------------------------------------------------------


class CustomerFilters(Schema):
    search: str = Field("", max_length=50, description="A name, the last four digits, or the full mobile number")
    stage: Stage | Literal[""] = ""
    source: Source | Literal[""] = ""
    owner: Id | None = None
    team: Id | None = None
    tag: str = Field("", max_length=30)
    sort: Literal["updated", "created", "name", "protection", "contact"] = "updated"


@router.get("/customers", response={200: list[CustomerOut], **LIST_ERRORS}, tags=["customers"])
@paginate(Paginated)
def list_customers(request, filters: Query[CustomerFilters]):
    """Customers in the caller's scope (public-pool customers are not listed), searched, filtered and sorted."""
    require_perm(request, VIEW)
    return selectors.customer_list_for(
        request.user,
        search=filters.search,
        stage=filters.stage,
        source=filters.source,
        owner_id=filters.owner,
        team_id=filters.team,
        tag=filters.tag,
        sort=filters.sort,
    )


@router.post("/customers", response={201: CustomerDetailOut, **WRITE_ERRORS, 429: ErrorOut}, tags=["customers"])
def create_customer(request, payload: CustomerIn):
    """Register a customer; the caller becomes the first-responder owner.

    A phone number already on file is refused with 409 ``customer.duplicate`` naming the owner
    (``customer.in_pool`` when the customer is in the public pool). Each such answer is audited;
    past the hourly limit per user it is 429 ``customer.collision_rate_limited``, naming nobody.
    """
    require_perm(request, ADD)
    customer = customer_services.customer_register(actor=request.user, **payload.model_dump(mode="json"))
    return Status(201, _customer_detail(request.user, customer.pk))


@router.get("/customers/{customer_id}", response={200: CustomerDetailOut, **READ_ERRORS}, tags=["customers"])
def get_customer(request, customer_id: Id):
    """One customer file in the caller's scope (404 outside it); phone and ID number masked."""
    require_perm(request, VIEW)
    return _customer_detail(request.user, customer_id)


@router.patch(
    "/customers/{customer_id}", response={200: CustomerDetailOut, **WRITE_ERRORS, 429: ErrorOut}, tags=["customers"]
)
def update_customer(request, customer_id: Id, payload: CustomerPatch):
    """Change the fields sent (and only those); the change is audited."""
    require_perm(request, CHANGE)
    customer = _customer(request.user, customer_id)
    changes = {
        name: value
        for name, value in payload.model_dump(mode="json", exclude_unset=True).items()
        if value is not None or name in NULLABLE
    }
    customer_services.customer_update(actor=request.user, customer=customer, **changes)
    return _customer_detail(request.user, customer_id)


@router.post("/customers/{customer_id}/stage", response={200: CustomerDetailOut, **WRITE_ERRORS}, tags=["customers"])
def change_stage(request, customer_id: Id, payload: StageIn):
    """Move the customer along the lifecycle; `lost` needs a reason, other moves follow the stage table."""
    require_perm(request, CHANGE)
    customer = _customer(request.user, customer_id)
    customer_services.customer_change_stage(
        actor=request.user, customer=customer, to_stage=payload.stage.value, lost_reason=payload.lost_reason
    )
    return _customer_detail(request.user, customer_id)


@router.post(
    "/customers/{customer_id}/reveal",
    response={200: RevealOut, **AUTH_ERRORS, **NOT_FOUND, **BODY_ERRORS, 429: ErrorOut},
    tags=["customers"],
)
def reveal_contact(request, customer_id: Id, payload: RevealIn):
    """The full phone or ID-card number: needs the reveal permission and a typed reason; audited and rate-limited."""
    require_perm(request, VIEW)
    customer = _customer(request.user, customer_id)
    value = customer_services.customer_reveal(
        actor=request.user, customer=customer, field=payload.field, reason=payload.reason
    )
    return {"field": payload.field, "value": value}


# --- needs ------------------------------------------------------------------------------------

NEEDS_REVISIONS_SHOWN = 20


def _needs_out(customer: Customer) -> CustomerNeeds:
    needs = CustomerNeeds.objects.select_related("updated_by").filter(customer=customer).first()
    if needs is None:
        # Never saved: the empty questionnaire, with no author or time.
        needs = CustomerNeeds(customer=customer)
        needs.updated_at = None
    needs.revisions = list(
        NeedsRevision.objects.filter(customer=customer).select_related("changed_by")[:NEEDS_REVISIONS_SHOWN]
    )
    return needs


@router.get("/customers/{customer_id}/needs", response={200: NeedsOut, **READ_ERRORS}, tags=["customers"])
def get_needs(request, customer_id: Id):
    """The customer's needs profile and its latest revisions (what changed, by whom, when)."""
    require_perm(request, VIEW)
    return _needs_out(_customer(request.user, customer_id))


@router.put("/customers/{customer_id}/needs", response={200: NeedsOut, **WRITE_ERRORS}, tags=["customers"])
def put_needs(request, customer_id: Id, payload: NeedsIn):
    """Save the whole needs questionnaire; a change is kept as a revision and audited."""
    require_perm(request, CHANGE)
    customer = _customer(request.user, customer_id)
    customer_services.needs_update(actor=request.user, customer=customer, **payload.model_dump(mode="json"))
    return _needs_out(customer)


# --- timeline ---------------------------------------------------------------------------------


class TimelineParams(Schema):
    limit: int = Field(200, ge=1, le=200, description="Newest entries first, at most 200")


@router.get(
    "/customers/{customer_id}/timeline",
    response={200: list[TimelineEntryOut], **READ_ERRORS},
    tags=["customers"],
)
def get_timeline(request, customer_id: Id, params: Query[TimelineParams]):
    """Everything that happened to the customer, newest first: visits, communications, follow-ups,
    ownership changes, consents, needs, feedback and stage changes."""
    require_perm(request, VIEW)
    customer = _customer(request.user, customer_id)
    return timeline_for(customer, request.user, limit=params.limit)


# --- visits -----------------------------------------------------------------------------------

VIEW_VISIT = "customers.view_visit"
ADD_VISIT = "customers.add_visit"


def _visits_for(user):
    return Visit.objects.visible_to(user).select_related("customer", "branch", "assigned_to", "received_by")


def _visit(user, visit_id: int) -> Visit:
    try:
        return _visits_for(user).get(pk=visit_id)
    except Visit.DoesNotExist:
        raise Http404 from None


class VisitFilters(Schema):
    branch: Id | None = None
    date: Day | None = Field(None, description="Local day of arrival (Asia/Shanghai)")
    status: VisitStatus | Literal[""] = ""


@router.get("/visits", response={200: list[VisitOut], **LIST_ERRORS}, tags=["visits"])
@paginate(Paginated)
def list_visits(request, filters: Query[VisitFilters]):
    """Visits in the caller's scope, newest arrival first."""
    require_perm(request, VIEW_VISIT)
    queryset = _visits_for(request.user)
    if filters.branch:
        queryset = queryset.filter(branch_id=filters.branch)
    if filters.date:
        start = timezone.make_aware(dt.datetime.combine(filters.date, dt.time.min))
        queryset = queryset.filter(arrived_at__gte=start, arrived_at__lt=start + dt.timedelta(days=1))
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    return queryset.order_by("-arrived_at", "-pk")


@router.post("/visits", response={201: VisitRegisteredOut, **WRITE_ERRORS}, tags=["visits"])
def create_visit(request, payload: VisitIn):
    """Register a visitor at a branch's desk: a known customer goes to their owner, anyone else to the
    next agent in the reception rotation (who becomes the first responder).

    The answer holds only what the desk needs (issue #9 defect 6): a customer outside the caller's
    data scope comes with a masked name, no id and no owner.
    """
    require_perm(request, ADD_VISIT)
    branch = get_scoped_or_404(Branch.objects.all(), request.user, "desk", pk=payload.branch)
    values = payload.model_dump(mode="json", exclude={"branch", "arrived_at"})
    try:
        visit = reception.visit_register(actor=request.user, branch=branch, arrived_at=payload.arrived_at, **values)
    except ApplicationError as exc:
        raise customer_services.desk_error(exc) from None
    visit = Visit.objects.select_related("customer", "branch", "assigned_to").get(pk=visit.pk)
    visitor = desk_visitor(request.user, visit)
    return Status(
        201,
        {
            "id": visit.pk,
            "branch": named_ref(visit.branch),
            "arrived_at": visit.arrived_at,
            "party_size": visit.party_size,
            "status": visit.status,
            "status_label": visit.get_status_display(),
            "assigned_to": user_ref(visit.assigned_to),
            "customer_id": visitor.customer_id,
            "customer_name": visitor.name,
            "returning_customer": visitor.returning,
        },
    )


@router.get("/visits/{visit_id}", response={200: VisitOut, **READ_ERRORS}, tags=["visits"])
def get_visit(request, visit_id: Id):
    """One visit in the caller's scope (or assigned to the caller); 404 otherwise."""
    require_perm(request, VIEW_VISIT)
    return _visit(request.user, visit_id)


@router.post("/visits/{visit_id}/start", response={200: VisitOut, **READ_ERRORS, 409: ErrorOut}, tags=["visits"])
def start_reception(request, visit_id: Id):
    """The assigned agent (or a lead / manager) starts receiving the visitor; the waiting clock stops."""
    require_perm(request, ADD_VISIT)
    visit = reception.visit_start_reception(actor=request.user, visit=_visit(request.user, visit_id))
    return _visit(request.user, visit.pk)


@router.post("/visits/{visit_id}/end", response={200: VisitOut, **WRITE_ERRORS}, tags=["visits"])
def end_reception(request, visit_id: Id, payload: VisitEndIn):
    """Finish the reception with what was presented and asked; the follow-up plan starts from here."""
    require_perm(request, ADD_VISIT)
    visit = reception.visit_end_reception(
        actor=request.user,
        visit=_visit(request.user, visit_id),
        presented=payload.presented,
        questions=payload.questions,
    )
    return _visit(request.user, visit.pk)


# --- communications ---------------------------------------------------------------------------


@router.get(
    "/customers/{customer_id}/communications",
    response={200: list[CommunicationOut], **READ_ERRORS},
    tags=["communications"],
)
@paginate(Paginated)
def list_communications(request, customer_id: Id):
    """The customer's communication log, newest first."""
    require_perm(request, VIEW)
    customer = _customer(request.user, customer_id)
    return customer.communications.select_related("recorded_by").order_by("-occurred_at", "-pk")


@router.post(
    "/customers/{customer_id}/communications", response={201: CommunicationOut, **WRITE_ERRORS}, tags=["communications"]
)
def create_communication(request, customer_id: Id, payload: CommunicationIn):
    """Log one contact: channel, summary, information given, materials, confirmation and next step."""
    require_perm(request, CHANGE)
    customer = _customer(request.user, customer_id)
    visit = None
    if payload.visit is not None:
        visit = customer.visits.filter(pk=payload.visit).first()
        if visit is None:
            message = _("This visit belongs to another customer.")
            raise ValidationFailed("communication.visit_mismatch", message, {"visit": [message]})
    values = payload.model_dump(mode="json", exclude={"visit", "occurred_at"})
    communication = communications.communication_record(
        actor=request.user, customer=customer, visit=visit, occurred_at=payload.occurred_at, **values
    )
    return Status(201, Communication.objects.select_related("recorded_by").get(pk=communication.pk))


# --- follow-ups -------------------------------------------------------------------------------


class FollowUpFilters(Schema):
    status: FollowUpStatus | Literal[""] = ""
    due: Literal["today", "overdue", "upcoming", ""] = Field(
        "",
        description=(
            "Open follow-ups only — overdue: past due; today: due later today (Asia/Shanghai); "
            "upcoming: due after today"
        ),
    )
    assignee: Id | None = Field(None, description="Someone else's follow-ups (within your scope)")
    everyone: bool = Field(False, description="Every follow-up in your scope instead of only your own")
    customer: Id | None = None


@router.get("/followups", response={200: list[FollowUpOut], **LIST_ERRORS}, tags=["followups"])
@paginate(Paginated)
def list_followups(request, filters: Query[FollowUpFilters]):
    """The caller's own follow-ups by default, soonest due first; leads may ask for an agent of their team."""
    require_perm(request, VIEW)
    queryset = FollowUpTask.objects.visible_to(request.user).select_related("customer", "assignee")
    if filters.assignee:
        queryset = queryset.filter(assignee_id=filters.assignee)
    elif not filters.everyone:
        queryset = queryset.filter(assignee=request.user)
    if filters.customer:
        queryset = queryset.filter(customer_id=filters.customer)
    if filters.status:
        queryset = queryset.filter(status=filters.status)
    if filters.due:
        # The same split as the follow-ups page: open ones, overdue / due today / later, no overlap.
        queryset = queryset.filter(tab_filter(filters.due, timezone.now()))
    return queryset.order_by("due_at", "pk")


@router.post("/followups/{followup_id}/complete", response={200: FollowUpOut, **WRITE_ERRORS}, tags=["followups"])
def complete_followup(request, followup_id: Id, payload: FollowUpCompleteIn):
    """Close a follow-up with its outcome: the contact is logged and the customer's protection extended."""
    require_perm(request, CHANGE)
    queryset = FollowUpTask.objects.select_related("customer", "assignee")
    task = get_scoped_or_404(queryset, request.user, pk=followup_id)
    followups.followup_complete(
        actor=request.user,
        task=task,
        outcome=payload.outcome.value,
        method=payload.method.value,
        content=payload.content,
        next_due_at=payload.next_due_at,
    )
    return queryset.get(pk=task.pk)
