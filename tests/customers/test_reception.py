"""Reception: visit registration, the rotation (轮接), the reception clock and the desk page (R2.1, R6.1.1)."""

from __future__ import annotations

import datetime as dt
import re
from functools import partial
from unittest import mock

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.customers.models import (
    BranchCustomerSettings,
    Customer,
    DutyRoster,
    FollowUpTask,
    OwnershipChange,
    RotationSkip,
    Visit,
)
from anju.customers.services.ownership import pool_release
from anju.customers.services.reception import (
    next_agent,
    roster_set,
    roster_set_available,
    roster_skip,
    rotation_day,
    visit_assign,
    visit_end_reception,
    visit_mark_left,
    visit_register,
    visit_start_reception,
)
from tests.helpers import raised, require_postgresql, run_at_once

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english(client):
    """Assertions read the English source strings (pages and service messages alike)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def on_duty(p):
    """``on_duty(agent, agent2, …)`` sets today's rotation of branch A through the service (as the manager)."""

    def _on_duty(*agents, branch=None):
        return roster_set(actor=p.manager, branch=branch or p.branch_a, day=rotation_day(), agents=list(agents))

    return _on_duty


@pytest.fixture
def arrive(p):
    """``arrive(phone, name=…, actor=p.cs, **extra)`` registers a visitor at branch A's desk."""
    counter = iter(range(1, 10_000))

    def _arrive(phone=None, *, name=None, actor=None, **extra):
        number = next(counter)
        return visit_register(
            actor=actor or p.cs,
            branch=extra.pop("branch", p.branch_a),
            phone=phone or f"1370000{number:04d}",
            name=name if name is not None else f"访客{number}",
            party_size=extra.pop("party_size", 1),
            **extra,
        )

    return _arrive


def turns(branch, day=None) -> dict[str, int]:
    return dict(
        DutyRoster.objects.filter(branch=branch, day=day or rotation_day()).values_list(
            "agent__username", "turns_taken"
        )
    )


def at(moment: dt.datetime):
    """Freeze ``timezone.now()`` (services read the clock through it)."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


def desk_url(branch) -> str:
    return reverse("customers:reception-desk", args=[branch.pk])


# --- the rotation ----------------------------------------------------------------------------


def test_rotation_goes_round_in_order_and_stays_fair(p, on_duty, arrive):
    on_duty(p.agent, p.agent2, p.lead)
    assigned = [arrive().assigned_to.username for _ in range(7)]
    assert assigned == ["agent", "agent2", "lead", "agent", "agent2", "lead", "agent"]
    assert turns(p.branch_a) == {"agent": 3, "agent2": 2, "lead": 2}
    assert next_agent(p.branch_a, rotation_day()) == p.agent2
    assert all(visit.by_rotation for visit in Visit.objects.all())


def test_next_agent_has_the_fewest_turns_and_ties_go_by_order(p, on_duty):
    on_duty(p.agent, p.agent2, p.lead)
    DutyRoster.objects.filter(agent=p.agent).update(turns_taken=2)
    DutyRoster.objects.filter(agent=p.agent2).update(turns_taken=1)
    DutyRoster.objects.filter(agent=p.lead).update(turns_taken=1)
    assert next_agent(p.branch_a, rotation_day()) == p.agent2


def test_unavailable_agent_is_passed_over_until_back(p, on_duty, arrive):
    on_duty(p.agent, p.agent2)
    roster_set_available(actor=p.agent, branch=p.branch_a, day=rotation_day(), agent=p.agent, is_available=False)
    assert arrive().assigned_to == p.agent2
    assert arrive().assigned_to == p.agent2
    roster_set_available(actor=p.manager, branch=p.branch_a, day=rotation_day(), agent=p.agent, is_available=True)
    assert arrive().assigned_to == p.agent
    assert AuditEvent.objects.filter(action="customers.roster.availability_changed").count() == 2


def test_an_agent_cannot_take_a_colleague_out_of_the_rotation(p, on_duty):
    on_duty(p.agent, p.agent2)
    with pytest.raises(ApplicationError) as refused:
        roster_set_available(actor=p.agent, branch=p.branch_a, day=rotation_day(), agent=p.agent2, is_available=False)
    assert refused.value.status == 403
    assert DutyRoster.objects.get(agent=p.agent2).is_available


def test_skip_with_reason_moves_the_turn_and_is_recorded(p, on_duty, arrive):
    on_duty(p.agent, p.agent2)
    assert next_agent(p.branch_a, rotation_day()) == p.agent
    roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason="在带客户看样板间")
    assert next_agent(p.branch_a, rotation_day()) == p.agent2
    skip = RotationSkip.objects.get()
    assert skip.roster.agent == p.agent and skip.reason == "在带客户看样板间" and skip.skipped_by == p.lead
    event = AuditEvent.objects.get(action="customers.roster.skipped")
    assert event.actor == p.lead and event.reason == "在带客户看样板间" and event.after["agent"] == p.agent.pk
    assert event.after["branch"] == p.branch_a.pk
    assert arrive().assigned_to == p.agent2
    assert turns(p.branch_a) == {"agent": 1, "agent2": 1}


@pytest.mark.parametrize("reason", ["  ", "\u200b\u3000", "忙", "。。。", "1234"])
def test_skip_without_a_real_reason_is_refused(p, on_duty, reason):
    """The shared reason rule (issue #9 defect 5): blanks, invisible characters, one letter or digits are no reason."""
    on_duty(p.agent, p.agent2)
    with pytest.raises(ApplicationError) as refused:
        roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason=reason)
    assert refused.value.code == "roster.skip_reason_required"
    assert turns(p.branch_a) == {"agent": 0, "agent2": 0}
    assert not RotationSkip.objects.exists()
    roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason=" 在忙\u200b ")
    assert RotationSkip.objects.get().reason == "在忙"


