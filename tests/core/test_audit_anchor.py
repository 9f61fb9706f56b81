"""Tamper evidence of the audit chain (issue #9 defect 3, R5.2.2): keyed hashes and signed anchors.

The attacker in these tests writes to the database directly (raw SQL, as a DBA or a stolen database
password could) and recomputes every following hash, with plain SHA-256, with HMAC under a guessed
key and, as an insider who also holds the audit key, with the right key. Anchors written outside
the database catch what the key alone cannot.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import stat
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.urls import reverse
from django_tasks import TaskResultStatus

from anju.core import audit, jobs
from anju.core.models import AuditChainHead, AuditEvent
from anju.core.tasks import CHAIN_BROKEN, verify_audit_chain

pytestmark = pytest.mark.django_db


@pytest.fixture
def anchor_file(settings, tmp_path):
    """The configured anchor file, in this test's own directory (the test settings configure none)."""
    path = tmp_path / "anchors" / "audit-anchors.jsonl"
    settings.ANJU_AUDIT_ANCHOR_FILE = path
    return path


@pytest.fixture
def five_events(p):
    return [
        audit.record(actor=p.admin, action="org.user.updated", target=p.agent, after={"status": f"s{n}"}, reason="核对")
        for n in range(5)
    ]


def run(command: str, *args) -> tuple[int, str, str]:
    """Run a management command and return (exit status, stdout, stderr)."""
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except SystemExit as exc:
        return int(exc.code), out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def raw_sql(sql: str, params: list) -> None:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def plain_sha256(event: AuditEvent) -> str:
    return hashlib.sha256(audit.canonical(event).encode("utf-8")).hexdigest()


def hmac_under(key: str) -> Callable[[AuditEvent], str]:
    return lambda event: hmac.new(key.encode(), audit.canonical(event).encode("utf-8"), hashlib.sha256).hexdigest()


def tamper(seq: int, sign: Callable[[AuditEvent], str], *, reason: str = "改过的原因") -> None:
    """Edit event ``seq`` behind the application's back, then recompute every hash from it to the head."""
    raw_sql("UPDATE core_auditevent SET reason = %s WHERE seq = %s", [reason, seq])
    prev = AuditEvent.objects.get(seq=seq - 1).hash if seq > 1 else audit.GENESIS
    for event in AuditEvent.objects.filter(seq__gte=seq).order_by("seq"):
        event.prev_hash = prev
        event.hash = sign(event)
        raw_sql(
            "UPDATE core_auditevent SET prev_hash = %s, hash = %s WHERE seq = %s", [event.prev_hash, event.hash, seq]
        )
        prev = event.hash
        seq += 1
    raw_sql("UPDATE core_auditchainhead SET hash = %s WHERE id = 1", [prev])


def anchor_lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# --- the keyed chain against a database-only writer ---------------------------------------------------


def test_rewrite_recomputed_with_plain_sha256_is_detected(five_events):
    tamper(2, plain_sha256)

    status, out, err = run("audit_verify")

    assert (status, out) == (1, "")
    assert err.strip() == f"broken at event #2 (id {five_events[1].pk}): content was changed after it was written"


def test_rewrite_recomputed_with_hmac_under_a_guessed_key_is_detected(five_events):
    tamper(2, hmac_under("a-guessed-key"))

    result = audit.verify()

    assert (result.ok, result.broken_seq, result.reason) == (False, 2, "content was changed after it was written")


def test_rewrite_claiming_a_key_of_its_own_is_detected(five_events):
    forged = audit.key_id_of("the-attackers-key")
    raw_sql("UPDATE core_auditevent SET key_id = %s WHERE seq >= %s", [forged, 4])
    tamper(4, hmac_under("the-attackers-key"))

    result = audit.verify()

    assert (result.ok, result.broken_seq) == (False, 4)
    assert result.reason == f"signed with an unknown audit key {forged!r}"


def test_rewrite_by_a_key_holder_passes_the_chain_but_not_an_older_anchor(five_events, anchor_file):
    """Someone holding the key can recompute the chain; the anchor written before still pins the old head."""
    assert run("audit_anchor")[0] == 0
    tamper(2, audit.compute_hash)

    assert audit.verify(anchor_file=anchor_file.parent / "none-here.jsonl").ok  # without anchors it would pass
    status, _out, err = run("audit_verify")

    assert status == 1
    assert err.startswith(f"broken at event #5 (id {five_events[4].pk}): does not match the anchor of ")
    assert "this or an earlier event was rewritten" in err


def test_rewrite_by_a_key_holder_after_the_last_anchor_goes_unnoticed(p, five_events, anchor_file):
    """The documented limit: events written since the last anchor are protected by the key alone."""
    audit.anchor()
    audit.record(actor=p.admin, action="core.test.done", reason="锚点之后")

    tamper(6, audit.compute_hash)

    assert audit.verify().ok
    assert AuditEvent.objects.get(seq=6).reason == "改过的原因"


# --- deleting events --------------------------------------------------------------------------------


