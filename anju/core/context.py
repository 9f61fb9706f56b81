"""Request context (request id, IP, source, actor) shared by audit, logging and services.

Middleware sets it for web/API requests; tasks and management commands set it with
``use_context(source=...)`` so every audit row says where it came from.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, replace


@dataclass(frozen=True)
class RequestContext:
    request_id: str = ""
    ip: str | None = None
    source: str = "cli"  # web / api / task / cli
    user_agent: str = ""


_current: ContextVar[RequestContext] = ContextVar("anju_request_context", default=RequestContext())  # noqa: B039 (frozen)


def current() -> RequestContext:
    return _current.get()


def new_request_id() -> str:
    return uuid.uuid4().hex


@contextlib.contextmanager
def use_context(**changes):
    """Run a block with fields of the context replaced (a request id is made when missing)."""
    base = _current.get()
    if "request_id" not in changes and not base.request_id:
        changes["request_id"] = new_request_id()
    token = _current.set(replace(base, **changes))
    try:
        yield _current.get()
    finally:
        _current.reset(token)


class RequestContextLogFilter(logging.Filter):
    """Adds ``request_id`` to every log record so log lines join up with audit rows."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = _current.get().request_id or "-"
        return True
