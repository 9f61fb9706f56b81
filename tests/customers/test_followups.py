"""Follow-up cadence: the job plans 24 h / 3 d / 7 d after a first visit exactly once, completion needs
an outcome and extends protection, overdue work shows on the lead's page and the agent's home."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from anju.core import jobs
from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.customers import tasks
from anju.customers.choices import FollowUpStatus, VisitStatus
from anju.customers.models import Communication, Customer, FollowUpTask, Visit
from anju.customers.services.followups import followup_complete, followup_create, followups_generate
from anju.customers.services.ownership import pool_release

pytestmark = pytest.mark.django_db

EN = {"Accept-Language": "en"}


@pytest.fixture
def noon(monkeypatch):
    """Pin the clock to today's noon in Shanghai, so "today" never straddles midnight."""
    local = timezone.localtime().replace(hour=12, minute=0, second=0, microsecond=0)
    monkeypatch.setattr(timezone, "now", lambda: local)
    return local


def first_visit(customer, *, ended_at, status=VisitStatus.DONE, first=True, arrived_at=None):
    arrived_at = arrived_at or ended_at - timedelta(hours=1)
    received = status in (VisitStatus.DONE, VisitStatus.IN_RECEPTION)
    return Visit.objects.create(
        customer=customer,
        branch=customer.branch,
        arrived_at=arrived_at,
        is_first_visit=first,
        status=status,
        assigned_to=customer.owner,
        received_by=customer.owner if received else None,
        reception_started_at=arrived_at + timedelta(minutes=5) if received else None,
        reception_ended_at=ended_at if status == VisitStatus.DONE else None,
        registered_by=customer.owner or customer.created_by,
    )


def task_for(customer, *, due_at, assignee=None, title="Follow-up"):
    return FollowUpTask.objects.create(
        customer=customer, assignee=assignee or customer.owner, title=title, due_at=due_at
    )


# --- the job ----------------------------------------------------------------------------------


def test_job_creates_the_24h_3d_7d_tasks_exactly_once_even_when_run_twice(p, register, noon):
    customer = register(p.agent)
    ended = noon - timedelta(hours=2)
    visit = first_visit(customer, ended_at=ended)

    created_first = followups_generate()
    created_again = followups_generate()

    assert (created_first, created_again) == (3, 0)
    planned = list(FollowUpTask.objects.filter(customer=customer).order_by("step"))
    assert [(t.step, t.title, t.due_at) for t in planned] == [
        (1, "First follow-up", ended + timedelta(hours=24)),
        (2, "Second follow-up", ended + timedelta(days=3)),
        (3, "Revisit", ended + timedelta(days=7)),
    ]
    assert {(t.assignee, t.plan, t.anchor, t.status) for t in planned} == {
        (p.agent, "first_visit", f"visit:{visit.pk}", FollowUpStatus.OPEN)
    }


def test_a_second_host_that_saw_the_same_visit_creates_nothing_twice(p, register, noon, monkeypatch):
    """Two hosts pick the same visit before either inserts: the unique key lets each task exist once."""
    from anju.customers.services import followups

    customer = register(p.agent)
    visit = first_visit(customer, ended_at=noon - timedelta(hours=1))
    stale_pick = [Visit.objects.select_related("customer").get(pk=visit.pk)]
    assert followups_generate() == 3
    # The other host computed its work list before our tasks committed.
    monkeypatch.setattr(followups, "_pending_first_visits", lambda now, limit: stale_pick)

    assert followups_generate() == 0
    assert FollowUpTask.objects.filter(customer=customer).count() == 3


def test_job_counts_from_arrival_when_the_visitor_left_unreceived(p, register, noon):
    customer = register(p.agent)
    arrived = noon - timedelta(hours=3)
    first_visit(customer, ended_at=noon, arrived_at=arrived, status=VisitStatus.LEFT)

    assert followups_generate() == 3
    assert FollowUpTask.objects.get(customer=customer, step=1).due_at == arrived + timedelta(hours=24)


def test_job_waits_until_the_reception_has_ended(p, register, noon):
    customer = register(p.agent)
    first_visit(customer, ended_at=noon, status=VisitStatus.IN_RECEPTION)
    first_visit(register(p.agent), ended_at=noon, status=VisitStatus.WAITING)
    assert followups_generate() == 0


def test_job_ignores_returning_visits(p, register, noon):
    first_visit(register(p.agent), ended_at=noon - timedelta(hours=1), first=False)
    assert followups_generate() == 0
    assert not FollowUpTask.objects.exists()


