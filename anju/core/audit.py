"""The audit trail (DESIGN.md §3): ``record(...)`` appends one hash-chained row.

Call it inside the service's transaction so the event commits or rolls back with the
change it describes. Sensitive values are masked before they are stored: values under
personal-data keys by key, phone and ID numbers typed into free text by pattern (issue #9).

Tamper evidence (issue #9 defect 3, R5.2.2): each row's hash is an HMAC-SHA256 under an audit
key kept outside the database (``ANJU_AUDIT_KEYS``, newest first), so a database-only writer
cannot recompute the chain after editing a row. Anchors — signed checkpoints of the verified
chain head — are appended to a file outside the database (``ANJU_AUDIT_ANCHOR_FILE``) and
logged; ``verify`` checks every anchor, so rewriting or truncating anchored history is caught
even by someone who holds the key but not the anchor file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import validate_ipv46_address
from django.db import models, transaction
from django.utils import timezone
from django.utils.ipv6 import clean_ipv6_address

from . import context
from .masking import mask_id_number, mask_phone, redact_text
from .models import AuditChainHead, AuditEvent

logger = logging.getLogger("anju.audit")

GENESIS = "0" * 64
ANCHOR_DOMAIN = b"anju.audit.anchor\n"  # keeps an anchor signature from ever equalling a row hash
_MASKERS = {
    "phone": mask_phone,
    "mobile": mask_phone,
    "id_number": mask_id_number,
}
_DROPPED = {"password", "token", "key", "key_hash", "secret"}
_DROPPED_SUFFIXES = ("_password", "_secret", "_token", "_key")
# Hex digests are identifiers, not prose: a run of digits inside one is not a phone number.
_DIGEST_SUFFIXES = ("hash", "fingerprint")


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
    if isinstance(value, str) and not key.endswith(_DIGEST_SUFFIXES):
        return redact_text(value)  # notes, remarks, questions … may hold a number typed by hand
    return value


def _clean(values: dict[str, Any] | None) -> dict[str, Any] | None:
    """Mask personal data, drop secrets (at any depth) and make the dict plain JSON (what the DB returns).

    Keyed values (``phone``, ``*_id_number`` …) are masked by key; every other string is free text
    whose phone and ID numbers are masked by pattern (issue #9), so the audit CSV holds none in clear.
    """
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
        "key_id": event.key_id,
    }
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def key_id_of(key: str) -> str:
    """The short public name of an audit key, stored on each row it signs (not secret: a hash prefix)."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8]


def audit_keys() -> dict[str, bytes]:
    """The configured audit keys by key id, newest first (``ANJU_AUDIT_KEYS``)."""
    keys: dict[str, bytes] = {}
    for key in settings.ANJU_AUDIT_KEYS:
        if not key:
            raise ImproperlyConfigured("ANJU_AUDIT_KEYS holds an empty key")
        key_id = key_id_of(key)
        if key_id in keys:
            raise ImproperlyConfigured(f"ANJU_AUDIT_KEYS lists the key {key_id} twice")
        keys[key_id] = key.encode("utf-8")
    if not keys:
        raise ImproperlyConfigured("ANJU_AUDIT_KEYS is empty")
    return keys


def signing_key() -> tuple[str, bytes]:
    """The newest audit key (id, secret): every new row and anchor is signed with it."""
    return next(iter(audit_keys().items()))


def _mac(key: bytes, message: bytes) -> str:
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def _same(expected: str, stored: str) -> bool:
    """Constant-time comparison that also copes with whatever text a tampered row or line holds."""
    return hmac.compare_digest(expected.encode("utf-8"), stored.encode("utf-8"))


def compute_hash(event: AuditEvent) -> str:
    """HMAC-SHA256 of the row's canonical text under the key named by ``event.key_id``."""
    key = audit_keys().get(event.key_id)
    if key is None:
        raise ImproperlyConfigured(f"Audit key {event.key_id!r} is not in ANJU_AUDIT_KEYS")
    return _mac(key, canonical(event).encode("utf-8"))


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
    key_id, key = signing_key()
    with transaction.atomic():
        head, _ = AuditChainHead.objects.select_for_update().get_or_create(pk=1)
        event = AuditEvent(
            seq=head.seq + 1,
            occurred_at=timezone.now(),
            actor=user,
            # A failed login's username or an object's name can be a phone number too.
            actor_name=redact_text(actor_name if actor_name is not None else (str(user) if user else "")),
            action=action,
            target_type=target_type,
            target_id=target_id,
            target_repr=redact_text(target_repr),
            before=_clean(before),
            after=_clean(after),
            # e.g. a reveal's reason "客户来电 13812345678 核对" must not keep the number it names
            reason=redact_text(reason or ""),
            request_id=ctx.request_id,
            ip=_normalise_ip(ctx.ip),
            source=ctx.source,
            prev_hash=head.hash,
            key_id=key_id,
        )
        event.hash = _mac(key, canonical(event).encode("utf-8"))
        event.save()
        AuditChainHead.objects.filter(pk=1).update(seq=event.seq, hash=event.hash)
    return event


@dataclass(frozen=True)
class Anchor:
    """A signed checkpoint of the chain head (seq, hash, time), one JSON line of the anchor file."""

    seq: int
    hash: str
    at: str
    key_id: str
    signature: str = ""

    def message(self) -> bytes:
        body = {"at": self.at, "hash": self.hash, "key_id": self.key_id, "seq": self.seq}
        return ANCHOR_DOMAIN + json.dumps(body, sort_keys=True, separators=(",", ":")).encode("utf-8")

    def as_json(self) -> str:
        body = {"seq": self.seq, "hash": self.hash, "at": self.at, "key_id": self.key_id, "signature": self.signature}
        return json.dumps(body, separators=(",", ":"))


class AnchorError(Exception):
    """An anchor line that cannot be trusted: unreadable, signed with an unknown key or altered."""

    def __init__(self, seq: int | None, message: str):
        super().__init__(message)
        self.seq = seq


def anchor_path(path: str | Path | None = None) -> Path | None:
    """The anchor file: ``path`` if given, else ``ANJU_AUDIT_ANCHOR_FILE`` (None switches anchors off)."""
    if path is not None:
        return Path(path)
    configured = getattr(settings, "ANJU_AUDIT_ANCHOR_FILE", None)
    return Path(configured) if configured else None


def _parse_anchor(where: str, text: str, keys: dict[str, bytes]) -> Anchor:
    """One anchor line, its signature checked; ``where`` names the line in the error (``anchor line 3``)."""
    try:
        data = json.loads(text)
        anchor = Anchor(
            seq=data["seq"],
            hash=data["hash"],
            at=data["at"],
            key_id=data["key_id"],
            signature=data["signature"],
        )
    except (ValueError, KeyError, TypeError):
        raise AnchorError(None, f"{where} is unreadable") from None
    texts = (anchor.hash, anchor.at, anchor.key_id, anchor.signature)
    if not isinstance(anchor.seq, int) or not all(isinstance(value, str) for value in texts):
        raise AnchorError(None, f"{where} is unreadable")
    key = keys.get(anchor.key_id)
    if key is None:
        raise AnchorError(anchor.seq, f"{where} was signed with an unknown key {anchor.key_id!r}")
    if not _same(_mac(key, anchor.message()), anchor.signature):
        raise AnchorError(anchor.seq, f"{where} does not match its signature (the anchor file was edited)")
    return anchor


def read_anchors(path: Path) -> list[Anchor]:
    """Every anchor of the file in written order, each signature checked; a missing file holds none."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    keys = audit_keys()
    lines = enumerate(text.splitlines(), 1)
    return [_parse_anchor(f"anchor line {number}", line, keys) for number, line in lines if line.strip()]


def last_anchor(path: str | Path | None = None) -> Anchor | None:
    """The newest anchor of the file, its signature checked, reading only the file's tail (for status lines)."""
    target = anchor_path(path)
    if target is None:
        return None
    try:
        with target.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - 4096))
            tail = handle.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return None
    lines = [line for line in tail.splitlines() if line.strip()]
    return _parse_anchor("the newest anchor line", lines[-1], audit_keys()) if lines else None


