"""One application error type (DESIGN.md §6), shown as a form/toast message or API error body."""

from __future__ import annotations

from django.utils.functional import Promise


class ApplicationError(Exception):
    """A refused business operation: ``code`` is stable, ``message`` is for the user."""

    status = 400

    def __init__(self, code: str, message: str | Promise, fields: dict | None = None, *, status: int | None = None):
        super().__init__(str(message))
        self.code = code
        self.message = message
        self.fields = fields or {}
        if status is not None:
            self.status = status

    def as_dict(self) -> dict:
        return {
            "error": {
                "code": self.code,
                "message": str(self.message),
                "fields": {name: [str(m) for m in msgs] for name, msgs in self.fields.items()},
            }
        }


class ValidationFailed(ApplicationError):
    status = 422


class Conflict(ApplicationError):
    status = 409


class PermissionDeniedError(ApplicationError):
    status = 403


def from_validation_error(exc, code: str = "validation_error") -> ValidationFailed:
    """Turn a Django ``ValidationError`` into our error with per-field messages."""
    from django.utils.translation import gettext as _

    if hasattr(exc, "message_dict"):
        fields = {name: list(messages) for name, messages in exc.message_dict.items()}
    else:
        fields = {"__all__": list(exc.messages)}
    first = next(iter(next(iter(fields.values()), [])), "")
    return ValidationFailed(code, first or _("The data is not valid."), fields)
