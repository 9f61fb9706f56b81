"""What several listing views share."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied

from anju.core.scoping import get_visible_or_404

from ..models import Listing


def managed_listing(request, pk: int, *related: str) -> Listing:
    """The listing if the user may change it: 404 when not visible, 403 when visible but not theirs
    (everyone sees the catalogue; only the collector, their lead or branch manager change it)."""
    listing = get_visible_or_404(Listing.objects.select_related(*related), request.user, pk=pk)
    if not listing.is_managed_by(request.user):
        raise PermissionDenied
    return listing