def test_job_skips_customers_in_the_public_pool(p, register, noon):
    customer = register(p.agent)
    first_visit(customer, ended_at=noon - timedelta(hours=1))
    pool_release(actor=p.agent, customer=customer, reason="客户不再考虑")
    assert followups_generate() == 0
    assert not FollowUpTask.objects.exists()


def test_job_looks_back_thirty_days_only(p, register, noon):
    first_visit(register(p.agent), ended_at=noon - timedelta(days=31))
    assert followups_generate() == 0


def test_job_assigns_the_tasks_to_the_current_owner(p, register, noon):
    from anju.customers.services.ownership import customer_transfer

    customer = register(p.agent)
    first_visit(customer, ended_at=noon - timedelta(hours=1))
    customer_transfer(actor=p.manager, customer=customer, to_owner=p.agent2, reason="调岗")
    followups_generate()
    assert set(FollowUpTask.objects.values_list("assignee__username", flat=True)) == {"agent2"}


def test_periodic_tasks_are_registered_and_run_the_services(p, register, noon):
    jobs.discover()
    registered = {job.name: job for job in jobs.registered()}
    assert registered["customers.followups_generate"].every == timedelta(minutes=5)
    assert registered["customers.pool_release_lapsed"].every == timedelta(hours=1)
    first_visit(register(p.agent), ended_at=noon - timedelta(hours=1))

    assert tasks.followups_generate.call() == 3
    result = tasks.followups_generate.enqueue()  # the test settings run tasks inline

    assert result.return_value == 0
    event = AuditEvent.objects.get(action="customers.followup.generated")
    assert event.source == "task" and event.after == {"tasks": 3, "visits": 1}


def test_pool_release_task_moves_lapsed_customers(p, register):
    customer = register(p.agent)
    Customer.objects.filter(pk=customer.pk).update(protected_until=timezone.now() - timedelta(minutes=1))
    assert tasks.pool_release_lapsed.call() == 1
    assert Customer.objects.get(pk=customer.pk).in_pool


# --- completing ---------------------------------------------------------------------------------


def test_completion_needs_an_outcome(p, register, noon):
    customer = register(p.agent)
    task = task_for(customer, due_at=noon)

    with pytest.raises(ApplicationError) as refused:
        followup_complete(actor=p.agent, task=task, outcome="", method="phone", content="打了电话")

    assert refused.value.code == "followup.outcome_required" and "outcome" in refused.value.fields
    task.refresh_from_db()
    assert task.status == FollowUpStatus.OPEN
    assert not Communication.objects.exists()


def test_completion_records_a_communication_and_extends_protection(p, register, monkeypatch, noon):
    customer = register(p.agent)
    task = task_for(customer, due_at=noon + timedelta(hours=3))
    before = Customer.objects.get(pk=customer.pk).protected_until
    later = noon + timedelta(days=10)
    monkeypatch.setattr(timezone, "now", lambda: later)

    followup_complete(actor=p.agent, task=task, outcome="reached", method="phone", content="确认周六再来看样板间")

    task.refresh_from_db()
    after = Customer.objects.get(pk=customer.pk)
    assert task.status == FollowUpStatus.DONE and task.completed_at == later and task.outcome == "reached"
    assert task.communication.summary == "确认周六再来看样板间"
    assert task.communication.channel == "phone" and task.communication.recorded_by == p.agent
    assert after.protected_until == before + timedelta(days=10) == later + timedelta(days=30)
    assert after.last_contact_at == later
    event = AuditEvent.objects.get(action="customers.followup.completed")
    assert event.after["outcome"] == "reached" and event.after["communication"] == task.communication.pk


def test_completion_can_plan_the_next_follow_up(p, register, noon):
    customer = register(p.agent)
    task = task_for(customer, due_at=noon)
    next_time = noon + timedelta(days=2)

    followup_complete(
        actor=p.agent, task=task, outcome="appointment", method="online", content="", next_due_at=next_time
    )

    following = FollowUpTask.objects.exclude(pk=task.pk).get()
    assert (following.assignee, following.due_at, following.plan, following.anchor) == (p.agent, next_time, "", "")
    assert following.status == FollowUpStatus.OPEN
    # Without a content the outcome is the summary of the logged contact.
    task.refresh_from_db()
    assert task.communication.summary


