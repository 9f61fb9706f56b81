"""Form helpers: show an ApplicationError on the form, field by field."""

from __future__ import annotations

from django import forms

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
