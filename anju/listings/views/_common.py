"""What several listing views share."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from anju.core.scoping import get_for_action_or_403

from ..models import Listing, Project

VIEW_PROJECT = "listings.view_project"


def managed_listing(request, pk: int, *related: str) -> Listing:
    """The listing if the user may change it: 404 when not visible, 403 when visible but not theirs
    (everyone sees the catalogue; only the collector, their lead or branch manager change it)."""
    return get_for_action_or_403(Listing.objects.select_related(*related), request.user, "manage", pk=pk)


def managed_project(request, pk: int) -> Project:
    """The project if the user manages its sales office: 404 when not visible, 403 when another office's."""
    if not request.user.has_perm(VIEW_PROJECT):
        raise PermissionDenied
    return get_for_action_or_403(Project.objects.select_related("branch"), request.user, "manage", pk=pk)
