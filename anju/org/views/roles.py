"""Roles: their permissions (grouped by app) and data scope."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import posted

from ..choices import UserStatus
from ..forms import RoleForm, anju_permissions
from ..models import Role, User
from ..services import roles as services

MANAGE = services.MANAGE_ROLES


@login_required
@permission_required(MANAGE, raise_exception=True)
def role_list(request):
    # Roles are company-wide configuration, not records in anyone's scope.
    roles = Role.objects.annotate(permission_count=Count("permissions", distinct=True)).order_by("pk")
    holders = dict(
        User.roles.through.objects.filter(user__status=UserStatus.ACTIVE)
        .values_list("role")
        .annotate(n=Count("user"))
        .values_list("role", "n")
    )
    rows = [(role, holders.get(role.pk, 0)) for role in roles]
    return render(request, "org/role_list.html", {"rows": rows})


@login_required
@permission_required(MANAGE, raise_exception=True)
def role_create(request):
    form = RoleForm(posted(request))
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            role = services.role_create(
                actor=request.user,
                code=data["code"],
                name=data["name"],
                description=data["description"],
                data_scope=data["data_scope"],
                requires_two_factor=data["requires_two_factor"],
                permissions=list(data["permissions"]),
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The role “%(role)s” was created.") % {"role": role})
            return redirect("org:role-list")
    return render(request, "org/role_form.html", {"form": form})


@login_required
@permission_required(MANAGE, raise_exception=True)
def role_edit(request, pk: int):
    role = get_object_or_404(Role, pk=pk)
    form = RoleForm(posted(request), role=role)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            # Permissions the form does not offer (Django's own apps) are kept as they are.
            kept = list(role.permissions.exclude(pk__in=anju_permissions().values("pk")))
            role = services.role_update(
                actor=request.user,
                role=role,
                name=data["name"],
                description=data["description"],
                data_scope=data["data_scope"],
                requires_two_factor=data["requires_two_factor"],
                permissions=[*data["permissions"], *kept],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request, _("The role “%(role)s” was saved; holders get the change on their next page.") % {"role": role}
            )
            return redirect("org:role-list")
    return render(request, "org/role_form.html", {"form": form, "role": role})
