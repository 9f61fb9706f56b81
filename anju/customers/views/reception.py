"""The reception desk (R2.1, R6.1.1): today's rotation, waiting visitors with their clock, and the actions.

Access to a branch's desk: ``view_visit`` plus the scope policy's ``desk`` action — the viewer's own
branch or a branch inside their data scope (agents have "own" scope yet work at their office's desk). Anything
else is a 404. The desk shows visitors' names and masked phones only; a name links to the customer
file only when that file is inside the viewer's own scope.
"""

from __future__ import annotations

import contextlib
import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import wants_partial
from anju.core.scoping import get_scoped_or_404, in_scope
from anju.org.choices import BranchKind
from anju.org.models import Branch

from .. import selectors
from ..disclosure import desk_visitor
from ..forms.reception import AssignForm, AvailabilityForm, EndReceptionForm, ReasonForm, RosterForm, VisitRegisterForm
from ..models import DutyRoster, Visit
from ..rules import manages_rotation, rotation_day
from ..services import reception as services
from ..services.customers import desk_error

VIEW = "customers.view_visit"
ADD = "customers.add_visit"


def _branch_or_404(request, branch_id: int) -> Branch:
    return get_scoped_or_404(Branch.objects.all(), request.user, "desk", pk=branch_id)


def _visit_or_404(request, pk: int) -> Visit:
    visits = Visit.objects.select_related("branch", "customer", "assigned_to", "received_by")
    return get_scoped_or_404(visits, request.user, "desk", pk=pk)


def _desk(branch_id: int):
    return redirect("customers:reception-desk", branch_id=branch_id)


def _refused(request, exc: ApplicationError, branch: Branch):
    if exc.status == 404:
        raise Http404
    messages.error(request, str(exc.message))
    if exc.status == 403:
        # Someone else's visitor or turn (R6.1.1, issue #9): a real 403, with the desk as it is now.
        return _render_desk(request, branch, status=403)
    return _desk(branch.pk)


# --- pages -----------------------------------------------------------------------------------


@login_required
@permission_required(VIEW, raise_exception=True)
def reception_home(request):
    """Straight to the viewer's own office desk; people above the offices choose one."""
    user = request.user
    own = user.branch if user.branch_id and user.branch.kind != BranchKind.REGION else None
    if own is not None and own.is_active and not request.GET.get("choose"):
        return _desk(own.pk)
    branches = list(selectors.desk_branches_for(user))
    if len(branches) == 1 and not request.GET.get("choose"):
        return _desk(branches[0].pk)
    return render(request, "customers/reception/home.html", {"branches": branches})


def _render_desk(request, branch: Branch, form: VisitRegisterForm | None = None, status: int = 200):
    context = selectors.reception_board_for(request.user, branch)
    if wants_partial(request):
        return render(request, "customers/reception/_board.html", context, status=status)
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
                actor=request.user,
                branch=branch,
                phone=data["phone"],
                name=data["name"],
                party_size=data["party_size"],
            )
        except ApplicationError as exc:
            if exc.status == 404:
                raise Http404 from None
            apply_error(form, desk_error(exc))
        else:
            # Someone else's customer is named masked and without their owner (issue #9 defect 6).
            visitor = desk_visitor(request.user, visit)
            if visit.assigned_to is None:
                note = _("nobody is on duty: assign an agent")
            elif visit.by_rotation:
                note = _("next in rotation: %(agent)s") % {"agent": visit.assigned_to}
            elif visitor.visible:
                note = _("returning — assigned to owner %(agent)s") % {"agent": visit.assigned_to}
            else:
                note = _("assigned to %(agent)s") % {"agent": visit.assigned_to}
            messages.success(request, _("%(name)s registered (%(note)s).") % {"name": visitor.name, "note": note})
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
        return _refused(request, exc, visit.branch)
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
            if exc.status in (403, 404):
                return _refused(request, exc, visit.branch)
            apply_error(form, exc)
        else:
            messages.success(request, _("Reception of %(name)s finished.") % {"name": visit.customer.name})
            return _desk(visit.branch_id)
    visible = in_scope(request.user, visit.customer)
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
        return _refused(request, exc, visit.branch)
    messages.success(request, _("%(name)s marked as left without reception.") % {"name": visit.customer.name})
    return _desk(visit.branch_id)


@login_required
@permission_required(ADD, raise_exception=True)
@require_POST
def visit_assign(request, pk: int):
    visit = _visit_or_404(request, pk)
    # The service decides who may take the visitor; the form only resolves the id.
    form = AssignForm(request.POST, agents=selectors.assign_candidates(visit))
    if not form.is_valid():
        messages.error(request, _("Choose an active sales employee of this branch."))
        return _desk(visit.branch_id)
    try:
        services.visit_assign(
            actor=request.user, visit=visit, agent=form.cleaned_data["agent"], reason=form.cleaned_data["reason"]
        )
    except ApplicationError as exc:
        return _refused(request, exc, visit.branch)
    messages.success(
        request,
        _("%(name)s assigned to %(agent)s.") % {"name": visit.customer.name, "agent": form.cleaned_data["agent"]},
    )
    return _desk(visit.branch_id)


def _roster_entry_or_404(request, branch_id: int, roster_id: int) -> DutyRoster:
    entries = DutyRoster.objects.select_related("agent", "branch")
    return get_scoped_or_404(entries, request.user, "desk", pk=roster_id, branch_id=branch_id)


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
        return _refused(request, exc, entry.branch)
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
            actor=request.user,
            branch=entry.branch,
            day=entry.day,
            agent=entry.agent,
            is_available=form.cleaned_data.get("is_available", False),
        )
    except ApplicationError as exc:
        return _refused(request, exc, entry.branch)
    return _desk(branch_id)


@login_required
@permission_required(ADD, raise_exception=True)
def roster_edit(request, branch_id: int):
    """The duty list of a day (whoever runs the rotation: team leads and managers)."""
    branch = _branch_or_404(request, branch_id)
    if not manages_rotation(request.user):
        raise PermissionDenied
    data = request.POST if request.method == "POST" else None
    day = rotation_day()
    raw_day = (data or request.GET).get("day")
    if raw_day:
        with contextlib.suppress(ValueError):
            day = dt.date.fromisoformat(raw_day)
    current = selectors.roster_positions(branch, day)
    agents = selectors.eligible_agents(branch).select_related("team")
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