def test_skipping_an_agent_who_is_not_on_duty_is_refused(p, on_duty):
    on_duty(p.agent)
    with pytest.raises(ApplicationError) as refused:
        roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent2, reason="不在岗")
    assert refused.value.code == "roster.not_on_duty"


def test_roster_keeps_turns_of_agents_who_stay_and_is_audited(p, on_duty, arrive):
    on_duty(p.agent, p.agent2)
    arrive()
    arrive()
    arrive()
    on_duty(p.agent2, p.lead)
    rows = list(DutyRoster.objects.filter(branch=p.branch_a).order_by("position"))
    assert [(row.agent, row.position, row.turns_taken) for row in rows] == [(p.agent2, 1, 1), (p.lead, 2, 0)]
    assert next_agent(p.branch_a, rotation_day()) == p.lead
    event = AuditEvent.objects.filter(action="customers.roster.set").latest("seq")
    assert [entry["agent"] for entry in event.after["agents"]] == [p.agent2.pk, p.lead.pk]


@pytest.mark.parametrize("actor", ["agent", "cs"])
def test_only_leads_and_managers_set_the_roster(p, actor):
    with pytest.raises(ApplicationError) as refused:
        roster_set(actor=getattr(p, actor), branch=p.branch_a, day=rotation_day(), agents=[p.agent])
    assert refused.value.status == 403
    assert not DutyRoster.objects.exists()


def test_roster_takes_only_active_sales_staff_of_the_branch(p):
    for outsider in (p.agent3, p.legal):
        with pytest.raises(ApplicationError) as refused:
            roster_set(actor=p.manager, branch=p.branch_a, day=rotation_day(), agents=[p.agent, outsider])
        assert refused.value.code == "roster.agent_not_eligible"
    assert not DutyRoster.objects.exists()


def test_a_manager_of_another_branch_cannot_set_its_roster(p):
    with pytest.raises(ApplicationError) as refused:
        roster_set(actor=p.manager, branch=p.branch_b, day=rotation_day(), agents=[p.agent3])
    assert refused.value.status == 404


# --- registering visitors --------------------------------------------------------------------


def test_returning_customer_goes_to_their_owner_without_using_a_turn(p, on_duty, arrive, register):
    customer = register(p.agent2, phone="13812345678", name="老客户")
    on_duty(p.agent, p.agent2)
    first = arrive("138 1234 5678", name="")
    assert first.customer == customer and first.assigned_to == p.agent2 and not first.by_rotation
    visit_start_reception(actor=p.agent2, visit=first)
    visit_end_reception(actor=p.agent2, visit=first, presented="三期样板间")
    again = arrive("13812345678", name="")
    assert again.assigned_to == p.agent2 and not again.by_rotation and not again.is_first_visit
    assert turns(p.branch_a) == {"agent": 0, "agent2": 0}
    assert next_agent(p.branch_a, rotation_day()) == p.agent
    assert Customer.objects.get(pk=customer.pk).name == "老客户"  # an empty name keeps the one on file
    page = desk_page(p.manager, p.branch_a)
    assert "returning — assigned to owner 赵置业" in page


