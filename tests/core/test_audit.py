"""The audit trail (DESIGN.md §3): keyed hash chain, masking, transactions, tamper detection.

Tampering by a database writer who recomputes the chain, anchors and key rotation:
tests/core/test_audit_anchor.py (issue #9 defect 3).
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from io import StringIO

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from anju.core import audit
from anju.core.context import use_context
from anju.core.models import AuditChainHead, AuditEvent
from anju.testing import PASSWORD
from tests.helpers import csv_rows

pytestmark = pytest.mark.django_db


def run_verify() -> tuple[int, str, str]:
    """Run ``manage.py audit_verify`` and return (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command("audit_verify", stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def raw_sql(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


@pytest.fixture
def three_events(p):
    return [
        audit.record(
            actor=p.admin,
            action="org.user.updated",
            target=p.agent,
            before={"status": "active"},
            after={"status": "suspended"},
            reason="离职交接",
        ),
        audit.record(
            actor=p.admin,
            action="org.user.updated",
            target=p.agent,
            before={"status": "suspended"},
            after={"status": "active"},
        ),
        audit.record(actor=p.lead, action="org.team.updated", target=p.team_a1, after={"name": "滨江一组"}),
    ]


# --- record() -----------------------------------------------------------------------------


def test_record_builds_a_hash_chain(three_events):
    first, second, third = three_events
    assert [e.seq for e in three_events] == [1, 2, 3]
    assert first.prev_hash == audit.GENESIS
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    head = AuditChainHead.objects.get(pk=1)
    assert (head.seq, head.hash) == (3, third.hash)


def test_stored_row_hashes_to_its_recorded_hash(three_events):
    for event in AuditEvent.objects.order_by("seq"):
        assert audit.compute_hash(event) == event.hash


def test_each_row_is_an_hmac_under_the_newest_audit_key_it_names(settings, three_events):
    """Issue #9: not a plain SHA-256 anyone with database access could recompute."""
    key_id, key = audit.signing_key()
    assert key_id == hashlib.sha256(settings.ANJU_AUDIT_KEYS[0].encode()).hexdigest()[:8]
    for event in AuditEvent.objects.order_by("seq"):
        text = audit.canonical(event).encode()
        assert event.key_id == key_id
        assert event.hash == hmac.new(key, text, hashlib.sha256).hexdigest()
        assert event.hash != hashlib.sha256(text).hexdigest()


@pytest.mark.parametrize("keys", [[], ["same-key", "same-key"], [""]])
def test_a_bad_audit_key_list_is_a_configuration_error(settings, db, keys):
    settings.ANJU_AUDIT_KEYS = keys
    with pytest.raises(ImproperlyConfigured):
        audit.record(actor=None, action="core.test.done")
    assert not AuditEvent.objects.exists()


def test_record_copies_actor_target_and_reason(p, three_events):
    event = AuditEvent.objects.get(seq=1)
    assert event.actor == p.admin
    assert event.actor_name == "陈管理员"
    assert (event.target_type, event.target_id, event.target_repr) == ("org.user", str(p.agent.pk), "李置业")
    assert event.before == {"status": "active"}
    assert event.after == {"status": "suspended"}
    assert event.reason == "离职交接"


def test_record_takes_request_id_ip_and_source_from_the_context(p):
    with use_context(source="task", ip="10.1.2.3", request_id="req-12345678"):
        event = audit.record(actor=p.admin, action="core.test.done")
    event.refresh_from_db()
    assert (event.source, event.ip, event.request_id) == ("task", "10.1.2.3", "req-12345678")


def test_ipv6_is_stored_in_the_form_the_database_returns_so_the_chain_verifies(p):
    with use_context(ip="2001:DB8:0:0:0:0:0:1"):
        event = audit.record(actor=p.admin, action="core.test.done")
    event.refresh_from_db()
    assert event.ip == "2001:db8::1"
    assert audit.verify().ok


def test_malformed_ip_does_not_break_the_write(p):
    with use_context(ip="unknown"):
        event = audit.record(actor=p.admin, action="core.test.done")
    assert AuditEvent.objects.get(pk=event.pk).ip is None


def test_anonymous_actor_keeps_the_given_name(p):
    event = audit.record(actor=p.anonymous, actor_name="guest", action="auth.login_failed")
    assert event.actor is None
    assert event.actor_name == "guest"


# --- masking ------------------------------------------------------------------------------


def test_phone_is_masked_and_password_redacted(p):
    event = audit.record(
        actor=p.admin,
        action="org.user.created",
        target=p.agent,
        after={"phone": "13812341234", "password": "s3cret-pass", "display_name": "李置业"},
    )
    stored = AuditEvent.objects.get(pk=event.pk).after
    assert stored == {"phone": "138****1234", "password": "[redacted]", "display_name": "李置业"}
    raw = AuditEvent.objects.filter(pk=event.pk).values_list("after", flat=True).get()
    assert "13812341234" not in str(raw)
    assert "s3cret-pass" not in str(raw)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"mobile": "+86 138 1234 1234"}, {"mobile": "138****1234"}),
        ({"owner_phone": "13812341234"}, {"owner_phone": "138****1234"}),
        ({"customer_phone": 13812341234}, {"customer_phone": "138****1234"}),
        ({"id_number": "110101199003071234"}, {"id_number": "110***********1234"}),
        (
            {"new_password": "x", "api_key": "y", "token": "z"},
            {"new_password": "[redacted]", "api_key": "[redacted]", "token": "[redacted]"},
        ),
        (
            {"customer": {"phone": "13812341234", "name": "张三"}},
            {"customer": {"phone": "138****1234", "name": "张三"}},
        ),
        ({"contacts": [{"phone": "13812341234"}]}, {"contacts": [{"phone": "138****1234"}]}),
        ({"phone": ""}, {"phone": ""}),
        ({"phone": None}, {"phone": None}),
    ],
)
def test_sensitive_values_are_masked_at_any_depth(p, values, expected):
    event = audit.record(actor=p.admin, action="core.test.done", before=values)
    assert AuditEvent.objects.get(pk=event.pk).before == expected


