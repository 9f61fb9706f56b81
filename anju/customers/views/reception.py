"""The reception desk (R2.1, R6.1.1): today's rotation, waiting visitors with their clock, and the actions.

Access to a branch's desk: ``view_visit`` plus ``branch_accessible`` — the viewer's own branch or a
branch inside their data scope (agents have "own" scope yet work at their office's desk). Anything
else is a 404. The desk shows visitors' names and masked phones only; a name links to the customer
file only when that file is inside the viewer's own scope.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.org.choices import BranchKind, UserStatus
from anju.org.models import Branch, User

from ..choices import VisitStatus
from ..forms_reception import AssignForm, AvailabilityForm, EndReceptionForm, ReasonForm, RosterForm, VisitRegisterForm
from ..models import Customer, DutyRoster, Visit
from ..rules import settings_for
from ..services import reception as services

VIEW = "customers.view_visit"
ADD = "customers.add_visit"


def _wants_partial(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def _branch_or_404(request, branch_id: int) -> Branch:
    branch = get_object_or_404(Branch, pk=branch_id)
    if not services.branch_accessible(request.user, branch):
        raise Http404
    return branch


def _visit_or_404(request, pk: int) -> Visit:
    visit = get_object_or_404(Visit.objects.select_related("branch", "customer", "assigned_to", "received_by"), pk=pk)
    if not services.branch_accessible(request.user, visit.branch):
        raise Http404
    return visit


def _desk(branch_id: int):
    return redirect("customers:reception-desk", branch_id=branch_id)


def _refused(request, exc: ApplicationError, branch_id: int):
    if exc.status == 404:
        raise Http404
    messages.error(request, str(exc.message))
    return _desk(branch_id)


# --- pages -----------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def reception_home(request):
    """Straight to the viewer's own office desk; people above the offices choose one."""
    user = request.user
    own = user.branch if user.branch_id and user.branch.kind != BranchKind.REGION else None
    if own is not None and own.is_active and not request.GET.get("choose"):
        return _desk(own.pk)
    branches = list(
        Branch.objects.filter(is_active=True)
        .exclude(kind=BranchKind.REGION)
        .filter(Q(pk__in=Branch.objects.visible_to(user).values("pk")) | Q(pk=own.pk if own else None))
        .order_by("path")
    )
    if len(branches) == 1 and not request.GET.get("choose"):
        return _desk(branches[0].pk)
    return render(request, "customers/reception/home.html", {"branches": branches})


