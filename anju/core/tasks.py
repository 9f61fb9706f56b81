"""Housekeeping jobs of the shared kernel: expired sessions and the audit chain check and anchor.

The tasks are thin: they set the task context and call the plain functions below, which
tests and commands can call directly too.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.contrib.sessions.models import Session
from django.dispatch import Signal
from django.utils import timezone

from . import audit
from .context import use_context
from .jobs import periodic
from .models import AuditEvent

logger = logging.getLogger(__name__)

CHAIN_BROKEN = "core.audit.chain_broken"


# Sent after expired sessions are deleted; receivers tidy what they keep per session and return
# ``{name: rows removed}`` (org removes its per-user session records).
sessions_cleared = Signal()


def sessions_clear_expired() -> dict[str, int]:
    """Delete expired login sessions, then let the apps drop what they kept about them."""
    sessions, _ = Session.objects.filter(expire_date__lt=timezone.now()).delete()
    outcome = {"sessions": sessions}
    for _receiver, removed in sessions_cleared.send(sender=Session):
        outcome.update(removed or {})
    return outcome


def audit_chain_check() -> dict:
    """Verify the audit chain and its anchors, then anchor the verified head (issue #9).

    On a break nothing is anchored; the break is logged as an error and recorded (once per break).
    """
    result, _anchor = audit.anchor()
    outcome = {"ok": result.ok, "count": result.count, "broken_seq": result.broken_seq, "reason": result.reason}
    if result.ok:
        return outcome
    logger.error("Audit chain broken at event #%s (row id %s): %s", result.broken_seq, result.broken_id, result.reason)
    details = {"broken_seq": result.broken_seq, "broken_id": result.broken_id, "reason": result.reason}
    # The check runs hourly: alarm once per distinct break, not once per hour.
    last = AuditEvent.objects.filter(action=CHAIN_BROKEN).order_by("-seq").first()
    if last is None or last.after != details:
        audit.record(actor=None, actor_name="system", action=CHAIN_BROKEN, after=details, reason=result.reason)
    return outcome


@periodic("core.clear_expired_sessions", every=timedelta(days=1), offset=timedelta(hours=19))
def clear_expired_sessions() -> dict[str, int]:
    """Daily, 03:00 Asia/Shanghai: remove expired sessions."""
    with use_context(source="task"):
        return sessions_clear_expired()


@periodic("core.verify_audit_chain", every=timedelta(hours=1))
def verify_audit_chain() -> dict:
    """Hourly: walk the audit chain, raise the alarm on the first broken link, else write an anchor.

    One job, not two: an anchor must only ever vouch for a head that was just verified.
    """
    with use_context(source="task"):
        return audit_chain_check()
