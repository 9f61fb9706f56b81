"""The one way to reveal a full personal number (DESIGN.md §4, R5.2.2).

A customer's phone or ID number and a listing owner's phone are shown masked everywhere; seeing
one in full takes a permission, a typed reason and is recorded. Each app's service checks its own
permission and scope (who may reveal what), then calls ``reveal``, which owns everything the
kinds of reveal share, in the caller's transaction:

* the reason must say something: it is cleaned by ``core.text`` (zero-width and bidi characters
  removed, whitespace collapsed) and needs at least four letters or CJK characters, so blanks,
  invisible characters, "...." or "1234" are refused (issue #9 defect 5); the cleaned reason is stored;
* ONE hourly limit per user (``settings.ANJU_REVEAL_LIMIT_PER_HOUR``) across every kind of
  reveal, counted on ``RevealLog``;
* one ``RevealLog`` row and the app's audit event (the audit masks the value; it never holds it);
* the ``number_revealed`` signal, so observers (the tests' leak scanner) know a value was shown on purpose.

Error codes keep the app's prefix, taken from the target's model name (``customer.reveal_…``,
``listing.reveal_…``), so each API keeps its documented codes.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _

from . import audit
from .errors import ApplicationError, ValidationFailed
from .masking import redact_text
from .models import RevealLog
from .text import require_reason

REVEAL_REASON_MIN_CHARS = 4  # letters or CJK characters, after cleaning (issue #9 defect 5)
REASON_MAX_LENGTH = 200  # what RevealLog keeps; the audit event keeps the whole reason

# Sent after a successful reveal with ``target``, ``field``, ``value`` and ``actor``.
number_revealed = Signal()


def recent_reveal_count(actor, *, now: dt.datetime | None = None) -> int:
    """How many numbers ``actor`` revealed in the last hour, of every kind."""
    since = (now or timezone.now()) - dt.timedelta(hours=1)
    return RevealLog.objects.filter(revealed_by=actor, revealed_at__gte=since).count()


@transaction.atomic
def reveal(
    *,
    actor,
    target: models.Model,
    field: str,
    value: str | None,
    reason: str,
    action: str,
    audit_after: dict | None = None,
) -> str:
    """Return ``value`` (the full ``field`` of ``target``) after the reason and limit checks; log and audit it.

    The caller has already checked the permission and the scope. ``action`` is the audit action
    (``customers.customer.revealed`` …); ``audit_after`` is what the event records besides the reason.
    """
    prefix = target._meta.model_name
    reason = require_reason(reason, code=f"{prefix}.reveal_reason_required", minimum=REVEAL_REASON_MIN_CHARS)
    # Serialise one user's reveals, so two requests at once cannot both pass the last free slot.
    list(get_user_model()._default_manager.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True))
    limit = settings.ANJU_REVEAL_LIMIT_PER_HOUR
    if recent_reveal_count(actor) >= limit:
        raise ApplicationError(
            f"{prefix}.reveal_rate_limited",
            _("You have revealed %(limit)s numbers in the last hour; try again later.") % {"limit": limit},
            status=429,
        )
    if not value:
        raise ValidationFailed(f"{prefix}.reveal_empty", _("Nothing is stored for this field."))
    RevealLog.objects.create(
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        field=field,
        reason=redact_text(reason)[:REASON_MAX_LENGTH],  # a number typed into the reason stays masked
        revealed_by=actor,
    )
    audit.record(actor=actor, action=action, target=target, after=audit_after, reason=reason)
    number_revealed.send(sender=type(target), target=target, field=field, value=value, actor=actor)
    return value
