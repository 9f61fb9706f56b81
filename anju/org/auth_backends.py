"""Permissions come from the user's roles (R1.1.1), not from Django groups."""

from __future__ import annotations

from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import Permission

from .models import Role


class RoleBackend(ModelBackend):
    """ModelBackend whose "group" permissions are the permissions of the user's roles."""

    def _get_group_permissions(self, user_obj):
        role_permissions = Role.permissions.through.objects.filter(role__users=user_obj).values("permission_id")
        return Permission.objects.filter(pk__in=role_permissions)