def test_a_known_customer_on_their_first_visit_goes_to_the_owner_and_becomes_visited(p, on_duty, arrive, register):
    customer = register(p.agent2, phone="13812345678")
    on_duty(p.agent)
    visit = arrive("13812345678")
    assert visit.assigned_to == p.agent2 and visit.is_first_visit and not visit.by_rotation
    assert Customer.objects.get(pk=customer.pk).stage == "visited"


def test_unknown_phone_creates_the_customer_owned_by_the_rotation_agent(p, on_duty, arrive):
    on_duty(p.agent, p.agent2)
    visit = arrive("13955556666", name="新客户", party_size=3)
    customer = visit.customer
    assert customer.name == "新客户" and customer.phone == "13955556666"
    assert customer.owner == p.agent and customer.team == p.team_a1 and customer.branch == p.branch_a
    assert customer.stage == "visited"
    assert visit.is_first_visit and visit.by_rotation and visit.assigned_to == p.agent and visit.party_size == 3
    assert visit.registered_by == p.cs and visit.status == "waiting"
    assert OwnershipChange.objects.get(customer=customer).to_owner == p.agent
    registered = AuditEvent.objects.get(action="customers.visit.registered")
    assert registered.actor == p.cs and registered.after["assigned_agent"] == "李置业"
    assert registered.after["route"] == "registered"
    assert AuditEvent.objects.get(action="customers.customer.registered").actor == p.agent
    assert p.agent.notifications.filter(url=desk_url(p.branch_a)).exists()


def test_unknown_phone_needs_a_name_and_a_valid_number(p, on_duty, arrive):
    on_duty(p.agent)
    with pytest.raises(ApplicationError) as refused:
        arrive("13955556666", name=" ")
    assert refused.value.code == "visit.name_required"
    with pytest.raises(ApplicationError) as refused:
        arrive("12345", name="张三")
    assert refused.value.code == "customer.bad_phone"
    assert not Visit.objects.exists() and not Customer.objects.exists()
    assert turns(p.branch_a) == {"agent": 0}


def test_pool_customer_is_claimed_by_the_rotation_agent(p, on_duty, arrive, register):
    customer = register(p.agent2, phone="13812345678")
    pool_release(actor=p.agent2, customer=customer, reason="客户长期未回应")
    on_duty(p.agent)
    visit = arrive("13812345678")
    customer.refresh_from_db()
    assert visit.assigned_to == p.agent and visit.by_rotation
    assert customer.owner == p.agent and not customer.in_pool and customer.acquired_via == "claimed"
    assert turns(p.branch_a) == {"agent": 1}


def test_nobody_on_duty_leaves_the_visitor_unassigned_until_assigned(p, arrive):
    visit = arrive("13955556666", name="散客")
    customer = visit.customer
    assert visit.assigned_to is None and not visit.by_rotation
    assert customer.owner is None and not customer.in_pool and customer.stage == "lead"
    page = desk_page(p.cs, p.branch_a)
    assert 'data-testid="visit-assign-form"' in page and "unassigned" in page
    with pytest.raises(ApplicationError) as refused:
        visit_start_reception(actor=p.manager, visit=visit)
    assert refused.value.code == "visit.unassigned"
    visit_assign(actor=p.cs, visit=visit, agent=p.agent2)
    visit.refresh_from_db()
    customer.refresh_from_db()
    assert visit.assigned_to == p.agent2 and not visit.by_rotation
    assert customer.owner == p.agent2 and customer.team == p.team_a2 and customer.stage == "visited"
    assert OwnershipChange.objects.get(customer=customer).changed_by == p.cs
    assert AuditEvent.objects.filter(action="customers.visit.assigned", actor=p.cs).exists()


def test_reassigning_needs_a_reason(p, on_duty, arrive):
    on_duty(p.agent)
    visit = arrive()
    with pytest.raises(ApplicationError) as refused:
        visit_assign(actor=p.manager, visit=visit, agent=p.agent2)
    assert refused.value.code == "visit.assign_reason_required"
    visit_assign(actor=p.manager, visit=visit, agent=p.agent2, reason="李置业临时外出")
    visit.refresh_from_db()
    assert visit.assigned_to == p.agent2
    # The customer stays with the first responder: reassigning the visit is not a transfer.
    assert visit.customer.owner == p.agent