# --- free text (issue #9): phone and ID numbers typed into notes, reasons, names --------------------

FREE_TEXT_PHONE = "客户来电 13812345678 核对"


def test_a_phone_in_the_reason_is_masked(p):
    event = audit.record(actor=p.admin, action="core.test.done", reason=FREE_TEXT_PHONE)
    assert AuditEvent.objects.get(pk=event.pk).reason == "客户来电 138****5678 核对"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"note": "客户电话13812345678，明天回访"}, {"note": "客户电话138****5678，明天回访"}),
        ({"remarks": "身份证 110101199003071234 已核"}, {"remarks": "身份证 110***********1234 已核"}),
        ({"content": "座机 0571-87654321"}, {"content": "座机 057*****4321"}),
        (
            {"answers": [{"question": "电话？", "text": "+86 139 1111 2222"}]},
            {"answers": [{"question": "电话？", "text": "139****2222"}]},
        ),
        ({"summary": "订单 20261205123456789 已付"}, {"summary": "订单 20261205123456789 已付"}),
        ({"key_fingerprint": "ab13812345678cde"}, {"key_fingerprint": "ab13812345678cde"}),
        pytest.param(
            {"count": 13812345678},
            {"count": 13812345678},
            marks=pytest.mark.allow_personal_data("a number stored as a number under a non-phone key is not free text"),
        ),
    ],
)
def test_numbers_in_free_text_are_masked_at_any_depth(p, values, expected):
    event = audit.record(actor=p.admin, action="core.test.done", after=values)
    assert AuditEvent.objects.get(pk=event.pk).after == expected
    assert audit.verify().ok


def test_a_phone_typed_as_a_username_or_in_an_object_name_is_masked(p):
    event = audit.record(actor=None, actor_name="13812345678", action="auth.login_failed", target=FREE_TEXT_PHONE)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.actor_name, stored.target_repr) == ("138****5678", "客户来电 138****5678 核对")


def test_the_reason_of_a_reveal_keeps_no_clear_number_in_the_audit(p):
    from anju.core.reveal import reveal

    reveal(
        actor=p.admin,
        target=p.agent,
        field="phone",
        value="13900001111",
        reason=FREE_TEXT_PHONE,
        action="org.user.revealed",
        audit_after={"field": "phone"},
    )

    event = AuditEvent.objects.get(action="org.user.revealed")
    assert event.reason == "客户来电 138****5678 核对"
    assert "13812345678" not in str(AuditEvent.objects.filter(pk=event.pk).values().get())


