"""Teams: list (filter, page, CSV), detail with members, create and edit."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from anju.core.errors import ApplicationError
from anju.core.exports import export_file
from anju.core.forms import apply_error
from anju.core.http import page_of, posted, wants_partial
from anju.core.scoping import get_scoped_or_404

from .. import selectors
from ..choices import UserStatus
from ..forms import TeamFilterForm, TeamForm
from ..models import Team, User
from ..services import teams as services

VIEW = "org.view_team"
MANAGE = services.MANAGE_USERS


def _teams(request, form: TeamFilterForm):
    return selectors.team_list_for(request.user, **form.selector_filters()).annotate(
        member_count=Count("members", filter=Q(members__status=UserStatus.ACTIVE))
    )


def _in_scope(request, pk: int) -> Team:
    return get_scoped_or_404(Team.objects.select_related("branch", "lead"), request.user, pk=pk)


@login_required
@permission_required(VIEW, raise_exception=True)
def team_list(request):
    form = TeamFilterForm(request.GET or None, viewer=request.user)
    page = page_of(request, _teams(request, form))
    template = "org/partials/_team_rows.html" if wants_partial(request) else "org/team_list.html"
    return render(request, template, {"form": form, "page_obj": page})


@login_required
@permission_required(VIEW, raise_exception=True)
def team_export(request):
    form = TeamFilterForm(request.GET or None, viewer=request.user)
    teams = _teams(request, form)
    filters = form.selector_filters()
    header = [
        _("Team"),
        _("Branch"),
        _("Branch code"),
        _("Team lead"),
        _("Active members"),
        pgettext("in use", "Active"),
    ]

    def rows(teams):
        for team in teams.iterator(chunk_size=500):
            yield [
                team.name,
                team.branch,
                team.branch.code,
                team.lead or "",
                team.member_count,
                _("Yes") if team.is_active else _("No"),
            ]

    return export_file(
        actor=request.user,
        action="org.team.exported",
        queryset=teams,
        header=header,
        rows=rows,
        name="teams",
        filters={key: value for key, value in filters.items() if value},
    )


@login_required
@permission_required(VIEW, raise_exception=True)
def team_detail(request, pk: int):
    team = _in_scope(request, pk)
    # Members are listed through the viewer's own scope too: deny by default, row by row.
    members = (
        User.objects.visible_to(request.user).filter(team=team).prefetch_related("roles").order_by("status", "username")
    )
    return render(
        request,
        "org/team_detail.html",
        {
            "team": team,
            "members": members,
            "can_manage": request.user.has_perm(MANAGE),
            "can_view_users": request.user.has_perm("org.view_user"),
        },
    )


@login_required
@permission_required(MANAGE, raise_exception=True)
def team_create(request):
    form = TeamForm(posted(request), viewer=request.user, initial={"branch": request.GET.get("branch")})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            team = services.team_create(actor=request.user, branch=data["branch"], name=data["name"], lead=data["lead"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The team “%(team)s” was created.") % {"team": team})
            return redirect("org:team-detail", pk=team.pk)
    return render(request, "org/team_form.html", {"form": form})


@login_required
@permission_required(MANAGE, raise_exception=True)
def team_edit(request, pk: int):
    team = _in_scope(request, pk)
    form = TeamForm(posted(request), viewer=request.user, team=team)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            team = services.team_update(
                actor=request.user, team=team, name=data["name"], lead=data["lead"], is_active=data["is_active"]
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The changes to “%(team)s” were saved.") % {"team": team})
            return redirect("org:team-detail", pk=team.pk)
    return render(request, "org/team_form.html", {"form": form, "team": team})