def write_anchor(*, seq: int, hash: str, path: str | Path | None = None) -> Anchor:
    """Append a signed checkpoint of (seq, hash) to the anchor file (created 0600) and log it on ``anju.audit``."""
    target = anchor_path(path)
    if target is None:
        raise ImproperlyConfigured("ANJU_AUDIT_ANCHOR_FILE is not set")
    key_id, key = signing_key()
    at = timezone.now().astimezone(UTC).isoformat(timespec="seconds")
    unsigned = Anchor(seq=seq, hash=hash, at=at, key_id=key_id)
    anchor = Anchor(seq=seq, hash=hash, at=at, key_id=key_id, signature=_mac(key, unsigned.message()))
    target.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        # One write of one short line in append mode: anchors written by two processes never interleave.
        os.write(fd, (anchor.as_json() + "\n").encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    # The log line is a second copy outside the database, shipped wherever the logs go.
    logger.info("Audit anchor %s", anchor.as_json())
    return anchor


@dataclass
class VerifyResult:
    ok: bool
    count: int
    broken_seq: int | None = None
    broken_id: int | None = None
    reason: str = ""
    head_hash: str = GENESIS  # hash of the last verified event: what an anchor may sign
    anchors: int = 0
    last_anchor: Anchor | None = None

    def describe_break(self) -> str:
        event_id = self.broken_id if self.broken_id is not None else "-"
        return f"broken at event #{self.broken_seq} (id {event_id}): {self.reason}"


@dataclass
class _Walk:
    """The state of one pass over the chain; ``resume`` continues after the last event checked."""

    keys: dict[str, bytes]
    anchors: dict[int, list[Anchor]]
    count: int = 0
    head_hash: str = GENESIS
    last_id: int | None = None
    broken: VerifyResult | None = field(default=None)

    def resume(self, batch_size: int) -> None:
        queryset = AuditEvent.objects.filter(seq__gt=self.count).order_by("seq")
        for event in queryset.iterator(chunk_size=batch_size):
            reason = self._check(event)
            if reason:
                self.broken = VerifyResult(False, self.count, self.count + 1, event.pk, reason)
                return
            self.head_hash = event.hash
            self.count += 1
            self.last_id = event.pk

    def _check(self, event: AuditEvent) -> str:
        expected_seq = self.count + 1
        if event.seq != expected_seq:
            return f"event #{expected_seq} is missing (deleted)"
        if event.prev_hash != self.head_hash:
            return "link to the previous event does not match"
        key = self.keys.get(event.key_id)
        if key is None:
            return f"signed with an unknown audit key {event.key_id!r}"
        if not _same(_mac(key, canonical(event).encode("utf-8")), event.hash):
            return "content was changed after it was written"
        for anchor in self.anchors.get(event.seq, ()):
            if anchor.hash != event.hash:
                return f"does not match the anchor of {anchor.at}: this or an earlier event was rewritten"
        return ""


def verify(*, batch_size: int = 2000, anchor_file: str | Path | None = None) -> VerifyResult:
    """Walk the chain in order and report the first broken link (edited, forged, deleted or reordered).

    Each row's HMAC is checked with the key it names (any configured key, so rows signed before a
    key rotation still verify); then every anchor of the anchor file must match its row, and no
    anchored event may be missing. Rows appended while the walk runs are walked too.
    """
    path = anchor_path(anchor_file)
    try:
        anchors = read_anchors(path) if path is not None else []
    except AnchorError as exc:
        return VerifyResult(False, 0, exc.seq, None, str(exc))
    by_seq: dict[int, list[Anchor]] = {}
    for anchor in anchors:
        by_seq.setdefault(anchor.seq, []).append(anchor)
    walk = _Walk(keys=audit_keys(), anchors=by_seq)
    while True:
        walked_before = walk.count
        walk.resume(batch_size)
        if walk.broken is not None:
            return walk.broken
        head = AuditChainHead.objects.filter(pk=1).first()
        head_seq, head_hash = (head.seq, head.hash) if head is not None else (0, GENESIS)
        # A head ahead of the walk is either events committed meanwhile (walk on) or a deleted tail.
        if head_seq <= walk.count or walk.count == walked_before:
            break
    if head_seq != walk.count or head_hash != walk.head_hash:
        if head_seq > walk.count:
            reason = "the newest events were deleted"
        else:
            reason = "the chain head does not match the newest event"
        return VerifyResult(False, walk.count, walk.count + 1, walk.last_id, reason)
    newest = max(anchors, key=lambda anchor: anchor.seq, default=None)
    if newest is not None and newest.seq > walk.count:
        reason = f"events up to #{newest.seq} were anchored at {newest.at} but are missing (deleted)"
        return VerifyResult(False, walk.count, walk.count + 1, walk.last_id, reason)
    last_written = anchors[-1] if anchors else None
    return VerifyResult(True, walk.count, head_hash=walk.head_hash, anchors=len(anchors), last_anchor=last_written)


def anchor(*, path: str | Path | None = None, batch_size: int = 2000) -> tuple[VerifyResult, Anchor | None]:
    """Verify the chain against the existing anchors, then anchor the verified head.

    A broken chain is never anchored (that would vouch for the tampering); nor is an empty one, nor
    anything when no anchor file is configured.
    """
    result = verify(batch_size=batch_size, anchor_file=path)
    if not result.ok or result.count == 0 or anchor_path(path) is None:
        return result, None
    return result, write_anchor(seq=result.count, hash=result.head_hash, path=path)


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
