"""Reads for the organisation; every list starts from ``visible_to(user)``."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from .models import Branch, Team, User


def user_list_for(
    viewer: User,
    *,
    search: str = "",
    branch_id: int | None = None,
    team_id: int | None = None,
    status: str = "",
    role: str = "",
) -> QuerySet[User]:
    """Users in the viewer's scope, filtered; ready for a page of rows (no N+1)."""
    queryset = User.objects.visible_to(viewer).select_related("branch", "team").prefetch_related("roles")
    if search:
        queryset = queryset.filter(
            Q(username__icontains=search) | Q(display_name__icontains=search) | Q(employee_no__icontains=search)
        )
    if branch_id:
        queryset = queryset.filter(branch_id=branch_id)
    if team_id:
        queryset = queryset.filter(team_id=team_id)
    if status:
        queryset = queryset.filter(status=status)
    if role:
        queryset = queryset.filter(roles__code=role)
    return queryset.order_by("username")


def team_list_for(viewer: User, *, search: str = "", branch_id: int | None = None) -> QuerySet[Team]:
    """Teams in the viewer's scope with branch and lead loaded."""
    queryset = Team.objects.visible_to(viewer).select_related("branch", "lead")
    if search:
        queryset = queryset.filter(name__icontains=search)
    if branch_id:
        queryset = queryset.filter(branch_id=branch_id)
    return queryset.order_by("branch__path", "name")


def branch_list_for(viewer: User, *, search: str = "") -> QuerySet[Branch]:
    """Branches in the viewer's scope in tree order."""
    queryset = Branch.objects.visible_to(viewer).select_related("parent", "company")
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(code__icontains=search))
    return queryset.order_by("path")