def test_the_audit_csv_export_holds_no_clear_number(login, p):
    audit.record(
        actor=p.admin,
        action="customers.communication.created",
        after={"note": "回电 13812345678，证件 110101199003071234"},
        reason=FREE_TEXT_PHONE,
    )

    rows = csv_rows(login(p.auditor).get(reverse("audit-export"), {"action": "customers."}))

    text = "\n".join(",".join(row) for row in rows)
    assert "138****5678" in text and "110***********1234" in text
    assert "13812345678" not in text and "110101199003071234" not in text


# --- transactions and append-only ---------------------------------------------------------


def test_record_rolls_back_with_the_surrounding_transaction(p, three_events):
    head_before = AuditChainHead.objects.get(pk=1).hash

    class Boom(Exception):
        pass

    with pytest.raises(Boom), transaction.atomic():
        audit.record(actor=p.admin, action="org.user.updated", target=p.agent)
        raise Boom

    assert AuditEvent.objects.count() == 3
    assert AuditChainHead.objects.get(pk=1).hash == head_before
    assert audit.record(actor=p.admin, action="core.test.done").seq == 4
    assert audit.verify().ok


def test_orm_refuses_to_update_an_event(three_events):
    event = AuditEvent.objects.get(seq=1)
    event.reason = "rewritten"
    with pytest.raises(PermissionError):
        event.save()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(seq=1).update(reason="rewritten")
    assert AuditEvent.objects.get(seq=1).reason == "离职交接"


def test_orm_refuses_to_delete_an_event(three_events):
    with pytest.raises(PermissionError):
        AuditEvent.objects.get(seq=2).delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.filter(seq=2).delete()
    with pytest.raises(PermissionError):
        AuditEvent.objects.all().delete()
    assert AuditEvent.objects.count() == 3


# --- verify / audit_verify ----------------------------------------------------------------


NO_ANCHORS = "anchors: not configured (ANJU_AUDIT_ANCHOR_FILE)"  # the test settings configure none


def test_audit_verify_on_an_empty_trail(db):
    assert run_verify() == (0, f"ok: 0 events\n{NO_ANCHORS}\n", "")


def test_audit_verify_passes_on_a_clean_chain(three_events):
    status, out, err = run_verify()
    assert status == 0
    assert out.splitlines() == ["ok: 3 events", NO_ANCHORS]
    assert err == ""


def test_audit_verify_reports_an_edited_row(three_events):
    target = three_events[1]
    raw_sql("UPDATE core_auditevent SET after = %s WHERE seq = %s", ['{"status": "suspended"}', 2])

    status, out, err = run_verify()

    assert status == 1
    assert out == ""
    assert err.strip() == f"broken at event #2 (id {target.pk}): content was changed after it was written"


def test_audit_verify_reports_an_edited_reason_on_the_first_row(three_events):
    raw_sql("UPDATE core_auditevent SET reason = %s WHERE seq = %s", ["", 1])
    status, _out, err = run_verify()
    assert status == 1
    assert err.startswith("broken at event #1 ")


def test_audit_verify_reports_a_row_whose_hash_was_recomputed(three_events):
    """Re-hashing an edited row does not help: the next row's link no longer matches."""
    event = AuditEvent.objects.get(seq=2)
    event.after = {"status": "suspended"}
    raw_sql(
        "UPDATE core_auditevent SET after = %s, hash = %s WHERE seq = %s",
        ['{"status": "suspended"}', audit.compute_hash(event), 2],
    )
    status, _out, err = run_verify()
    assert status == 1
    assert err.startswith("broken at event #3 ")
    assert "link to the previous event" in err


def test_audit_verify_reports_a_deleted_middle_row(three_events):
    raw_sql("DELETE FROM core_auditevent WHERE seq = %s", [2])

    status, _out, err = run_verify()

    assert status == 1
    assert err.startswith("broken at event #2 ")
    assert "missing" in err


