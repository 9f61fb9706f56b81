"""Branches: the tree (indented by depth), create and edit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import posted
from anju.core.scoping import get_scoped_or_404

from .. import selectors
from ..choices import UserStatus
from ..forms import BranchForm
from ..models import Branch, Company, Team, User
from ..services import branches as services

VIEW = "org.view_branch"
MANAGE = services.MANAGE_USERS


def _count(queryset):
    """A correlated count per branch: one query for the whole tree, no join fan-out."""
    return Coalesce(Subquery(queryset.order_by().values("branch").annotate(n=Count("pk")).values("n")), 0)


@login_required
@permission_required(VIEW, raise_exception=True)
def branch_list(request):
    search = request.GET.get("q", "").strip()
    branches = list(
        selectors.branch_list_for(request.user, search=search).annotate(
            team_count=_count(Team.objects.filter(branch=OuterRef("pk"), is_active=True)),
            member_count=_count(User.objects.filter(branch=OuterRef("pk"), status=UserStatus.ACTIVE)),
        )
    )
    # Indent relative to the shallowest branch the viewer sees, so a manager's tree starts at the left.
    top = min((branch.depth for branch in branches), default=0)
    rows = [(branch, branch.depth - top) for branch in branches]
    return render(
        request,
        "org/branch_list.html",
        {
            "rows": rows,
            "search": search,
            "can_manage": request.user.has_perm(MANAGE),
        },
    )


@login_required
@permission_required(MANAGE, raise_exception=True)
def branch_create(request):
    form = BranchForm(posted(request), viewer=request.user, initial={"parent": request.GET.get("parent")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        parent = data["parent"]
        # One company per installation: a top-level branch joins it, a child its parent's.
        company = parent.company if parent is not None else Company.objects.order_by("pk").first()
        try:
            if company is None:
                raise ApplicationError("branch.no_company", _("Create the company first (manage.py setup)."))
            branch = services.branch_create(
                actor=request.user,
                company=company,
                parent=parent,
                name=data["name"],
                code=data["code"],
                kind=data["kind"],
                address=data["address"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The branch “%(branch)s” was created.") % {"branch": branch})
            return redirect("org:branch-list")
    return render(request, "org/branch_form.html", {"form": form})


@login_required
@permission_required(MANAGE, raise_exception=True)
def branch_edit(request, pk: int):
    branch = get_scoped_or_404(Branch.objects.select_related("parent"), request.user, pk=pk)
    form = BranchForm(posted(request), viewer=request.user, branch=branch)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            branch = services.branch_update(
                actor=request.user,
                branch=branch,
                parent=data["parent"],
                name=data["name"],
                code=data["code"],
                kind=data["kind"],
                address=data["address"],
                is_active=data["is_active"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The changes to “%(branch)s” were saved.") % {"branch": branch})
            return redirect("org:branch-list")
    return render(request, "org/branch_form.html", {"form": form, "branch": branch})
