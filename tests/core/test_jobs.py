"""Periodic jobs: once per slot however often (and wherever) the scheduler runs; the real worker runs them."""

from __future__ import annotations

import logging
import signal
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from anju.core import jobs
from anju.core.models import AuditEvent, ScheduledRun
from anju.core.tasks import CHAIN_BROKEN, clear_expired_sessions, verify_audit_chain
from anju.org.models import User, UserSession

DB_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}
NOON = datetime(2026, 11, 30, 4, 0, 12, tzinfo=UTC)


@pytest.fixture
def frozen_now(monkeypatch):
    """Pin the clock so a test never straddles a slot boundary."""
    monkeypatch.setattr(timezone, "now", lambda: NOON)
    return NOON


@pytest.fixture
def db_tasks():
    """Queue into the database (as production does) instead of running tasks inline."""
    with override_settings(TASKS=DB_TASKS):
        yield


def make_session(key: str, *, expires_in: timedelta, user: User | None = None) -> Session:
    session = Session.objects.create(session_key=key, session_data="", expire_date=timezone.now() + expires_in)
    if user is not None:
        UserSession.objects.create(user=user, session_key=key)
    return session


@pytest.mark.django_db
def test_scheduler_enqueues_each_due_job_once_even_when_run_twice_in_a_slot(db_tasks, frozen_now):
    call_command("scheduler", "--once", verbosity=0)
    call_command("scheduler", "--once", verbosity=0)

    names = {job.name for job in jobs.registered()}
    assert {"core.clear_expired_sessions", "core.verify_audit_chain"} <= names
    runs = list(ScheduledRun.objects.all())
    assert sorted(run.job for run in runs) == sorted(names)
    queued = DBTaskResult.objects.filter(status=TaskResultStatus.READY)
    assert queued.count() == len(names)
    assert {str(pk) for pk in queued.values_list("id", flat=True)} == {run.task_result_id for run in runs}


@pytest.mark.django_db
def test_each_job_is_enqueued_again_only_when_its_next_slot_starts(db_tasks):
    jobs.discover()
    jobs.enqueue_due(now=NOON)

    later_same_hour = jobs.enqueue_due(now=NOON + timedelta(minutes=50))
    next_hour = jobs.enqueue_due(now=NOON + timedelta(hours=1))

    # Other apps' jobs have their own periods (e.g. every 5 minutes); here the kernel's two count.
    assert [run.job for run in later_same_hour if run.job.startswith("core.")] == []
    assert [run.job for run in next_hour if run.job.startswith("core.")] == ["core.verify_audit_chain"]
    assert ScheduledRun.objects.filter(job="core.clear_expired_sessions").count() == 1


def test_daily_slot_starts_at_the_configured_offset():
    jobs.discover()
    job = next(job for job in jobs.registered() if job.name == "core.clear_expired_sessions")

    # 19:00 UTC is 03:00 in Shanghai: just before it is still yesterday's slot.
    assert job.slot(datetime(2026, 11, 30, 18, 59, tzinfo=UTC)) == "2026-11-29T19:00:00Z"
    assert job.slot(datetime(2026, 11, 30, 19, 0, tzinfo=UTC)) == "2026-11-30T19:00:00Z"


@pytest.mark.django_db
def test_clear_expired_sessions_keeps_live_sessions_and_their_user_records():
    user = User.objects.create_user(username="sessions-owner", display_name="S")
    make_session("expired" + "x" * 25, expires_in=-timedelta(minutes=1), user=user)
    make_session("live" + "y" * 28, expires_in=timedelta(minutes=30), user=user)

    clear_expired_sessions.enqueue()

    assert list(Session.objects.values_list("session_key", flat=True)) == ["live" + "y" * 28]
    assert list(UserSession.objects.values_list("session_key", flat=True)) == ["live" + "y" * 28]


@pytest.mark.django_db
def test_broken_audit_chain_is_logged_and_recorded_once_per_break(caplog):
    from anju.core import audit

    audit.record(actor=None, action="tests.something.happened", reason="original")
    audit.record(actor=None, action="tests.something.happened", reason="second")
    with connection.cursor() as cursor:  # tamper behind the application's back
        cursor.execute("UPDATE core_auditevent SET reason = 'edited' WHERE seq = 1")

    with caplog.at_level(logging.ERROR, logger="anju.core.tasks"):
        first = verify_audit_chain.enqueue()
        verify_audit_chain.enqueue()

    assert first.status == TaskResultStatus.SUCCESSFUL
    assert first.return_value["ok"] is False
    assert "Audit chain broken at event #1" in caplog.text
    alarms = AuditEvent.objects.filter(action=CHAIN_BROKEN)
    assert alarms.count() == 1
    assert alarms.get().source == AuditEvent.Source.TASK
    assert alarms.get().after["broken_seq"] == 1


@pytest.mark.django_db
def test_intact_audit_chain_records_nothing():
    from anju.core import audit

    audit.record(actor=None, action="tests.something.happened")

    result = verify_audit_chain.enqueue()

    assert result.return_value == {"ok": True, "count": 1, "broken_seq": None, "reason": ""}
    assert not AuditEvent.objects.filter(action=CHAIN_BROKEN).exists()


@pytest.mark.django_db(transaction=True)
def test_real_db_worker_runs_an_enqueued_job(db_tasks):
    expired = make_session("expired" + "z" * 25, expires_in=-timedelta(hours=1))
    make_session("live" + "w" * 28, expires_in=timedelta(hours=1))
    queued = clear_expired_sessions.enqueue()
    assert DBTaskResult.objects.get(pk=queued.id).status == TaskResultStatus.READY

    # db_worker installs its own SIGINT/SIGTERM handlers; give pytest its own back afterwards.
    saved = {signum: signal.getsignal(signum) for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)}
    try:
        call_command("db_worker", "--batch", "--no-startup-delay", "--no-reload", verbosity=0)
    finally:
        for signum, handler in saved.items():
            signal.signal(signum, handler)

    assert not Session.objects.filter(pk=expired.pk).exists()
    assert Session.objects.filter(session_key="live" + "w" * 28).exists()
    finished = DBTaskResult.objects.get(pk=queued.id)
    assert finished.status == TaskResultStatus.SUCCESSFUL
    assert finished.return_value == {"sessions": 1, "user_sessions": 0}
