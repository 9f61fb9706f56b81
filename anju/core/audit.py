"""The audit trail (DESIGN.md §3): ``record(...)`` appends one hash-chained row.

Call it inside the service's transaction so the event commits or rolls back with the
change it describes. Sensitive values are masked before they are stored.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_ipv46_address
from django.db import models, transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from . import context
from .masking import mask_id_number, mask_phone
from .models import AuditChainHead, AuditEvent

GENESIS = "0" * 64
_MASKERS = {
    "phone": mask_phone,
    "mobile": mask_phone,
    "id_number": mask_id_number,
}
_DROPPED = {"password", "token", "key", "key_hash", "secret"}
_DROPPED_SUFFIXES = ("_password", "_secret", "_token", "_key")


def _masker(key: str):
    for name, masker in _MASKERS.items():
        if key == name or key.endswith(f"_{name}"):  # phone, owner_phone, customer_id_number …
            return masker
    return None


def _clean_value(key: str, value: Any) -> Any:
    if key in _DROPPED or key.endswith(_DROPPED_SUFFIXES):
        return "[redacted]"
    if isinstance(value, dict):
        return {str(k): _clean_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean_value(key, item) for item in value]
    masker = _masker(key)
    if masker is not None and value not in (None, ""):
        return masker(str(value))
    return value


def _clean(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Mask personal data, drop secrets (at any depth) and make the dict plain JSON (what the DB returns)."""
    if values is None:
        return None
    cleaned = {str(key): _clean_value(str(key), value) for key, value in values.items()}
    return json.loads(json.dumps(cleaned, cls=DjangoJSONEncoder))


def _normalise_ip(value: str | None) -> str | None:
    """The IP as the database will return it, so the stored row hashes like the written one."""
    if not value:
        return None
    try:
        validate_ipv46_address(value)
    except ValidationError:
        return None  # a malformed proxy header must not break the write (PostgreSQL's inet would refuse it)
    return clean_ipv6_address(value) if ":" in value else value


def canonical(event: AuditEvent) -> str:
    """The exact text that is hashed: every meaningful column, sorted keys, no whitespace."""
    payload = {
        "seq": event.seq,
        "occurred_at": event.occurred_at.astimezone(UTC).isoformat(),
        "actor_id": event.actor_id,
        "actor_name": event.actor_name,
        "action": event.action,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "target_repr": event.target_repr,
        "before": event.before,
        "after": event.after,
        "reason": event.reason,
        "request_id": event.request_id,
        "ip": event.ip,
        "source": event.source,
        "prev_hash": event.prev_hash,
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical(event).encode("utf-8")).hexdigest()


def _describe(target) -> tuple[str, str, str]:
    if target is None:
        return "", "", ""
    if isinstance(target, models.Model):
        return target._meta.label_lower, str(target.pk), str(target)[:255]
    return type(target).__name__.lower(), "", str(target)[:255]


def record(
    *,
    actor,
    action: str,
    target=None,
    before: dict | None = None,
    after: dict | None = None,
    reason: str = "",
    actor_name: str | None = None,
) -> AuditEvent:
    """Append an audit event for ``action`` (dotted ``app.object.verb``) on ``target``."""
    ctx = context.current()
    target_type, target_id, target_repr = _describe(target)
    user = actor if getattr(actor, "is_authenticated", False) else None
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            occurred_at=timezone.now(),
            actor=user,
            actor_name=actor_name if actor_name is not None else (str(user) if user else ""),
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_repr=target_repr,
            before=_clean(before),
            after=_clean(after),
            reason=reason or "",
            request_id=ctx.request_id,
            ip=_normalise_ip(ctx.ip),
            source=ctx.source,
            prev_hash=head.hash,
        )
        event.hash = compute_hash(event)
        event.save()
        AuditChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event


@dataclass
class VerifyResult:
    ok: bool
    count: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""


def verify(*, batch_size: int = 2000) -> VerifyResult:
    """Walk the chain in order and report the first broken link (edited, deleted or reordered)."""
    expected_prev = GENESIS
    expected_seq = 1
    count = 0
    last_id = None
    queryset = AuditEvent.objects.order_by("seq")
    for event in queryset.iterator(chunk_size=batch_size):
        if event.seq != expected_seq:
            return VerifyResult(False, count, expected_seq, event.pk, f"event #{expected_seq} is missing (deleted)")
        if event.prev_hash != expected_prev:
            return VerifyResult(False, count, event.seq, event.pk, "link to the previous event does not match")
        if compute_hash(event) != event.hash:
            return VerifyResult(False, count, event.seq, event.pk, "content was changed after it was written")
        expected_prev = event.hash
        expected_seq += 1
        count += 1
        last_id = event.pk
    head = AuditChainHead.objects.filter(pk=1).first()
    head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
    if head_seq != count or head_hash != expected_prev:
        if head_seq > count:
            reason = "the newest events were deleted"
        else:
            reason = "the chain head does not match the newest event"
        return VerifyResult(False, count, count + 1, last_id, reason)
    return VerifyResult(True, count)


def model_snapshot(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    """Field values for before/after: foreign keys by id, many-to-many by sorted ids."""
    snapshot: dict[str, Any] = {}
    for name in fields:
        field = instance._meta.get_field(name)
        if field.many_to_many:
            snapshot[name] = sorted((instance.pk and getattr(instance, name).values_list("pk", flat=True)) or [])
        elif field.is_relation:
            snapshot[name] = getattr(instance, field.attname)
        else:
            snapshot[name] = getattr(instance, name)
    return snapshot


def diff(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Keep only the keys whose value changed."""
    changed = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in changed}, {key: after[key] for key in changed}