def test_next_follow_up_in_the_past_is_refused(p, register, noon):
    task = task_for(register(p.agent), due_at=noon)
    with pytest.raises(ApplicationError) as refused:
        followup_complete(
            actor=p.agent, task=task, outcome="reached", method="phone", next_due_at=noon - timedelta(days=1)
        )
    assert refused.value.code == "followup.due_in_past"
    task.refresh_from_db()
    assert task.status == FollowUpStatus.OPEN


@pytest.mark.parametrize("status", [FollowUpStatus.DONE, FollowUpStatus.CANCELLED])
def test_completing_a_closed_follow_up_is_refused_naming_both_states(p, register, noon, status):
    task = task_for(register(p.agent), due_at=noon)
    FollowUpTask.objects.filter(pk=task.pk).update(status=status)

    with pytest.raises(ApplicationError) as refused:
        followup_complete(actor=p.agent, task=task, outcome="reached", method="phone")

    message = str(refused.value.message)
    assert refused.value.code == "followup.bad_transition" and refused.value.status == 409
    assert str(status.label) in message and str(FollowUpStatus.DONE.label) in message
    assert not Communication.objects.exists()


def test_only_the_assignee_or_a_lead_in_scope_completes(p, register, noon):
    task = task_for(register(p.agent), due_at=noon)

    with pytest.raises(ApplicationError) as out_of_scope:
        followup_complete(actor=p.agent2, task=task, outcome="reached", method="phone")
    with pytest.raises(ApplicationError) as not_assignee:
        followup_complete(actor=p.cs, task=task, outcome="reached", method="phone")
    followup_complete(actor=p.lead, task=task, outcome="reached", method="phone", content="主管代为回访")

    assert out_of_scope.value.status == 404
    assert not_assignee.value.status == 403
    task.refresh_from_db()
    assert task.status == FollowUpStatus.DONE and task.communication.recorded_by == p.lead


def test_owner_plans_an_extra_follow_up_others_cannot(p, register, noon):
    customer = register(p.agent)
    task = followup_create(actor=p.agent, customer=customer, due_at=noon + timedelta(days=1), title="带父母看房")
    assert (task.assignee, task.title, task.plan) == (p.agent, "带父母看房", "")
    with pytest.raises(ApplicationError) as refused:
        followup_create(actor=p.agent2, customer=customer, due_at=noon + timedelta(days=1))
    assert refused.value.status == 404
    with pytest.raises(ApplicationError) as past:
        followup_create(actor=p.agent, customer=customer, due_at=noon - timedelta(hours=1))
    assert past.value.code == "followup.due_in_past"


# --- pages --------------------------------------------------------------------------------------


def tab_count(html: str, tab: str) -> int:
    return int(re.search(rf'data-testid="count-{tab}">(\d+)<', html).group(1))


def test_my_follow_ups_page_has_tabs_with_counts(login, p, register, noon):
    customer = register(p.agent, phone="13812345678", name="张三")
    overdue = task_for(customer, due_at=noon - timedelta(hours=5))
    today = task_for(register(p.agent, name="李四"), due_at=noon + timedelta(hours=3))
    task_for(register(p.agent), due_at=noon + timedelta(days=2))
    task_for(register(p.agent2), due_at=noon - timedelta(hours=1))  # someone else's
    client = login(p.agent)

    page = client.get(reverse("customers:followup-list"), headers=EN)
    html = page.content.decode()

    assert [tab_count(html, tab) for tab in ("today", "overdue", "upcoming", "done")] == [1, 1, 1, 0]
    assert [row.pk for row in page.context["page_obj"]] == [today.pk]
    assert reverse("customers:followup-complete", args=[today.pk]) in html
    overdue_html = client.get(reverse("customers:followup-list"), {"tab": "overdue"}, headers=EN).content.decode()
    assert "张三" in overdue_html and "138****5678" in overdue_html and "13812345678" not in overdue_html
    assert 'data-testid="due-overdue"' in overdue_html and "table-danger" in overdue_html
    assert f'data-task="{overdue.pk}"' in overdue_html


def test_follow_up_list_query_count_does_not_grow(login, p, register, noon, django_assert_max_num_queries):
    client = login(p.agent)
    for _ in range(3):
        task_for(register(p.agent), due_at=noon + timedelta(hours=1))
    client.get(reverse("customers:followup-list"))
    with django_assert_max_num_queries(16) as few:
        client.get(reverse("customers:followup-list"))
    for _ in range(20):
        task_for(register(p.agent), due_at=noon + timedelta(hours=1))
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("customers:followup-list"))


