"""The customer's single timeline: every kind of event, newest first, in a bounded number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from anju.customers.choices import ConsentKind
from anju.customers.models import (
    Communication,
    Consent,
    Feedback,
    FollowUpTask,
    NeedsRevision,
    OwnershipChange,
    Visit,
)
from anju.customers.services.customers import consent_withdraw, customer_change_stage, needs_update
from anju.customers.services.ownership import customer_transfer
from anju.customers.timeline import timeline_for

pytestmark = pytest.mark.django_db


def ago(days: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(days=days)


def add_visit(customer, agent, at):
    return Visit.objects.create(
        customer=customer,
        branch=customer.branch,
        arrived_at=at,
        is_first_visit=True,
        party_size=2,
        received_by=agent,
        reception_started_at=at + dt.timedelta(minutes=5),
        registered_by=agent,
    )


def add_communication(customer, agent, at, summary="介绍了户型"):
    return Communication.objects.create(
        customer=customer, channel="phone", occurred_at=at, summary=summary, recorded_by=agent
    )


def add_followup(customer, agent, due, *, done_at=None):
    return FollowUpTask.objects.create(
        customer=customer,
        assignee=agent,
        title="24小时回访",
        due_at=due,
        status="done" if done_at else "open",
        completed_at=done_at,
        outcome="reached" if done_at else "",
    )


def add_feedback(customer, agent, at):
    return Feedback.objects.create(
        customer=customer,
        channel="online",
        category="price",
        content="首付比例？",
        received_at=at,
        handler=agent,
        recorded_by=agent,
        first_response_at=at + dt.timedelta(minutes=30),
    )


def test_timeline_merges_every_kind_newest_first(p, register):
    customer = register(p.agent)
    OwnershipChange.objects.filter(customer=customer).update(changed_at=ago(12))
    Consent.objects.filter(customer=customer).update(granted_at=ago(11))
    add_visit(customer, p.agent, ago(10))
    add_communication(customer, p.agent, ago(9))
    add_followup(customer, p.agent, ago(8.5), done_at=ago(8))
    needs_update(actor=p.agent, customer=customer, districts=["滨江"], rooms_min=3)
    NeedsRevision.objects.filter(customer=customer).update(changed_at=ago(7))
    add_feedback(customer, p.agent, ago(6))
    customer_change_stage(actor=p.agent, customer=customer, to_stage="visited")
    add_followup(customer, p.agent, timezone.now() + dt.timedelta(days=1))

    entries = timeline_for(customer, p.agent)

    assert [entry.kind for entry in entries] == [
        "followup",  # open, due tomorrow
        "stage",
        "feedback",
        "needs",
        "followup",  # done
        "communication",
        "visit",
        "consent",
        "ownership",
    ]
    times = [entry.time for entry in entries]
    assert times == sorted(times, reverse=True)
    assert all(entry.actor == "李置业" for entry in entries)
    needs = next(entry for entry in entries if entry.kind == "needs")
    assert any("滨江" in value for _, value in needs.details)


def test_visits_are_left_out_for_a_viewer_without_visit_permission(p, register):
    customer = register(p.agent)
    add_visit(customer, p.agent, ago(1))
    assert "visit" in {entry.kind for entry in timeline_for(customer, p.agent)}
    assert "visit" not in {entry.kind for entry in timeline_for(customer, p.legal)}


def test_ownership_transfer_appears_with_its_reason(p, register):
    customer = register(p.agent)
    customer_transfer(actor=p.manager, customer=customer, to_owner=p.agent2, reason="李置业休产假")

    entries = timeline_for(customer, p.manager)

    transfer = next(entry for entry in entries if entry.kind == "ownership")
    assert transfer.actor == "孙经理"
    details = dict(transfer.details)
    assert "李置业休产假" in details.values()
    assert "李置业" in details.values() and "赵置业" in details.values()
    assert [entry.kind for entry in entries if entry.kind == "ownership"] == ["ownership", "ownership"]


def test_consent_withdrawal_appears_with_who_and_why(p, register):
    customer = register(p.agent, id_number="11010519491231002X", id_number_consent=True)
    consent = customer.consents.get(kind=ConsentKind.ID_NUMBER)
    consent_withdraw(actor=p.agent, consent=consent, reason="客户电话要求删除")

    entries = [entry for entry in timeline_for(customer, p.agent) if entry.kind == "consent"]

    withdrawn = entries[0]
    assert withdrawn.icon == "shield-x"
    assert withdrawn.actor == "李置业"
    assert "客户电话要求删除" in dict(withdrawn.details).values()
    assert len(entries) == 3  # personal info + ID granted, ID withdrawn


def test_stage_change_shows_the_lost_reason(p, register):
    customer = register(p.agent)
    customer_change_stage(actor=p.agent, customer=customer, to_stage="lost", lost_reason="已在别处购房")
    stage = next(entry for entry in timeline_for(customer, p.agent) if entry.kind == "stage")
    assert "已在别处购房" in dict(stage.details).values()


def _history(customer, agent, rounds: int) -> None:
    for index in range(rounds):
        add_visit(customer, agent, ago(index + 1))
        add_communication(customer, agent, ago(index + 1.2))
        add_followup(customer, agent, ago(index + 1.4), done_at=ago(index + 1.3))
        add_feedback(customer, agent, ago(index + 1.5))


def test_timeline_reads_in_the_same_number_of_queries_for_few_or_many_entries(p, register):
    few, many = register(p.agent), register(p.agent)
    _history(few, p.agent, 1)
    _history(many, p.agent, 10)
    p.agent.has_perm("customers.view_visit")  # permissions cached, as in a request

    with CaptureQueriesContext(connection) as small:
        small_entries = timeline_for(few, p.agent)
    with CaptureQueriesContext(connection) as large:
        large_entries = timeline_for(many, p.agent)

    assert len(large_entries) > len(small_entries) + 30
    assert len(small.captured_queries) == len(large.captured_queries) <= 8


def test_timeline_is_capped(p, register):
    customer = register(p.agent)
    for index in range(30):
        add_communication(customer, p.agent, ago(index), summary=f"第{index}次")
    entries = timeline_for(customer, p.agent, limit=10)
    assert len(entries) == 10
    assert entries[0].kind == "communication"