def test_deleting_the_anchored_tail_is_detected_even_with_the_head_rewound(five_events, anchor_file):
    audit.anchor()
    raw_sql("DELETE FROM core_auditevent WHERE seq > %s", [3])
    raw_sql("UPDATE core_auditchainhead SET seq = %s, hash = %s WHERE id = 1", [3, five_events[2].hash])

    assert audit.verify(anchor_file=anchor_file.parent / "none-here.jsonl").ok  # the chain alone looks whole
    status, _out, err = run("audit_verify")

    assert status == 1
    assert err.startswith(f"broken at event #4 (id {five_events[2].pk}): events up to #5 were anchored at ")
    assert "missing (deleted)" in err


def test_deleting_an_anchored_middle_event_is_detected(five_events, anchor_file):
    audit.anchor()
    raw_sql("DELETE FROM core_auditevent WHERE seq = %s", [2])

    result = audit.verify()

    assert (result.ok, result.broken_seq, result.reason) == (False, 2, "event #2 is missing (deleted)")


def test_events_committed_while_the_walk_runs_are_walked_too(p, five_events, monkeypatch):
    """The head is read after the walk; a busy office appending meanwhile is not a deleted tail."""
    original = audit._Walk.resume
    appended = []

    def resume_then_append(walk, batch_size):
        original(walk, batch_size)
        if not appended:
            appended.append(audit.record(actor=p.admin, action="core.test.done"))

    monkeypatch.setattr(audit._Walk, "resume", resume_then_append)

    result = audit.verify()

    assert (result.ok, result.count, result.head_hash) == (True, 6, appended[0].hash)


# --- writing anchors --------------------------------------------------------------------------------


def test_audit_anchor_appends_a_signed_line_to_a_private_file_and_logs_it(five_events, anchor_file, caplog):
    with caplog.at_level(logging.INFO, logger="anju.audit"):
        status, out, err = run("audit_anchor")

    assert (status, err) == (0, "")
    assert out.startswith("anchored event #5 (")
    assert stat.S_IMODE(anchor_file.stat().st_mode) == 0o600
    [line] = anchor_lines(anchor_file)
    assert (line["seq"], line["hash"]) == (5, five_events[4].hash)
    key_id, key = audit.signing_key()
    assert line["key_id"] == key_id
    signed = json.dumps(
        {"at": line["at"], "hash": line["hash"], "key_id": key_id, "seq": 5}, sort_keys=True, separators=(",", ":")
    )
    expected = hmac.new(key, b"anju.audit.anchor\n" + signed.encode(), hashlib.sha256).hexdigest()
    assert line["signature"] == expected
    [logged] = [r for r in caplog.records if r.name == "anju.audit"]
    assert logged.levelno == logging.INFO
    assert json.loads(logged.getMessage().removeprefix("Audit anchor ")) == line


def test_each_anchor_is_appended_and_all_are_checked(p, five_events, anchor_file):
    run("audit_anchor")
    audit.record(actor=p.admin, action="core.test.done")
    run("audit_anchor")

    assert [line["seq"] for line in anchor_lines(anchor_file)] == [5, 6]
    status, out, _err = run("audit_verify")
    lines = out.splitlines()
    assert (status, lines[0]) == (0, "ok: 6 events")
    assert lines[1].startswith(f"anchors: 2 checked in {anchor_file}, last #6 at ")


def test_a_broken_chain_is_never_anchored(five_events, anchor_file):
    tamper(3, plain_sha256)

    status, out, err = run("audit_anchor")

    assert (status, out) == (1, "")
    assert err.splitlines() == [
        f"broken at event #3 (id {five_events[2].pk}): content was changed after it was written",
        "not anchored: a broken chain is never vouched for",
    ]
    assert not anchor_file.exists()


def test_an_empty_trail_is_not_anchored(db, anchor_file):
    assert run("audit_anchor") == (0, "nothing to anchor: the audit trail is empty\n", "")
    assert not anchor_file.exists()


def test_audit_anchor_refuses_without_an_anchor_file(five_events):
    with pytest.raises(CommandError, match="ANJU_AUDIT_ANCHOR_FILE"):
        call_command("audit_anchor")


def test_audit_verify_checks_a_copy_given_with_anchors(five_events, tmp_path):
    """E.g. the copy on the backup host: ``--anchors`` works whatever the settings say."""
    copy = tmp_path / "backup-host-anchors.jsonl"
    run("audit_anchor", "--anchors", str(copy))
    tamper(1, audit.compute_hash)

    assert run("audit_verify")[0] == 0  # the test settings configure no anchor file
    status, _out, err = run("audit_verify", "--anchors", str(copy))

    assert status == 1
    assert err.startswith("broken at event #5 ")


def test_audit_verify_says_when_there_is_nothing_to_check_anchors_against(five_events, anchor_file):
    assert run("audit_verify") == (0, f"ok: 5 events\nanchors: none in {anchor_file}\n", "")


# --- a tampered anchor file -------------------------------------------------------------------------


