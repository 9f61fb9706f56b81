"""Form helpers every app shares: errors field by field, labels from the model, list input."""

from __future__ import annotations

import re

from django import forms
from django.utils.text import capfirst

from .errors import ApplicationError


def apply_error(form: forms.Form, exc: ApplicationError) -> None:
    """Attach the error's field messages to matching fields; the rest become form errors."""
    placed = False
    for name, messages in exc.fields.items():
        for message in messages:
            if name in form.fields:
                form.add_error(name, str(message))
                placed = True
    if not placed:
        form.add_error(None, str(exc.message))


class BootstrapFormMixin:
    """Give every widget Bootstrap classes so templates render fields uniformly."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, (forms.Select, forms.SelectMultiple)):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()


def field_label(model, name: str):
    """The model field's verbose name, so forms, history and models share one translation."""
    return capfirst(model._meta.get_field(name).verbose_name)


# Commas (ASCII and full-width), the enumeration comma 、 and semicolons separate list entries.
_LIST_SEPARATORS = re.compile(r"[,，、;；]+")


def split_list(value: str) -> list[str]:
    """``"学区, 地铁，改善"`` → ``["学区", "地铁", "改善"]``: trimmed, no blanks, first occurrence kept."""
    seen: dict[str, None] = {}
    for part in _LIST_SEPARATORS.split(value or ""):
        part = part.strip()
        if part:
            seen.setdefault(part, None)
    return list(seen)
