"""Key the audit chain (issue #9 defect 3): every existing row is re-signed with HMAC-SHA256.

Before re-signing, the old plain SHA-256 chain is verified; a broken chain stops the migration
(re-signing it would vouch for the tampering). Rows written before this migration are therefore
trusted as they were when it ran. The hash functions are copied here, frozen, so later changes
to ``anju.core.audit`` cannot change what this migration did.
"""

import hashlib
import hmac
import json
from datetime import UTC

from django.conf import settings
from django.db import migrations, models

GENESIS = "0" * 64
BATCH = 2000


def _payload(event) -> dict:
    return {
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


def _text(payload: dict) -> bytes:
    return json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def plain_hash(event) -> str:
    return hashlib.sha256(_text(_payload(event))).hexdigest()


def _newest_key() -> tuple[str, bytes]:
    key = settings.ANJU_AUDIT_KEYS[0]
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:8], key.encode("utf-8")


def keyed_hash(event, key: bytes) -> str:
    return hmac.new(key, _text({**_payload(event), "key_id": event.key_id}), hashlib.sha256).hexdigest()


def _rechain(apps, *, check, sign) -> None:
    """Walk the chain in order: ``check`` each row as it is stored, then ``sign`` it into the new chain."""
    event_model = apps.get_model("core", "AuditEvent")
    head_model = apps.get_model("core", "AuditChainHead")
    old_prev = new_prev = GENESIS
    last_seq = 0
    while True:
        batch = list(event_model.objects.filter(seq__gt=last_seq).order_by("seq")[:BATCH])
        if not batch:
            break
        for event in batch:
            if event.seq != last_seq + 1 or event.prev_hash != old_prev or not check(event):
                raise RuntimeError(
                    f"The audit chain is broken at event #{last_seq + 1}; it was not re-signed. Run "
                    "`manage.py audit_verify` with the previous release, investigate, and restore the "
                    "audit table from a backup before migrating again."
                )
            old_prev = event.hash
            event.prev_hash = new_prev
            sign(event)
            new_prev = event.hash
            last_seq = event.seq
        event_model.objects.bulk_update(batch, ["prev_hash", "hash", "key_id"])
    head = head_model.objects.filter(pk=1).first()
    if head is not None and (head.seq, head.hash) != (last_seq, old_prev):
        raise RuntimeError(
            f"The audit chain head (#{head.seq}) does not match the newest event (#{last_seq}); it was not re-signed."
        )
    head_model.objects.filter(pk=1).update(hash=new_prev)


def sign_with_audit_key(apps, schema_editor):
    key_id, key = _newest_key()

    def sign(event):
        event.key_id = key_id
        event.hash = keyed_hash(event, key)

    _rechain(apps, check=lambda event: plain_hash(event) == event.hash, sign=sign)


def back_to_plain_hashes(apps, schema_editor):
    keys = {hashlib.sha256(k.encode("utf-8")).hexdigest()[:8]: k.encode("utf-8") for k in settings.ANJU_AUDIT_KEYS}

    def check(event):
        key = keys.get(event.key_id)
        return key is not None and hmac.compare_digest(keyed_hash(event, key), event.hash)

    def sign(event):
        event.key_id = ""
        event.hash = plain_hash(event)

    _rechain(apps, check=check, sign=sign)


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0004_reveal_log"),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="key_id",
            field=models.CharField(default="", max_length=8),
            preserve_default=False,
        ),
        migrations.RunPython(sign_with_audit_key, back_to_plain_hashes),
    ]