def test_an_edited_anchor_line_is_reported(five_events, anchor_file):
    audit.anchor()
    line = anchor_lines(anchor_file)[0]
    line["seq"] = 4  # e.g. to make a deleted newest event look un-anchored
    anchor_file.write_text(json.dumps(line) + "\n", encoding="utf-8")

    status, _out, err = run("audit_verify")

    assert status == 1
    assert err.strip() == (
        "broken at event #4 (id -): anchor line 1 does not match its signature (the anchor file was edited)"
    )


def test_an_anchor_signed_with_an_unknown_key_is_reported(five_events, anchor_file, settings):
    configured = settings.ANJU_AUDIT_KEYS
    settings.ANJU_AUDIT_KEYS = ["a-key-nobody-configured"]
    audit.write_anchor(seq=5, hash=five_events[4].hash)
    settings.ANJU_AUDIT_KEYS = configured

    result = audit.verify()

    assert not result.ok
    assert result.reason.startswith("anchor line 1 was signed with an unknown key")


def test_an_unreadable_anchor_line_is_reported(five_events, anchor_file):
    anchor_file.parent.mkdir(parents=True)
    anchor_file.write_text('{"seq": 5, "hash": \n', encoding="utf-8")
    assert audit.verify().reason == "anchor line 1 is unreadable"


# --- key rotation ----------------------------------------------------------------------------------


def test_rows_and_anchors_signed_with_an_older_key_verify_after_a_rotation(p, settings, anchor_file):
    configured = list(settings.ANJU_AUDIT_KEYS)
    settings.ANJU_AUDIT_KEYS = ["audit-key-2026", *configured]
    old = audit.record(actor=p.admin, action="core.test.done")
    audit.anchor()

    settings.ANJU_AUDIT_KEYS = ["audit-key-2027", "audit-key-2026", *configured]
    new = audit.record(actor=p.admin, action="core.test.done")

    assert (old.key_id, new.key_id) == (audit.key_id_of("audit-key-2026"), audit.key_id_of("audit-key-2027"))
    assert audit.verify().ok
    _result, anchor = audit.anchor()
    assert anchor.key_id == audit.key_id_of("audit-key-2027")
    assert audit.verify().anchors == 2

    # Dropping the old key too early leaves its rows unverifiable: reported, not silently accepted.
    settings.ANJU_AUDIT_KEYS = ["audit-key-2027", *configured]
    assert audit.verify().reason.startswith("anchor line 1 was signed with an unknown key")
    assert audit.verify(anchor_file=anchor_file.parent / "none-here.jsonl").broken_seq == old.seq


# --- the hourly job --------------------------------------------------------------------------------


def test_the_hourly_job_verifies_then_anchors(five_events, anchor_file):
    jobs.discover()
    job = {job.name: job for job in jobs.registered()}["core.verify_audit_chain"]
    assert job.every.total_seconds() == 3600

    result = verify_audit_chain.enqueue()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value["ok"] is True
    assert [(line["seq"], line["hash"]) for line in anchor_lines(anchor_file)] == [(5, five_events[4].hash)]


def test_the_hourly_job_does_not_anchor_a_broken_chain(five_events, anchor_file):
    tamper(2, plain_sha256)

    result = verify_audit_chain.enqueue()

    assert result.return_value["ok"] is False
    assert not anchor_file.exists()
    assert AuditEvent.objects.filter(action=CHAIN_BROKEN).count() == 1


def test_the_chain_head_row_is_still_checked(five_events):
    raw_sql("UPDATE core_auditchainhead SET hash = %s WHERE id = 1", [five_events[3].hash])
    result = audit.verify()
    assert (result.ok, result.reason) == (False, "the chain head does not match the newest event")
    assert AuditChainHead.objects.get(pk=1).seq == 5


# --- the status line on the audit browser ----------------------------------------------------------


def chain_status_line(client) -> str:
    html = client.get(reverse("audit-list")).content.decode()
    start = html.index('data-testid="audit-chain-status"')
    end = min(html.index(tag, start) for tag in ("</p>", "</div>") if tag in html[start:])
    return re.sub(r"<[^>]+>", "", html[start:end])


def test_the_audit_browser_says_how_far_the_chain_was_verified(login, p, five_events, anchor_file):
    verify_audit_chain.enqueue()
    line = chain_status_line(login(p.auditor))
    assert "审计链已校验至 #5（锚点时间 " in line


def test_the_audit_browser_raises_the_alarm_after_a_failed_check(login, p, five_events, anchor_file):
    verify_audit_chain.enqueue()
    tamper(2, plain_sha256)
    verify_audit_chain.enqueue()
    assert "审计链校验未通过（第 2 条记录起），请立即核查。" in chain_status_line(login(p.auditor))


def test_the_audit_browser_flags_an_edited_anchor_file(login, p, five_events, anchor_file):
    audit.anchor()
    anchor_file.write_text(anchor_file.read_text().replace('"seq":5', '"seq":6'))
    assert "签名校验未通过" in chain_status_line(login(p.auditor))


def test_the_audit_browser_says_when_nothing_was_anchored_yet(login, p, five_events):
    assert "尚未生成审计链锚点" in chain_status_line(login(p.admin))
