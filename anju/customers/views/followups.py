"""Follow-ups (mine, completing one, the team's overdue), the communication log form and feedback."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError, PermissionDeniedError
from anju.core.forms import apply_error
from anju.core.http import page_of, posted, wants_partial
from anju.core.scoping import get_scoped_or_404

from .. import selectors
from ..choices import FollowUpStatus
from ..forms.followups import (
    CommunicationForm,
    FeedbackFilterForm,
    FeedbackForm,
    FeedbackRespondForm,
    FollowUpCompleteForm,
)
from ..models import Customer, Feedback, FollowUpTask
from ..services import communications as communication_services
from ..services import followups as followup_services

VIEW = "customers.view_customer"
CHANGE = "customers.change_customer"
SUPERVISE = "customers.transfer_customer"


def _next_url(request, default: str) -> str:
    """Where to go after a form: a same-site ``next`` (e.g. the home page) or ``default``."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return default


def _customer(request, pk: int) -> Customer:
    return get_scoped_or_404(Customer.objects.select_related("owner", "branch"), request.user, pk=pk)


# --- follow-ups --------------------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def followup_list(request):
    now = timezone.now()
    tab = request.GET.get("tab")
    tab = tab if tab in selectors.TABS else "today"
    mine = selectors.my_followups(request.user)
    page = page_of(request, selectors.tab_rows(mine, tab, now))
    context = {"tab": tab, "counts": selectors.tab_counts(mine, now), "page_obj": page, "now": now}
    template = "customers/followups/_rows.html" if wants_partial(request) else "customers/followups/list.html"
    return render(request, template, context)


def _may_complete(user, task: FollowUpTask) -> bool:
    return task.assignee_id == user.pk or user.has_perm(SUPERVISE)


@login_required
@permission_required(CHANGE, raise_exception=True)
def followup_complete(request, pk: int):
    task = get_scoped_or_404(
        FollowUpTask.objects.select_related("customer", "assignee", "communication"), request.user, pk=pk
    )
    if not _may_complete(request.user, task):
        raise PermissionDenied
    form = FollowUpCompleteForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            followup_services.followup_complete(
                actor=request.user,
                task=task,
                outcome=data["outcome"],
                method=data["method"],
                content=data["content"],
                next_due_at=data["next_due_at"],
            )
        except PermissionDeniedError:
            raise PermissionDenied from None
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The follow-up with %(name)s was recorded.") % {"name": task.customer})
            return redirect(_next_url(request, reverse("customers:followup-list")))
    context = {
        "task": task,
        "form": form,
        "is_open": task.status == FollowUpStatus.OPEN,
        "is_overdue": task.status == FollowUpStatus.OPEN and task.due_at < timezone.now(),
        "next": _next_url(request, ""),
    }
    return render(request, "customers/followups/complete.html", context)


@login_required
@permission_required(SUPERVISE, raise_exception=True)
def followup_team(request):
    now = timezone.now()
    overdue = selectors.team_overdue(request.user, now)
    agents = selectors.overdue_by_agent(overdue)
    shown = 300
    tasks = list(
        overdue.select_related("customer", "assignee").order_by("assignee__display_name", "assignee", "due_at")[:shown]
    )
    total = sum(row["count"] for row in agents)
    context = {"agents": agents, "tasks": tasks, "total": total, "shown": len(tasks), "now": now}
    return render(request, "customers/followups/team.html", context)


# --- communication log -------------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def communication_create(request, pk: int):
    customer = _customer(request, pk)
    # The reception desk links here with ?visit=<id> right after a reception ends.
    form = CommunicationForm(posted(request), customer=customer, initial={"visit": request.GET.get("visit")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            communication_services.communication_record(
                actor=request.user,
                customer=customer,
                channel=data["channel"],
                summary=data["summary"],
                info_core=data["info_core"],
                info_auxiliary=data["info_auxiliary"],
                info_supplementary=data["info_supplementary"],
                materials=data["materials"],
                customer_confirmed=data["customer_confirmed"],
                next_step=data["next_step"],
                occurred_at=data["occurred_at"],
                visit=data.get("visit"),
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The conversation with %(name)s was recorded.") % {"name": customer})
            return redirect(_next_url(request, reverse("customers:customer-detail", args=[customer.pk])))
    return render(request, "customers/communication_form.html", {"customer": customer, "form": form})


# --- feedback ----------------------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def feedback_create(request, pk: int):
    customer = _customer(request, pk)
    form = FeedbackForm(posted(request), viewer=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            communication_services.feedback_record(
                actor=request.user,
                customer=customer,
                channel=data["channel"],
                category=data["category"],
                content=data["content"],
                received_at=data["received_at"],
                handler=data["handler"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The feedback of %(name)s was recorded.") % {"name": customer})
            return redirect(_next_url(request, reverse("customers:customer-detail", args=[customer.pk])))
    return render(request, "customers/feedback_form.html", {"customer": customer, "form": form})


@login_required
@permission_required(CHANGE, raise_exception=True)
def feedback_respond(request, pk: int):
    feedback = get_scoped_or_404(
        Feedback.objects.select_related("customer", "handler", "recorded_by"), request.user, pk=pk
    )
    form = FeedbackRespondForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            communication_services.feedback_respond(
                actor=request.user,
                feedback=feedback,
                response=form.cleaned_data["response"],
                resolved=form.cleaned_data["resolved"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("Your answer was recorded."))
            return redirect(_next_url(request, reverse("customers:feedback-list")))
    now = timezone.now()
    context = {
        "feedback": feedback,
        "form": form,
        "waiting_text": selectors.duration_text((feedback.first_response_at or now) - feedback.received_at),
    }
    return render(request, "customers/feedback_respond.html", context)


FEEDBACK_STATUS = {
    "open": Q(resolved_at__isnull=True),
    "unanswered": Q(resolved_at__isnull=True, first_response_at__isnull=True),
    "resolved": Q(resolved_at__isnull=False),
    "all": Q(),
}


@login_required
@permission_required(VIEW, raise_exception=True)
def feedback_list(request):
    now = timezone.now()
    form = FeedbackFilterForm(request.GET or None)
    scoped = Feedback.objects.visible_to(request.user)
    rows = scoped.filter(FEEDBACK_STATUS[form.value("status", "open")])
    if category := form.value("category"):
        rows = rows.filter(category=category)
    if term := form.value("q").strip():
        rows = rows.filter(customer__name__icontains=term)
    # The queue: unanswered first, the longest waiting on top.
    rows = rows.select_related("customer", "handler").order_by(
        F("first_response_at").asc(nulls_first=True), "received_at", "pk"
    )
    page = page_of(request, rows)
    for feedback in page:
        answered = feedback.first_response_at is not None
        feedback.response_text = selectors.duration_text((feedback.first_response_at or now) - feedback.received_at)
        feedback.is_answered = answered
    stats = selectors.feedback_stats(scoped, now)
    context = {
        "form": form,
        "page_obj": page,
        "stats": stats,
        "avg_text": selectors.duration_text(stats["avg_response"]),
        "can_respond": request.user.has_perm(CHANGE),
    }
    template = "customers/feedback_rows.html" if wants_partial(request) else "customers/feedback_list.html"
    return render(request, template, context)
