"""Re-encrypting protected fields under the newest key (DESIGN.md §4, R5.2.2).

Every ``EncryptedTextField`` of every installed model is found generically, then walked in
primary-key order in batches. Raw ciphertext is read and written with plain SQL so the
field's ``get_prep_value`` cannot encrypt an already-encrypted token a second time.

* Resumable: after each committed batch a checkpoint file
  ``<checkpoint dir>/rotation-<app>.<model>-<field>.json`` holds the last primary key done
  and the fingerprint of the key rotated to; a later run continues after that key. A
  checkpoint written for another newest key is ignored (that was an earlier rotation).
* Safe alongside the running application: each row is written with a compare-and-set
  (``WHERE id = %s AND col = <token read>``); a row changed meanwhile was written by the
  application with the newest key already and is left alone. Values already under the
  newest key are skipped, so a re-run or a second host does no harm.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, models, transaction
from django.utils import timezone

from . import crypto
from .crypto import EncryptedTextField

UNREADABLE_SAMPLE = 10


@dataclass(frozen=True)
class EncryptedColumn:
    """One encrypted column: where it lives and how to name it in files and reports."""

    model: type[models.Model]
    field: EncryptedTextField

    @property
    def label(self) -> str:
        return f"{self.model._meta.label_lower}.{self.field.name}"

    @property
    def table(self) -> str:
        return self.model._meta.db_table

    @property
    def column(self) -> str:
        return self.field.column

    @property
    def pk_column(self) -> str:
        return self.model._meta.pk.column


@dataclass
class FieldResult:
    label: str
    scanned: int = 0
    rotated: int = 0
    already_current: int = 0
    changed_meanwhile: int = 0
    unreadable: int = 0
    unreadable_ids: list = field(default_factory=list)  # the first few, to name in the report
    batches: int = 0
    resumed_after: object = None
    finished: bool = False

    COUNTERS = ("scanned", "rotated", "already_current", "changed_meanwhile", "unreadable")

    def counts(self) -> dict:
        return {name: getattr(self, name) for name in self.COUNTERS}

    def add_unreadable(self, pk_value) -> None:
        self.unreadable += 1
        if len(self.unreadable_ids) < UNREADABLE_SAMPLE:
            self.unreadable_ids.append(pk_value)

    def as_audit(self, fingerprint: str) -> dict:
        return {"field": self.label, **self.counts(), "key_fingerprint": fingerprint}


def encrypted_columns() -> list[EncryptedColumn]:
    """Every concrete ``EncryptedTextField`` of every installed, managed, non-proxy model."""
    found = []
    for model in apps.get_models():
        meta = model._meta
        if meta.proxy or not meta.managed or meta.swapped:
            continue
        for model_field in meta.concrete_fields:
            if isinstance(model_field, EncryptedTextField) and model_field.model is model:
                found.append(EncryptedColumn(model, model_field))
    return sorted(found, key=lambda column: column.label)


def key_fingerprint(key: str) -> str:
    """A short, one-way name for a key (safe to store in checkpoints and audit rows)."""
    return hashlib.sha256(key.strip().encode("ascii")).hexdigest()[:16]


def newest_key() -> str:
    return settings.ANJU_FIELD_KEYS[0]


def _newest_fernet() -> Fernet:
    return Fernet(newest_key().encode("ascii"))


def is_current(token: str, newest: Fernet | None = None) -> bool:
    """Whether ``token`` is encrypted under the newest key (Fernet tokens carry no key id)."""
    try:
        (newest or _newest_fernet()).decrypt(token.encode("ascii"))
    except InvalidToken:
        return False
    return True


# --- checkpoints ------------------------------------------------------------------------------


def checkpoint_path(directory: Path, column: EncryptedColumn) -> Path:
    return Path(directory) / f"rotation-{column.label.rsplit('.', 1)[0]}-{column.field.name}.json"


def read_checkpoint(directory: Path, column: EncryptedColumn, fingerprint: str) -> dict | None:
    """The saved progress towards ``fingerprint`` (``last_pk`` and counts), or None.

    A checkpoint for another newest key belongs to an earlier rotation and is ignored.
    """
    path = checkpoint_path(directory, column)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("key_fingerprint") != fingerprint or data.get("field") != column.label:
        return None
    return data if data.get("last_pk") is not None else None


def write_checkpoint(directory: Path, column: EncryptedColumn, fingerprint: str, last_pk, result: FieldResult):
    path = checkpoint_path(directory, column)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "field": column.label,
        "last_pk": last_pk,
        "key_fingerprint": fingerprint,
        "counts": result.counts(),
        "unreadable_ids": result.unreadable_ids,
        "updated_at": timezone.now().isoformat(),
    }
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)  # atomic: a crash never leaves half a checkpoint


def remove_checkpoint(directory: Path, column: EncryptedColumn) -> None:
    checkpoint_path(directory, column).unlink(missing_ok=True)


# --- reading and writing raw ciphertext -------------------------------------------------------


def _names(column: EncryptedColumn) -> tuple[str, str, str]:
    quote = connection.ops.quote_name
    return quote(column.table), quote(column.pk_column), quote(column.column)


def count_after(column: EncryptedColumn, after_pk) -> int:
    table, pk, col = _names(column)
    sql = f"SELECT COUNT(*) FROM {table} WHERE {col} IS NOT NULL AND {col} <> ''"  # noqa: S608 (quoted names)
    params: list = []
    if after_pk is not None:
        sql += f" AND {pk} > %s"
        params.append(after_pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def iter_batches(column: EncryptedColumn, *, after_pk, batch_size: int) -> Iterator[list[tuple]]:
    """Non-empty raw tokens in primary-key order, ``batch_size`` rows at a time (keyset paging)."""
    table, pk, col = _names(column)
    while True:
        sql = f"SELECT {pk}, {col} FROM {table} WHERE {col} IS NOT NULL AND {col} <> ''"  # noqa: S608
        params: list = []
        if after_pk is not None:
            sql += f" AND {pk} > %s"
            params.append(after_pk)
        sql += f" ORDER BY {pk} LIMIT %s"
        params.append(batch_size)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        if not rows:
            return
        yield rows
        after_pk = rows[-1][0]


def _compare_and_set(column: EncryptedColumn, pk_value, old: str, new: str) -> bool:
    table, pk, col = _names(column)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {col} = %s WHERE {pk} = %s AND {col} = %s", [new, pk_value, old])  # noqa: S608
        return cursor.rowcount == 1


# --- the two operations -----------------------------------------------------------------------


def rotate_column(
    column: EncryptedColumn,
    *,
    checkpoint_dir: Path,
    batch_size: int = 500,
    restart: bool = False,
    batch_budget: Callable[[], bool] = lambda: True,
    on_progress: Callable[[int], None] = lambda done: None,
    on_start: Callable[[int, object], None] = lambda total, after: None,
) -> FieldResult:
    """Re-encrypt one column under the newest key, one transaction and one checkpoint per batch.

    ``batch_budget()`` is asked before each batch; returning False stops early (the
    checkpoint lets the next run continue). ``finished`` tells whether the column is done.
    """
    crypto.reset_key_cache()
    fingerprint = key_fingerprint(newest_key())
    newest = _newest_fernet()
    result = FieldResult(column.label)
    if restart:
        remove_checkpoint(checkpoint_dir, column)
    saved = read_checkpoint(checkpoint_dir, column, fingerprint)
    after_pk = None
    if saved is not None:
        # Counts carry over, so the summary and the audit event describe the whole rotation.
        after_pk = result.resumed_after = saved["last_pk"]
        for name, value in (saved.get("counts") or {}).items():
            if name in FieldResult.COUNTERS and isinstance(value, int):
                setattr(result, name, value)
        result.unreadable_ids = list(saved.get("unreadable_ids") or [])[:UNREADABLE_SAMPLE]
    on_start(count_after(column, after_pk), after_pk)
    for rows in iter_batches(column, after_pk=after_pk, batch_size=batch_size):
        if not batch_budget():
            return result
        with transaction.atomic():
            for pk_value, token in rows:
                result.scanned += 1
                if is_current(token, newest):
                    result.already_current += 1
                    continue
                try:
                    fresh = crypto.rotate(token)
                except InvalidToken:
                    result.add_unreadable(pk_value)
                    continue
                if _compare_and_set(column, pk_value, token, fresh):
                    result.rotated += 1
                else:
                    result.changed_meanwhile += 1
        result.batches += 1
        write_checkpoint(checkpoint_dir, column, fingerprint, rows[-1][0], result)
        on_progress(len(rows))
    remove_checkpoint(checkpoint_dir, column)
    result.finished = True
    return result


@dataclass
class CheckResult:
    label: str
    total: int = 0
    outdated: int = 0
    unreadable: int = 0
    unreadable_ids: list = field(default_factory=list)


def check_column(column: EncryptedColumn, *, batch_size: int = 500) -> CheckResult:
    """Count stored values not yet under the newest key (and values no configured key opens)."""
    crypto.reset_key_cache()
    newest = _newest_fernet()
    result = CheckResult(column.label)
    for rows in iter_batches(column, after_pk=None, batch_size=batch_size):
        for pk_value, token in rows:
            result.total += 1
            if is_current(token, newest):
                continue
            result.outdated += 1
            try:
                crypto.decrypt(token)
            except ImproperlyConfigured:  # no configured key opens it
                result.unreadable += 1
                if len(result.unreadable_ids) < UNREADABLE_SAMPLE:
                    result.unreadable_ids.append(pk_value)
    return result
