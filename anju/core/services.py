"""What every app's services share."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from .errors import from_validation_error


def validated_save(instance, *, exclude: list[str] | None = None) -> None:
    """``full_clean()`` then save; Django's ValidationError becomes our field-level error."""
    try:
        instance.full_clean(exclude=exclude)
    except ValidationError as exc:
        raise from_validation_error(exc) from None
    instance.save()