def _minutes(seconds: float | None) -> int | None:
    return None if seconds is None else int(seconds // 60)


def _board_context(request, branch: Branch) -> dict:
    """Everything on the live board; a fixed number of queries whatever the number of visitors."""
    user = request.user
    now = timezone.now()
    today = services.rotation_day()
    day_start = timezone.make_aware(dt.datetime.combine(today, dt.time.min))
    sla_minutes = settings_for(branch).reception_sla_minutes
    roster = list(DutyRoster.objects.filter(branch=branch, day=today).select_related("agent").order_by("position"))
    candidates = [
        entry
        for entry in roster
        if entry.is_available and entry.agent.is_active and entry.agent.status == UserStatus.ACTIVE
    ]
    up_next = min(candidates, key=lambda entry: (entry.turns_taken, entry.position, entry.pk), default=None)
    visits = list(
        Visit.objects.filter(branch=branch)
        # Still-open visits of earlier days stay on the board until someone closes them.
        .filter(Q(arrived_at__gte=day_start) | Q(status__in=[VisitStatus.WAITING, VisitStatus.IN_RECEPTION]))
        .select_related("customer", "customer__owner", "assigned_to", "received_by")
        .order_by("arrived_at", "pk")
    )
    visible = set(
        Customer.objects.visible_to(user)
        .filter(pk__in={visit.customer_id for visit in visits})
        .values_list("pk", flat=True)
    )
    lead = services.is_lead(user)
    for visit in visits:
        waited = (visit.reception_started_at or now) - visit.arrived_at
        visit.waiting_minutes = _minutes(max(waited.total_seconds(), 0))
        visit.over_sla = waited.total_seconds() > sla_minutes * 60
        visit.duration_minutes = _minutes(visit.reception_seconds)
        visit.in_reception_minutes = (
            _minutes((now - visit.reception_started_at).total_seconds()) if visit.reception_started_at else None
        )
        visit.customer_visible = visit.customer_id in visible
        visit.to_owner = visit.assigned_to_id is not None and visit.assigned_to_id == visit.customer.owner_id
        visit.can_receive = visit.assigned_to_id is not None and (
            lead or user.pk in (visit.assigned_to_id, visit.received_by_id)
        )
    can_act = user.has_perm(ADD)
    waiting = [visit for visit in visits if visit.status == VisitStatus.WAITING]
    finished = [visit for visit in visits if visit.status in (VisitStatus.DONE, VisitStatus.LEFT)]
    done = [visit for visit in finished if visit.status == VisitStatus.DONE and visit.waiting_seconds is not None]
    return {
        "branch": branch,
        "today": today,
        "now": now,
        "sla_minutes": sla_minutes,
        "roster": roster,
        "up_next": up_next,
        "waiting": waiting,
        "overdue_count": sum(1 for visit in waiting if visit.over_sla),
        "in_reception": [visit for visit in visits if visit.status == VisitStatus.IN_RECEPTION],
        "finished": finished,
        "average_wait": _minutes(sum(v.waiting_seconds for v in done) / len(done)) if done else None,
        "agents": list(services.eligible_agents(branch)) if can_act else [],
        "can_act": can_act,
        "is_lead": lead,
    }


def _render_desk(request, branch: Branch, form: VisitRegisterForm | None = None, status: int = 200):
    context = _board_context(request, branch)
    if _wants_partial(request):
        return render(request, "customers/reception/_board.html", context)
    context["form"] = form or VisitRegisterForm()
    return render(request, "customers/reception/desk.html", context, status=status)


@login_required
@permission_required(VIEW, raise_exception=True)
def reception_desk(request, branch_id: int):
    return _render_desk(request, _branch_or_404(request, branch_id))


# --- actions ---------------------------------------------------------------------------------


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def visit_register(request, branch_id: int):
    branch = _branch_or_404(request, branch_id)
    form = VisitRegisterForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            visit = services.visit_register(
                actor=request.user, branch=branch, phone=data["phone"], name=data["name"],
                party_size=data["party_size"],
            )  # fmt: skip
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            apply_error(form, exc)
        else:
            if visit.assigned_to is None:
                note = _("nobody is on duty: assign an agent")
            elif visit.by_rotation:
                note = _("next in rotation: %(agent)s") % {"agent": visit.assigned_to}
            else:
                note = _("returning — assigned to owner %(agent)s") % {"agent": visit.assigned_to}
            messages.success(
                request, _("%(name)s registered (%(note)s).") % {"name": visit.customer.name, "note": note}
            )
            return _desk(branch.pk)
    return _render_desk(request, branch, form)


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def visit_start(request, pk: int):
    visit = _visit_or_404(request, pk)
    try:
        services.visit_start_reception(actor=request.user, visit=visit)
    except ApplicationError as exc:
        return _refused(request, exc, visit.branch_id)
    messages.success(request, _("Reception of %(name)s started.") % {"name": visit.customer.name})
    return _desk(visit.branch_id)


@login_required
@permission_required(ADD, raise_exception=True)
def visit_end(request, pk: int):
    visit = _visit_or_404(request, pk)
    form = EndReceptionForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            services.visit_end_reception(actor=request.user, visit=visit, **form.cleaned_data)
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            apply_error(form, exc)
        else:
            messages.success(request, _("Reception of %(name)s finished.") % {"name": visit.customer.name})
            return _desk(visit.branch_id)
    visible = Customer.objects.visible_to(request.user).filter(pk=visit.customer_id).exists()
    return render(
        request, "customers/reception/visit_end.html", {"visit": visit, "form": form, "customer_visible": visible}
    )


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def visit_left(request, pk: int):
    visit = _visit_or_404(request, pk)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason."))
        return _desk(visit.branch_id)
    try:
        services.visit_mark_left(actor=request.user, visit=visit, reason=form.cleaned_data["reason"])
    except ApplicationError as exc:
        return _refused(request, exc, visit.branch_id)
    messages.success(request, _("%(name)s marked as left without reception.") % {"name": visit.customer.name})
    return _desk(visit.branch_id)


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def visit_assign(request, pk: int):
    visit = _visit_or_404(request, pk)
    # The service decides who may take the visitor; the form only resolves the id.
    agents = User.objects.filter(Q(branch=visit.branch_id) | Q(pk=visit.customer.owner_id), status=UserStatus.ACTIVE)
    form = AssignForm(request.POST, agents=agents)
    if not form.is_valid():
        messages.error(request, _("Choose an active sales employee of this branch."))
        return _desk(visit.branch_id)
    try:
        services.visit_assign(
            actor=request.user, visit=visit, agent=form.cleaned_data["agent"], reason=form.cleaned_data["reason"]
        )
    except ApplicationError as exc:
        return _refused(request, exc, visit.branch_id)
    messages.success(
        request,
        _("%(name)s assigned to %(agent)s.") % {"name": visit.customer.name, "agent": form.cleaned_data["agent"]},
    )
    return _desk(visit.branch_id)


def _roster_entry_or_404(request, branch_id: int, roster_id: int) -> DutyRoster:
    branch = _branch_or_404(request, branch_id)
    return get_object_or_404(DutyRoster.objects.select_related("agent", "branch"), pk=roster_id, branch=branch)


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def roster_skip(request, branch_id: int, roster_id: int):
    entry = _roster_entry_or_404(request, branch_id, roster_id)
    form = ReasonForm(request.POST)
    if not form.is_valid():
        messages.error(request, _("Give a reason for skipping the turn."))
        return _desk(branch_id)
    try:
        services.roster_skip(
            actor=request.user,
            branch=entry.branch,
            day=entry.day,
            agent=entry.agent,
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as exc:
        return _refused(request, exc, branch_id)
    messages.success(request, _("%(agent)s's turn was skipped.") % {"agent": entry.agent})
    return _desk(branch_id)


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def roster_availability(request, branch_id: int, roster_id: int):
    entry = _roster_entry_or_404(request, branch_id, roster_id)
    form = AvailabilityForm(request.POST)
    form.is_valid()
    try:
        services.roster_set_available(
            actor=request.user, branch=entry.branch, day=entry.day, agent=entry.agent,
            is_available=form.cleaned_data.get("is_available", False),
        )  # fmt: skip
    except ApplicationError as exc:
        return _refused(request, exc, branch_id)
    return _desk(branch_id)


@login_required
@permission_required(ADD, raise_exception=True)
def roster_edit(request, branch_id: int):
    """The duty list of a day (team leads and managers)."""
    branch = _branch_or_404(request, branch_id)
    if not services.is_lead(request.user):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else None
    day = services.rotation_day()
    raw_day = (data or request.GET).get("day")
    if raw_day:
        with contextlib.suppress(ValueError):
            day = dt.date.fromisoformat(raw_day)
    current = dict(DutyRoster.objects.filter(branch=branch, day=day).values_list("agent_id", "position"))
    agents = services.eligible_agents(branch).select_related("team")
    form = RosterForm(data, agents=agents, current=current, initial={"day": day})
    if data is not None and form.is_valid():
        try:
            services.roster_set(
                actor=request.user, branch=branch, day=form.cleaned_data["day"], agents=form.ordered_agents()
            )
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            apply_error(form, exc)
        else:
            messages.success(request, _("The duty roster of %(day)s was saved.") % {"day": form.cleaned_data["day"]})
            return _desk(branch.pk)
    return render(request, "customers/reception/roster_form.html", {"branch": branch, "form": form, "day": day})


urlpatterns = [
    path("reception/", reception_home, name="reception-home"),
    path("reception/<int:branch_id>/", reception_desk, name="reception-desk"),
    path("reception/<int:branch_id>/register/", visit_register, name="visit-register"),
    path("reception/<int:branch_id>/roster/", roster_edit, name="roster-edit"),
    path("reception/<int:branch_id>/roster/<int:roster_id>/skip/", roster_skip, name="roster-skip"),
    path(
        "reception/<int:branch_id>/roster/<int:roster_id>/availability/",
        roster_availability,
        name="roster-availability",
    ),
    path("reception/visits/<int:pk>/start/", visit_start, name="visit-start"),
    path("reception/visits/<int:pk>/end/", visit_end, name="visit-end"),
    path("reception/visits/<int:pk>/left/", visit_left, name="visit-left"),
    path("reception/visits/<int:pk>/assign/", visit_assign, name="visit-assign"),
]
