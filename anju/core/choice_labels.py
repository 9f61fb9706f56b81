"""``get_FOO_display()`` without rebuilding the choices dict on every call.

Django's ``Model._get_FIELD_display`` turns the field's whole choice list into a fresh dict
(hashing every lazy label) each time it is called: a list page calling it six times per row
spent a third of its rendering time there. The mixin keeps one value → label dict per field;
the labels stay lazy, so each call still answers in the active language.
"""

from __future__ import annotations

from django.utils.encoding import force_str
from django.utils.hashable import make_hashable

_LABELS: dict = {}


class ChoiceLabelsMixin:
    """Put before ``models.Model`` in a model's bases. Only for fields with static choices."""

    def _get_FIELD_display(self, field):
        labels = _LABELS.get(field)
        if labels is None:
            labels = _LABELS[field] = dict(make_hashable(field.flatchoices))
        value = getattr(self, field.attname)
        return force_str(labels.get(make_hashable(value), value), strings_only=True)
