"""Log hygiene (issue #9 defects 2 and 12, R5.2.2).

Every handler — Django's (``config/settings/base.py`` LOGGING) and gunicorn's
(``config/gunicorn.conf.py``) — carries :class:`RedactingFilter`, so no log line holds a clear
mainland phone or ID number, whatever logger wrote it: the access log's request line and
referer, ``django.request`` paths, messages, exception text. An expected 403 is one INFO line
(:class:`ExpectedForbiddenFilter`); a real 500 keeps its (redacted) traceback.

This module imports nothing from Django: gunicorn's master loads it before any app code.
"""

from __future__ import annotations

import logging

from .masking import redact_text

_TRACEBACKS = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Format the record, then mask phone and ID numbers in the message, traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError, KeyError):
            # Arguments that do not fit the format: logging reports that itself when the
            # handler formats the record, so redact the parts without merging them.
            record.msg = redact_text(str(record.msg))
            record.args = _redact_args(record.args)
        else:
            # The merged text replaces the template: args may be a tuple or (gunicorn's access
            # log) a dict, and a number can only be masked once it is in the text.
            record.msg = redact_text(message)
            record.args = ()
        if record.exc_info and not record.exc_text:
            # The formatter reuses exc_text when it is set, so the traceback it prints is this one.
            record.exc_text = _TRACEBACKS.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_text(record.exc_text)
        if record.stack_info:
            record.stack_info = redact_text(record.stack_info)
        return True


def _redact_args(args):
    if isinstance(args, dict):
        return {key: redact_text(value) if isinstance(value, str) else value for key, value in args.items()}
    if isinstance(args, tuple):
        return tuple(redact_text(value) if isinstance(value, str) else value for value in args)
    return args


class ExpectedForbiddenFilter(logging.Filter):
    """On ``django.request``: a 403 is a refused request, not a fault — one INFO line, no traceback.

    Django logs ``PermissionDenied`` as a WARNING with the exception (a full traceback) and any
    other 403 response (our ``PermissionDeniedError`` through the API) as a WARNING; the line
    kept is ``Forbidden: <method> <path> (user <id>)``, the path masked (issue #9 defect 12).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) != 403 or record.levelno >= logging.ERROR:
            return True
        request = getattr(record, "request", None)
        record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
        record.exc_info = None
        record.exc_text = None
        record.msg = "Forbidden: %s %s (user %s)"
        record.args = (
            getattr(request, "method", "-"),
            redact_text(getattr(request, "path", "-")),
            _user_id(request),
        )
        return True


def _user_id(request) -> str:
    # The permission check that refused the request has loaded the user already; reading the
    # cached one keeps a log line from ever querying the database.
    user = getattr(request, "_cached_user", None) or getattr(request, "auth", None)
    if getattr(user, "is_authenticated", False):
        return str(user.pk)
    return "-"


def gunicorn_logconfig() -> dict:
    """gunicorn's ``logconfig_dict``: access and error logs to stdout/stderr, both redacted.

    gunicorn merges it over its defaults key by key, so these handlers replace its own.
    """
    redact = {"()": f"{__name__}.RedactingFilter"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"redact": redact},
        "formatters": {
            "access": {"format": "%(message)s"},
            "generic": {"format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s"},
        },
        "handlers": {
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["redact"],
                "stream": "ext://sys.stdout",
            },
            "error": {
                "class": "logging.StreamHandler",
                "formatter": "generic",
                "filters": ["redact"],
                "stream": "ext://sys.stderr",
            },
        },
        "root": {"level": "INFO", "handlers": ["error"]},
        "loggers": {
            # Not propagated: the root handler would print each access line a second time.
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
            "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
        },
    }
