from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError, from_validation_error


def validated_save(instance, *, exclude: list[str] | None = None) -> None:
    """``full_clean()`` then save; Django's ValidationError becomes our field-level error."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    instance.save()


def require_managed(actor, listing) -> None:
    """Edits need the listing in the actor's own/team/branch scope (the collector is responsible)."""
    from ..models import Listing

    if not Listing.objects.visible_to(actor).filter(pk=listing.pk).exists():
        raise ApplicationError("not_found", _("Not found."), status=404)
    if not listing.is_managed_by(actor):
        raise ApplicationError(
            "listing.not_yours",
            _("Only the collector, their team lead or branch manager can change this listing."),
            status=403,
        )
