"""``manage.py rotate_keys``: re-encrypt every protected field under the newest key, resumably (R5.2.2)."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.core.management import call_command
from django.db import connection

from anju.core import crypto, keyrotation
from anju.core.models import AuditEvent
from anju.customers.models import Customer
from anju.customers.services.customers import customer_register
from anju.org.models import User
from anju.testing import make_personas

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
ID_NUMBER = "11010519491231002X"

COLUMNS = [("customers_customer", "phone"), ("customers_customer", "id_number"), ("org_user", "phone")]


@pytest.fixture
def field_keys(settings):
    """``field_keys(*keys)`` sets ANJU_FIELD_KEYS (newest first); starts with the old key alone."""
    original = settings.ANJU_FIELD_KEYS

    def _use(*keys: str) -> None:
        settings.ANJU_FIELD_KEYS = list(keys)
        crypto.reset_key_cache()

    _use(OLD_KEY)
    yield _use
    settings.ANJU_FIELD_KEYS = original
    crypto.reset_key_cache()


@pytest.fixture
def personas(db, field_keys):
    """The personas (and their phones) are written under the old key."""
    return make_personas()


@pytest.fixture
def world(p):
    """Five customers (one with an ID number) and the personas, all under the old key."""

    def register(actor, phone, **extra):
        return customer_register(
            actor=actor,
            name=f"客户{phone[-4:]}",
            phone=phone,
            source="walk_in",
            consent_channel="face_to_face",
            **extra,
        )

    customers = [register(p.agent, f"1381234{n:04d}") for n in range(4)]
    customers.append(register(p.agent2, "13912345678", id_number=ID_NUMBER, id_number_consent=True))
    return customers


def raw_values(table: str, column: str) -> dict[int, str]:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id, {column} FROM {table} WHERE {column} <> '' ORDER BY id")  # noqa: S608
        return dict(cursor.fetchall())


def opens_with(key: str, token: str) -> bool:
    try:
        Fernet(key.encode()).decrypt(token.encode())
    except InvalidToken:
        return False
    return True


def rotate(tmp_path, *args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("rotate_keys", "--checkpoint-dir", str(tmp_path), *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_encrypted_fields_are_found_generically():
    labels = [column.label for column in keyrotation.encrypted_columns()]
    assert labels == [
        "customers.customer.id_number",
        "customers.customer.phone",
        "listings.listing.contact_phone",
        "org.user.phone",
    ]


def test_rotation_re_encrypts_every_value_under_the_newest_key(p, world, field_keys, tmp_path):
    before = {column: raw_values(*column) for column in COLUMNS}
    plain = {c.pk: (c.phone, c.phone_index, c.id_number, c.id_number_index) for c in Customer.objects.all()}
    user_plain = dict(User.objects.values_list("pk", "phone"))
    assert all(opens_with(OLD_KEY, token) for values in before.values() for token in values.values())

    field_keys(NEW_KEY, OLD_KEY)
    out, _ = rotate(tmp_path)

    for column in COLUMNS:
        after = raw_values(*column)
        assert after.keys() == before[column].keys()
        for pk, token in after.items():
            assert opens_with(NEW_KEY, token), (column, pk)
            assert not opens_with(OLD_KEY, token)
    # Through the ORM nothing changed, blind indexes included.
    assert {c.pk: (c.phone, c.phone_index, c.id_number, c.id_number_index) for c in Customer.objects.all()} == plain
    assert dict(User.objects.values_list("pk", "phone")) == user_plain
    assert "customers.customer.phone: 5 rotated, 0 already current" in out
    assert "customers.customer.id_number: 1 rotated" in out
    assert list(tmp_path.iterdir()) == []  # checkpoints are removed when done


def test_after_rotation_the_old_key_can_be_retired(p, world, field_keys, tmp_path):
    field_keys(NEW_KEY, OLD_KEY)
    rotate(tmp_path)
    field_keys(NEW_KEY)
    assert Customer.objects.get(pk=world[-1].pk).id_number == ID_NUMBER
    assert User.objects.get(pk=p.agent.pk).phone == p.agent.phone


def test_each_field_gets_one_audit_event_with_counts_only(p, world, field_keys, tmp_path):
    field_keys(NEW_KEY, OLD_KEY)
    rotate(tmp_path)
    events = {e.after["field"]: e for e in AuditEvent.objects.filter(action="core.keys.rotated")}
    # Every encrypted field finishes, the empty listings table included.
    assert set(events) == {
        "customers.customer.phone",
        "customers.customer.id_number",
        "listings.listing.contact_phone",
        "org.user.phone",
    }
    phone = events["customers.customer.phone"]
    assert phone.after["rotated"] == 5 and phone.after["unreadable"] == 0
    assert phone.after["key_fingerprint"] == keyrotation.key_fingerprint(NEW_KEY)
    assert phone.source == "cli" and phone.actor_name == "rotate_keys"
    text = json.dumps([e.after for e in events.values()])
    assert NEW_KEY not in text and "1381234" not in text


def test_interrupted_rotation_resumes_from_its_checkpoint(p, world, field_keys, tmp_path):
    field_keys(NEW_KEY, OLD_KEY)
    ordered = sorted(c.pk for c in world)
    # customers.customer.id_number (one row) is first, then the phones two at a time.
    out, _ = rotate(tmp_path, "--batch-size", "2", "--max-batches", "2")
    assert "Stopped after --max-batches" in out

    checkpoint = json.loads((tmp_path / "rotation-customers.customer-phone.json").read_text())
    assert checkpoint["last_pk"] == ordered[1]
    assert checkpoint["key_fingerprint"] == keyrotation.key_fingerprint(NEW_KEY)
    phones = raw_values("customers_customer", "phone")
    assert [opens_with(NEW_KEY, phones[pk]) for pk in ordered] == [True, True, False, False, False]
    assert all(opens_with(OLD_KEY, token) for token in raw_values("org_user", "phone").values())
    assert not AuditEvent.objects.filter(action="core.keys.rotated", after__field="customers.customer.phone").exists()

    out, _ = rotate(tmp_path, "--batch-size", "2")

    after = raw_values("customers_customer", "phone")
    assert all(opens_with(NEW_KEY, token) for token in after.values())
    assert [after[pk] for pk in ordered[:2]] == [phones[pk] for pk in ordered[:2]]  # done rows untouched
    # Only the rest was read again; the counts cover the whole rotation.
    assert "customers.customer.phone: 5 rotated, 0 already current, 0 changed meanwhile, 0 unreadable " in out
    assert f"(5 scanned, resumed after id {ordered[1]})" in out
    assert not (tmp_path / "rotation-customers.customer-phone.json").exists()
    event = AuditEvent.objects.get(action="core.keys.rotated", after__field="customers.customer.phone")
    assert event.after["rotated"] == 5 and event.after["scanned"] == 5


def test_checkpoint_for_an_earlier_key_is_ignored(p, world, field_keys, tmp_path):
    field_keys(NEW_KEY, OLD_KEY)
    column = next(c for c in keyrotation.encrypted_columns() if c.label == "customers.customer.phone")
    stale = {"field": column.label, "last_pk": max(c.pk for c in world), "key_fingerprint": "0" * 16}
    keyrotation.checkpoint_path(tmp_path, column).write_text(json.dumps(stale))

    out, _ = rotate(tmp_path)

    assert "customers.customer.phone: 5 rotated" in out
    assert all(opens_with(NEW_KEY, token) for token in raw_values("customers_customer", "phone").values())


def test_restart_ignores_the_checkpoint(p, world, field_keys, tmp_path):
    field_keys(NEW_KEY, OLD_KEY)
    column = next(c for c in keyrotation.encrypted_columns() if c.label == "customers.customer.phone")
    fingerprint = keyrotation.key_fingerprint(NEW_KEY)
    keyrotation.write_checkpoint(
        tmp_path, column, fingerprint, max(c.pk for c in world), keyrotation.FieldResult(column.label)
    )

    out, _ = rotate(tmp_path, "--restart")

    assert "customers.customer.phone: 5 rotated" in out
    assert "resumed" not in out


def test_running_again_rewrites_nothing(p, world, field_keys, tmp_path):
    field_keys(NEW_KEY, OLD_KEY)
    rotate(tmp_path)
    before = raw_values("customers_customer", "phone")
    out, _ = rotate(tmp_path)
    assert raw_values("customers_customer", "phone") == before
    assert "customers.customer.phone: 0 rotated, 5 already current" in out


def test_check_counts_values_not_under_the_newest_key(p, world, field_keys, tmp_path):
    users = len(raw_values("org_user", "phone"))
    field_keys(NEW_KEY, OLD_KEY)
    before = raw_values("customers_customer", "phone")
    out = StringIO()
    with pytest.raises(SystemExit) as failed:
        call_command("rotate_keys", "--check", stdout=out, stderr=StringIO())
    assert failed.value.code == 1
    assert "customers.customer.phone: 5 of 5 values not under the newest key" in out.getvalue()
    assert f"org.user.phone: {users} of {users} values" in out.getvalue()
    assert raw_values("customers_customer", "phone") == before  # --check changes nothing

    rotate(tmp_path)
    out = StringIO()
    call_command("rotate_keys", "--check", stdout=out)
    assert "customers.customer.phone: 0 of 5" in out.getvalue()
    assert "ok: every value is under the newest key" in out.getvalue()


def test_value_no_key_opens_is_reported_and_left_alone(p, world, field_keys, tmp_path):
    foreign = Fernet(Fernet.generate_key()).encrypt(b"13800000000").decode()
    with connection.cursor() as cursor:
        cursor.execute("UPDATE customers_customer SET phone = %s WHERE id = %s", [foreign, world[0].pk])
    field_keys(NEW_KEY, OLD_KEY)

    with pytest.raises(SystemExit) as failed:
        rotate(tmp_path)
    assert failed.value.code == 1
    assert raw_values("customers_customer", "phone")[world[0].pk] == foreign
    assert all(
        opens_with(NEW_KEY, token)
        for pk, token in raw_values("customers_customer", "phone").items()
        if pk != world[0].pk
    )
    event = AuditEvent.objects.get(action="core.keys.rotated", after__field="customers.customer.phone")
    assert event.after["unreadable"] == 1 and event.after["rotated"] == 4


def test_value_changed_during_the_batch_is_not_overwritten(p, world, field_keys, tmp_path, monkeypatch):
    field_keys(NEW_KEY, OLD_KEY)
    target = world[1]
    real_rotate = crypto.rotate

    def rotate_while_the_app_writes(token):
        fresh = real_rotate(token)
        if Fernet(OLD_KEY.encode()).decrypt(token.encode()).decode() == target.phone:
            # The application saves a new number between our read and our write.
            Customer.objects.filter(pk=target.pk).update(phone="13700000000")
        return fresh

    monkeypatch.setattr(crypto, "rotate", rotate_while_the_app_writes)
    out, _ = rotate(tmp_path)

    assert Customer.objects.get(pk=target.pk).phone == "13700000000"
    assert "customers.customer.phone: 4 rotated, 0 already current, 1 changed meanwhile" in out


def test_help_documents_the_procedure():
    from anju.core.management.commands.rotate_keys import Command

    text = Command().create_parser("manage.py", "rotate_keys").format_help()
    assert "Put it FIRST in ANJU_FIELD_KEYS" in text
    assert "--max-batches" in text and "--restart" in text and "--check" in text