def test_desk_user_outside_the_branch_cannot_register(p, arrive):
    with pytest.raises(ApplicationError) as refused:
        arrive(actor=p.agent3)
    assert refused.value.status == 404
    with pytest.raises(ApplicationError) as refused:
        arrive(actor=p.legal)
    assert refused.value.status == 403
    assert not Visit.objects.exists()


# --- the reception clock and transitions -----------------------------------------------------


def test_reception_clock_measures_waiting_and_duration(p, on_duty, arrive):
    on_duty(p.agent)
    arrived = timezone.now() - dt.timedelta(hours=1)
    visit = arrive(arrived_at=arrived)
    with at(arrived + dt.timedelta(minutes=7, seconds=30)):
        visit_start_reception(actor=p.agent, visit=visit)
    with at(arrived + dt.timedelta(minutes=52, seconds=30)):
        visit_end_reception(actor=p.agent, visit=visit, presented="两房户型", questions="首付比例？")
    visit.refresh_from_db()
    assert visit.waiting_seconds == 450
    assert visit.reception_seconds == 2700
    assert visit.status == "done" and visit.received_by == p.agent
    assert visit.presented == "两房户型" and visit.questions == "首付比例？"
    started = AuditEvent.objects.get(action="customers.visit.reception_started")
    assert started.after["waiting_seconds"] == 450
    assert AuditEvent.objects.get(action="customers.visit.reception_ended").after["reception_seconds"] == 2700


def test_wrong_transitions_are_refused_naming_both_states(p, on_duty, arrive):
    on_duty(p.agent)
    waiting = arrive()
    with pytest.raises(ApplicationError) as refused:
        visit_end_reception(actor=p.agent, visit=waiting)
    assert refused.value.code == "visit.bad_transition"
    assert "Waiting" in str(refused.value.message) and "Finished" in str(refused.value.message)
    visit_start_reception(actor=p.agent, visit=waiting)
    with pytest.raises(ApplicationError) as refused:
        visit_start_reception(actor=p.agent, visit=waiting)
    assert "In reception" in str(refused.value.message)
    with pytest.raises(ApplicationError) as refused:
        visit_mark_left(actor=p.agent, visit=waiting, reason="客户走了")
    assert "In reception" in str(refused.value.message) and "Left without reception" in str(refused.value.message)
    visit_end_reception(actor=p.agent, visit=waiting)
    with pytest.raises(ApplicationError) as refused:
        visit_start_reception(actor=p.agent, visit=waiting)
    assert refused.value.code == "visit.bad_transition"
    assert Visit.objects.get(pk=waiting.pk).status == "done"


def test_visitor_who_left_is_recorded_with_a_reason(p, on_duty, arrive):
    on_duty(p.agent)
    visit = arrive()
    with pytest.raises(ApplicationError) as refused:
        visit_mark_left(actor=p.agent, visit=visit, reason="")
    assert refused.value.code == "visit.left_reason_required"
    visit_mark_left(actor=p.agent, visit=visit, reason="等不及先走了")
    assert Visit.objects.get(pk=visit.pk).status == "left"
    assert AuditEvent.objects.get(action="customers.visit.left").reason == "等不及先走了"
    with pytest.raises(ApplicationError) as refused:
        visit_start_reception(actor=p.agent, visit=visit)
    assert refused.value.code == "visit.bad_transition"


def test_only_the_assigned_agent_or_a_lead_receives_the_visitor(p, on_duty, arrive):
    on_duty(p.agent)
    visit = arrive()
    with pytest.raises(ApplicationError) as refused:
        visit_start_reception(actor=p.agent2, visit=visit)
    assert refused.value.code == "visit.not_yours"
    visit_start_reception(actor=p.lead, visit=visit)
    assert Visit.objects.get(pk=visit.pk).received_by == p.lead


def test_finishing_a_first_visit_plans_the_follow_ups(p, on_duty, arrive, django_capture_on_commit_callbacks):
    on_duty(p.agent)
    visit = arrive()
    visit_start_reception(actor=p.agent, visit=visit)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        visit_end_reception(actor=p.agent, visit=visit)
    assert len(callbacks) == 1
    assert FollowUpTask.objects.filter(customer=visit.customer, assignee=p.agent).exists()


# --- the desk page ---------------------------------------------------------------------------


def desk_page(user, branch) -> str:
    from django.test import Client

    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    response = client.get(desk_url(branch))
    assert response.status_code == 200
    return response.content.decode()


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("anonymous", 302), ("legal", 403), ("agent3", 404), ("manager", 200), ("agent", 200), ("qa", 200)],
)
def test_desk_permission_matrix(client, p, persona, expected):
    if persona != "anonymous":
        client.force_login(getattr(p, persona))
    response = client.get(desk_url(p.branch_a))
    assert response.status_code == expected
    if expected == 302:
        assert "login" in response["Location"]