def test_complete_page_refuses_without_outcome_then_records(login, p, register, noon):
    customer = register(p.agent)
    task = task_for(customer, due_at=noon)
    client = login(p.agent)
    url = reverse("customers:followup-complete", args=[task.pk])

    refused = client.post(url, {"outcome": "", "method": "phone", "content": "没接"}, headers=EN)
    done = client.post(url, {"outcome": "not_reached", "method": "phone", "content": "没接", "next": "/"})

    assert refused.status_code == 200 and 'data-testid="error-outcome"' in refused.content.decode()
    assert done.status_code == 302 and done["Location"] == "/"
    task.refresh_from_db()
    assert task.status == FollowUpStatus.DONE and task.outcome == "not_reached"
    again = client.get(url, headers=EN)
    assert 'data-testid="followup-closed"' in again.content.decode()


def test_complete_page_matrix(client, login, p, register, noon):
    task = task_for(register(p.agent), due_at=noon)
    url = reverse("customers:followup-complete", args=[task.pk])
    assert client.get(url).status_code == 302  # anonymous → login
    assert login(p.legal).get(url).status_code == 403  # view only
    assert login(p.agent2).get(url).status_code == 404  # another team
    assert login(p.cs).get(url).status_code == 403  # sees it, is not the assignee or a lead
    assert login(p.lead).get(url).status_code == 200
    assert login(p.agent).get(url).status_code == 200


def test_overdue_shows_on_the_leads_page_but_not_another_teams(login, p, register, noon):
    mine = task_for(register(p.agent, name="王五"), due_at=noon - timedelta(days=1))
    task_for(register(p.agent, name="赵六"), due_at=noon - timedelta(hours=2))
    task_for(register(p.agent, name="不算"), due_at=noon + timedelta(hours=2))  # not overdue yet
    other_team = task_for(register(p.agent2, name="孙七"), due_at=noon - timedelta(days=2))

    lead_page = login(p.lead).get(reverse("customers:followup-team"), headers=EN)
    manager_page = login(p.manager).get(reverse("customers:followup-team"), headers=EN)

    html = lead_page.content.decode()
    assert lead_page.context["agents"][0]["assignee__username"] == "agent"
    assert [row["count"] for row in lead_page.context["agents"]] == [2]
    assert f'data-task="{mine.pk}"' in html and "王五" in html and "不算" not in html
    assert f'data-task="{other_team.pk}"' not in html and "孙七" not in html
    assert {row["assignee__username"]: row["count"] for row in manager_page.context["agents"]} == {
        "agent": 2,
        "agent2": 1,
    }
    assert login(p.agent).get(reverse("customers:followup-team")).status_code == 403


def test_agents_home_shows_todays_and_overdue_follow_ups(login, p, register, noon):
    due_today = task_for(register(p.agent, name="今天客户"), due_at=noon + timedelta(hours=4))
    late = task_for(register(p.agent, name="逾期客户"), due_at=noon - timedelta(days=1))
    task_for(register(p.agent, name="明天客户"), due_at=noon + timedelta(days=1))
    task_for(register(p.agent2, name="别人的"), due_at=noon - timedelta(days=1))
    Visit.objects.create(
        customer=Customer.objects.get(name="今天客户"),
        branch=p.branch_a,
        arrived_at=noon,
        is_first_visit=True,
        assigned_to=p.agent,
        registered_by=p.agent,
    )

    response = login(p.agent).get(reverse("home"), headers=EN)
    html = response.content.decode()

    assert re.search(r'data-testid="stat-followups-today">1<', html)
    assert re.search(r'data-testid="stat-followups-overdue">1<', html)
    assert re.search(r'data-testid="stat-visits-today">1<', html)
    assert re.search(r'data-testid="stage-lead">3<', html)  # the fixture registers customers as leads
    assert [t.pk for t in response.context["followups_today"]] == [due_today.pk]
    assert [t.pk for t in response.context["followups_overdue"]] == [late.pk]
    assert "今天客户" in html and "逾期客户" in html and "别人的" not in html
    assert reverse("customers:followup-complete", args=[late.pk]) in html


def test_leads_home_lists_overdue_follow_ups_per_agent(login, p, register, noon):
    task_for(register(p.agent), due_at=noon - timedelta(days=1))
    task_for(register(p.agent), due_at=noon - timedelta(hours=1))
    task_for(register(p.agent2), due_at=noon - timedelta(days=1))

    html = login(p.lead).get(reverse("home"), headers=EN).content.decode()

    assert re.search(r'data-testid="overdue-agent">2<', html)
    assert 'data-testid="overdue-agent2"' not in html
    assert re.search(r'data-testid="stat-team-followups-overdue">2<', html)