def test_audit_verify_reports_a_deleted_newest_row(three_events):
    raw_sql("DELETE FROM core_auditevent WHERE seq = %s", [3])

    status, _out, err = run_verify()

    assert status == 1
    assert err.startswith("broken at event #3 ")
    assert "newest events were deleted" in err


def test_audit_verify_reports_a_deleted_chain_head(three_events):
    raw_sql("DELETE FROM core_auditchainhead", [])
    status, _out, err = run_verify()
    assert status == 1
    assert err.startswith("broken at event #4 ")


def test_audit_verify_runs_in_the_cli_context(monkeypatch, three_events):
    seen = {}
    original = audit.verify

    def spy(**kwargs):
        from anju.core import context

        seen["source"] = context.current().source
        return original(**kwargs)

    monkeypatch.setattr(audit, "verify", spy)
    assert run_verify()[0] == 0
    assert seen == {"source": "cli"}


def test_audit_verify_reads_in_small_batches(three_events):
    out = StringIO()
    call_command("audit_verify", "--batch-size", "1", stdout=out)
    assert out.getvalue().splitlines()[0] == "ok: 3 events"


# --- authentication events ----------------------------------------------------------------


def test_failed_login_is_recorded(p, client):
    response = client.post("/login/", {"username": "agent", "password": "wrong-password"})

    assert response.status_code == 200
    event = AuditEvent.objects.get(action="auth.login_failed")
    assert event.actor is None
    assert event.actor_name == "agent"
    assert event.after == {"username": "agent"}
    assert event.source == "web"
    assert event.ip == "127.0.0.1"
    assert "wrong-password" not in str(event.after)


def test_login_and_logout_are_recorded(p, client):
    response = client.post("/login/", {"username": "agent", "password": PASSWORD})
    assert response.status_code == 302

    login = AuditEvent.objects.get(action="auth.login")
    assert login.actor == p.agent
    assert (login.target_type, login.target_id) == ("org.user", str(p.agent.pk))
    assert login.source == "web"
    assert login.request_id

    client.post("/logout/")

    logout = AuditEvent.objects.get(action="auth.logout")
    assert logout.actor == p.agent
    assert logout.seq == login.seq + 1
    assert audit.verify().ok


# --- the migration that keyed the chain (issue #9) ------------------------------------------------

KEYING = importlib.import_module("anju.core.migrations.0005_audit_keyed_chain")
BEFORE_KEYING = [("core", "0004_reveal_log")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_re_signs_an_intact_plain_chain_and_back(p):
    """Rows written before the keyed chain are verified as plain SHA-256, then re-signed with the key."""
    for n in range(3):
        audit.record(actor=p.admin, action="core.test.done", after={"n": n}, reason="迁移前")
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE_KEYING)
        plain = MigrationExecutor(connection).loader.project_state(BEFORE_KEYING).apps.get_model("core", "AuditEvent")
        rows = list(plain.objects.order_by("seq"))
        assert [KEYING.plain_hash(row) for row in rows] == [row.hash for row in rows]

        MigrationExecutor(connection).migrate(latest)

        assert audit.verify().ok
        assert set(AuditEvent.objects.values_list("key_id", flat=True)) == {audit.signing_key()[0]}
        assert AuditChainHead.objects.get(pk=1).hash == AuditEvent.objects.get(seq=3).hash
    finally:
        MigrationExecutor(connection).migrate(latest)


@pytest.mark.django_db(transaction=True)
def test_the_migration_refuses_to_re_sign_a_tampered_plain_chain(p):
    """Re-signing would vouch for the edit: the migration stops and names the broken event."""
    for n in range(3):
        audit.record(actor=p.admin, action="core.test.done", after={"n": n})
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE_KEYING)
        raw_sql("UPDATE core_auditevent SET reason = %s WHERE seq = %s", ["改过", 2])

        with pytest.raises(RuntimeError, match="broken at event #2"):
            MigrationExecutor(connection).migrate(latest)

        recorder = MigrationExecutor(connection).loader.applied_migrations
        assert ("core", "0005_audit_keyed_chain") not in recorder
        raw_sql("UPDATE core_auditevent SET reason = %s WHERE seq = %s", ["", 2])
    finally:
        MigrationExecutor(connection).migrate(latest)
    assert audit.verify().ok