def test_view_only_desk_has_no_register_form(p):
    assert 'data-testid="visit-register-form"' not in desk_page(p.qa, p.branch_a)
    assert 'data-testid="visit-register-form"' in desk_page(p.agent, p.branch_a)


def test_waiting_longer_than_the_sla_is_flagged_red(p, on_duty, arrive):
    on_duty(p.agent)
    arrive(name="等了很久", arrived_at=timezone.now() - dt.timedelta(minutes=20))
    arrive(name="刚到", arrived_at=timezone.now() - dt.timedelta(minutes=5))
    page = desk_page(p.manager, p.branch_a)
    overdue = re.findall(r'data-testid="overdue-visitor".*?</li>', page, flags=re.S)
    assert len(overdue) == 1 and "等了很久" in overdue[0] and "waiting 20 min" in overdue[0]
    assert page.count('data-testid="waiting-visitor"') == 1
    assert 'hx-trigger="every 30s' in page


def test_the_sla_comes_from_the_branch_settings(p, on_duty, arrive):
    BranchCustomerSettings.objects.create(branch=p.branch_a, reception_sla_minutes=30)
    on_duty(p.agent)
    arrive(arrived_at=timezone.now() - dt.timedelta(minutes=20))
    assert 'data-testid="overdue-visitor"' not in desk_page(p.manager, p.branch_a)


def test_desk_shows_the_queue_lists_and_masked_phones_only(p, on_duty, arrive):
    on_duty(p.agent, p.agent2)
    arrive("13911112222", name="王先生")
    done = arrive("13933334444", name="刘女士")
    visit_start_reception(actor=p.agent2, visit=done)
    visit_end_reception(actor=p.agent2, visit=done)
    in_reception = arrive("13955556666", name="陈先生")
    visit_start_reception(actor=p.agent, visit=in_reception)
    page = desk_page(p.cs, p.branch_a)
    assert "139****2222" in page and "13911112222" not in page and "13933334444" not in page
    rows = page.split('data-testid="roster-row"')[1:]
    assert [re.search(r'data-agent="(\w+)"', row).group(1) for row in rows if "next-agent" in row] == ["agent2"]
    assert 'data-testid="in-reception-visitor"' in page and 'data-testid="finished-visitor"' in page
    assert page.count('data-testid="waiting-visitor"') == 1


def test_desk_partial_for_htmx_polling(client, p, on_duty, arrive):
    on_duty(p.agent)
    arrive()
    client.force_login(p.cs)
    response = client.get(desk_url(p.branch_a), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.templates[0].name == "customers/reception/_board.html"
    assert b"<html" not in response.content


def test_desk_query_count_does_not_grow_with_visitors(client, p, on_duty, arrive, django_assert_max_num_queries):
    on_duty(p.agent, p.agent2, p.lead)
    # The rotation log has an entry from the start (the manager receives an agent's visitor).
    visit_start_reception(actor=p.manager, visit=arrive())
    client.force_login(p.manager)
    with CaptureQueriesContext(connection) as few:
        assert client.get(desk_url(p.branch_a)).status_code == 200
    for index in range(12):
        visit = arrive()
        if index % 3 == 0:
            visit_start_reception(actor=p.manager, visit=visit)
        if index % 6 == 0:
            visit_end_reception(actor=p.manager, visit=visit)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(desk_url(p.branch_a))
    assert response.status_code == 200


def test_reception_home_sends_staff_to_their_own_desk(client, p):
    client.force_login(p.agent)
    response = client.get(reverse("customers:reception-home"))
    assert response.status_code == 302 and response["Location"] == desk_url(p.branch_a)


def test_reception_home_lets_region_staff_choose_a_desk(client, p):
    client.force_login(p.qa)
    response = client.get(reverse("customers:reception-home"))
    assert response.status_code == 200
    assert [branch.pk for branch in response.context["branches"]] == [p.branch_a.pk, p.branch_b.pk]


# --- the desk's actions ----------------------------------------------------------------------


def test_register_start_and_finish_through_the_desk(client, p, on_duty):
    on_duty(p.agent)
    client.force_login(p.cs)
    response = client.post(
        reverse("customers:visit-register", args=[p.branch_a.pk]),
        {"phone": "13955556666", "name": "门口客户", "party_size": 2},
    )
    assert response.status_code == 302 and response["Location"] == desk_url(p.branch_a)
    visit = Visit.objects.get()
    assert visit.assigned_to == p.agent and visit.party_size == 2 and visit.registered_by == p.cs
    client.force_login(p.agent)
    assert client.post(reverse("customers:visit-start", args=[visit.pk])).status_code == 302
    assert client.get(reverse("customers:visit-end", args=[visit.pk])).status_code == 200
    response = client.post(reverse("customers:visit-end", args=[visit.pk]), {"presented": "样板间", "questions": ""})
    assert response.status_code == 302
    visit.refresh_from_db()
    assert visit.status == "done" and visit.presented == "样板间"


def test_register_form_shows_field_errors(client, p):
    client.force_login(p.cs)
    response = client.post(reverse("customers:visit-register", args=[p.branch_a.pk]), {"phone": "123", "party_size": 1})
    assert response.status_code == 200
    assert "11 digits" in response.content.decode()
    assert not Visit.objects.exists()


def test_desk_actions_outside_the_branch_are_404(client, p, on_duty, arrive):
    on_duty(p.agent)
    visit = arrive()
    client.force_login(p.agent3)
    assert client.post(reverse("customers:visit-start", args=[visit.pk])).status_code == 404
    assert client.post(reverse("customers:visit-left", args=[visit.pk]), {"reason": "走了"}).status_code == 404
    entry = DutyRoster.objects.get()
    url = reverse("customers:roster-skip", args=[p.branch_a.pk, entry.pk])
    assert client.post(url, {"reason": "忙"}).status_code == 404
    assert Visit.objects.get(pk=visit.pk).status == "waiting"


def test_refused_action_is_shown_as_a_message(client, p, on_duty, arrive):
    on_duty(p.agent)
    visit = arrive()
    client.force_login(p.agent2)
    response = client.post(reverse("customers:visit-start", args=[visit.pk]))
    assert response.status_code == 403
    assert "This visitor is assigned to another agent" in response.content.decode()
    assert 'data-testid="desk-board"' in response.content.decode()
    assert Visit.objects.get(pk=visit.pk).status == "waiting"


def test_skip_and_left_through_the_desk(client, p, on_duty, arrive):
    on_duty(p.agent, p.agent2)
    visit = arrive()
    client.force_login(p.lead)
    entry = DutyRoster.objects.get(agent=p.agent2)
    client.post(reverse("customers:roster-skip", args=[p.branch_a.pk, entry.pk]), {"reason": "接电话"})
    assert RotationSkip.objects.get().reason == "接电话"
    client.force_login(p.agent)
    client.post(reverse("customers:visit-left", args=[visit.pk]), {"reason": ""})
    assert Visit.objects.get(pk=visit.pk).status == "waiting"
    client.post(reverse("customers:visit-left", args=[visit.pk]), {"reason": "临时有事"})
    assert Visit.objects.get(pk=visit.pk).status == "left"


def test_roster_page_sets_the_order_for_leads_only(client, p):
    url = reverse("customers:roster-edit", args=[p.branch_a.pk])
    client.force_login(p.agent)
    assert client.get(url).status_code == 403
    client.force_login(p.manager)
    assert client.get(url).status_code == 200
    day = rotation_day().isoformat()
    response = client.post(url, {"day": day, f"position_{p.agent2.pk}": "1", f"position_{p.agent.pk}": "2"})
    assert response.status_code == 302
    order = list(DutyRoster.objects.filter(branch=p.branch_a).order_by("position").values_list("agent", flat=True))
    assert order == [p.agent2.pk, p.agent.pk]
    client.force_login(p.agent3)
    assert client.get(url).status_code == 404


# --- two desks at once (PostgreSQL) ----------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_desks_registering_at_once_give_two_different_turns():
    require_postgresql()
    from anju.testing import make_personas

    p = make_personas()
    roster_set(actor=p.manager, branch=p.branch_a, day=rotation_day(), agents=[p.agent, p.agent2])

    def desk(clerk, phone: str) -> None:
        visit_register(actor=clerk, branch=p.branch_a, phone=phone, name="并发访客")

    errors = raised(run_at_once(cs=partial(desk, p.cs, "13700000001"), manager=partial(desk, p.manager, "13700000002")))
    assert errors == []
    assert sorted(Visit.objects.values_list("assigned_to__username", flat=True)) == ["agent", "agent2"]
    assert turns(p.branch_a) == {"agent": 1, "agent2": 1}
