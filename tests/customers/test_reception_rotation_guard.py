"""The fairness of the reception rotation (R6.1.1, issue #9 defect 7): an agent acts only on their own turn
and their own visitors; skipping, reassigning and acting on someone else's visitor take
``customers.manage_rotation`` (team leads, branch managers), are audited and listed on the desk."""

from __future__ import annotations

import datetime as dt
import json
from importlib import import_module

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import translation

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.customers import selectors
from anju.customers.models import DutyRoster, RotationSkip, Visit
from anju.customers.services.reception import (
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
from anju.org.models import Role
from anju.org.services import auth as auth_services
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

GRANT_MIGRATION = "anju.customers.migrations.0007_manage_rotation_permission"


@pytest.fixture(autouse=True)
def _english(client):
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    with translation.override("en"):
        yield


@pytest.fixture
def duty(p):
    """Today's rotation of branch A: agent (up first), then agent2."""
    return roster_set(actor=p.manager, branch=p.branch_a, day=rotation_day(), agents=[p.agent, p.agent2])


@pytest.fixture
def arrive(p):
    """``arrive()`` registers a new walk-in at branch A's desk (as customer service) and returns the visit."""
    counter = iter(range(1, 10_000))

    def _arrive(actor=None):
        number = next(counter)
        return visit_register(
            actor=actor or p.cs, branch=p.branch_a, phone=f"1371111{number:04d}", name=f"访客{number}"
        )

    return _arrive


def refused(call, status: int = 403) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call()
    assert caught.value.status == status, caught.value
    return caught.value


def events(action: str) -> int:
    return AuditEvent.objects.filter(action=action).count()


def log_of(user, p) -> list:
    return selectors.rotation_log(p.branch_a, rotation_day(), viewer=user)


def desk(user, p) -> str:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    response = client.get(reverse("customers:reception-desk", args=[p.branch_a.pk]))
    assert response.status_code == 200
    return response.content.decode()


# --- the permission --------------------------------------------------------------------------


def test_team_leads_and_managers_run_the_rotation_and_nobody_else(p):
    holders = {
        name
        for name in ("agent", "agent2", "lead", "manager", "cs", "qa", "admin", "auditor")
        if getattr(p, name).has_perm("customers.manage_rotation")
    }
    assert holders == {"lead", "manager"}


def test_the_migration_grants_the_permission_to_existing_lead_and_manager_roles(p):
    permission = Permission.objects.get(content_type__app_label="customers", codename="manage_rotation")
    migration = import_module(GRANT_MIGRATION)
    migration.revoke(apps, None)
    assert not Role.objects.filter(permissions=permission).exists()
    # An installation that renamed its built-in roles still gets the grant: roles are found by code.
    Role.objects.filter(code="branch_manager").update(name="案场经理")
    migration.grant(apps, None)
    granted = set(Role.objects.filter(permissions=permission).values_list("code", flat=True))
    assert granted == {"team_lead", "branch_manager"}
    migration.grant(apps, None)  # running it again changes nothing
    assert Role.objects.filter(permissions=permission).count() == 2


# --- from the attacking side: an agent on a colleague's turn or visitor -----------------------


def test_agent_cannot_reassign_a_colleagues_waiting_visitor_to_himself(p, duty, arrive):
    visit = arrive()
    assert visit.assigned_to == p.agent
    error = refused(lambda: visit_assign(actor=p.agent2, visit=visit, agent=p.agent2, reason="我来接待吧"))
    assert error.code == "visit.reassign_not_allowed"
    visit.refresh_from_db()
    assert visit.assigned_to == p.agent and visit.customer.owner == p.agent
    assert events("customers.visit.assigned") == 0
    assert not p.agent2.notifications.exists()


@pytest.mark.parametrize("actor", ["agent", "cs"])
def test_nobody_without_the_permission_reassigns_an_assigned_visitor(p, duty, arrive, actor):
    visit = arrive()
    other = p.agent2 if actor == "agent" else p.lead
    error = refused(lambda: visit_assign(actor=getattr(p, actor), visit=visit, agent=other, reason="临时有事外出"))
    assert error.code == "visit.reassign_not_allowed"
    assert Visit.objects.get(pk=visit.pk).assigned_to == p.agent


@pytest.mark.parametrize("actor", ["agent2", "cs"])
def test_agent_or_desk_cannot_skip_a_colleagues_turn(p, duty, actor):
    error = refused(
        lambda: roster_skip(
            actor=getattr(p, actor), branch=p.branch_a, day=rotation_day(), agent=p.agent, reason="他在打电话"
        )
    )
    assert error.code == "roster.skip_not_allowed"
    assert DutyRoster.objects.get(agent=p.agent).turns_taken == 0
    assert not RotationSkip.objects.exists() and events("customers.roster.skipped") == 0


@pytest.mark.parametrize("actor", ["agent2", "cs"])
def test_agent_or_desk_cannot_mark_a_colleagues_visitor_as_left(p, duty, arrive, actor):
    visit = arrive()
    error = refused(lambda: visit_mark_left(actor=getattr(p, actor), visit=visit, reason="客户已经走了"))
    assert error.code == "visit.not_yours"
    assert Visit.objects.get(pk=visit.pk).status == "waiting"
    assert events("customers.visit.left") == 0


@pytest.mark.parametrize("actor", ["agent2", "cs"])
def test_agent_or_desk_cannot_receive_or_finish_a_colleagues_visitor(p, duty, arrive, actor):
    visit = arrive()
    error = refused(lambda: visit_start_reception(actor=getattr(p, actor), visit=visit))
    assert error.code == "visit.not_yours"
    assert Visit.objects.get(pk=visit.pk).status == "waiting"
    visit_start_reception(actor=p.agent, visit=visit)
    error = refused(lambda: visit_end_reception(actor=getattr(p, actor), visit=visit, presented="样板间"))
    assert error.code == "visit.not_yours"
    assert Visit.objects.get(pk=visit.pk).status == "in_reception"
    assert events("customers.visit.reception_ended") == 0


def test_the_refusal_reads_in_chinese(p, duty, arrive):
    visit = arrive()
    with translation.override("zh-hans"):
        error = refused(lambda: visit_mark_left(actor=p.agent2, visit=visit, reason="客户已经走了"))
        assert "其他置业顾问" in str(error.message)
        error = refused(
            lambda: roster_skip(actor=p.agent2, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason="在忙")
        )
        assert "只能让出自己的轮次" in str(error.message)


def test_agent_cannot_take_a_colleague_out_of_the_rotation_but_a_lead_can(p, duty):
    refused(
        lambda: roster_set_available(
            actor=p.agent2, branch=p.branch_a, day=rotation_day(), agent=p.agent, is_available=False
        )
    )
    assert DutyRoster.objects.get(agent=p.agent).is_available
    roster_set_available(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, is_available=False)
    assert not DutyRoster.objects.get(agent=p.agent).is_available
    assert [entry.kind for entry in log_of(p.manager, p)] == ["away"]


def test_agents_do_not_set_the_roster(p):
    refused(lambda: roster_set(actor=p.agent, branch=p.branch_a, day=rotation_day(), agents=[p.agent]))
    assert not DutyRoster.objects.exists()


# --- the first assignment of a visitor nobody was given ----------------------------------------


def test_desk_places_an_unassigned_visitor_by_the_rotation(p, arrive):
    visit = arrive()  # nobody on duty yet
    assert visit.assigned_to is None
    roster_set(actor=p.manager, branch=p.branch_a, day=rotation_day(), agents=[p.agent, p.agent2])
    error = refused(lambda: visit_assign(actor=p.cs, visit=visit, agent=p.agent2))
    assert error.code == "visit.not_next_in_rotation" and "李置业" in str(error.message)
    assert Visit.objects.get(pk=visit.pk).assigned_to is None
    visit_assign(actor=p.cs, visit=visit, agent=p.agent)
    visit.refresh_from_db()
    assert visit.assigned_to == p.agent and visit.by_rotation
    # The turn is used, so the rotation stays fair.
    assert DutyRoster.objects.get(agent=p.agent).turns_taken == 1
    assert arrive().assigned_to == p.agent2


def test_with_nobody_on_duty_an_agent_cannot_take_a_walk_in_for_himself(p, arrive):
    visit = arrive()
    error = refused(lambda: visit_assign(actor=p.agent, visit=visit, agent=p.agent))
    assert error.code == "visit.assign_self"
    assert Visit.objects.get(pk=visit.pk).assigned_to is None
    visit_assign(actor=p.cs, visit=visit, agent=p.agent)  # the desk gives it to him
    assert Visit.objects.get(pk=visit.pk).assigned_to == p.agent


def test_an_unassigned_visitor_who_left_is_closed_by_the_desk_that_registered_them(p, arrive):
    visit = arrive()
    error = refused(lambda: visit_mark_left(actor=p.agent, visit=visit, reason="客户已经走了"))
    assert error.code == "visit.not_yours" and "registered this visitor" in str(error.message)
    visit_mark_left(actor=p.cs, visit=visit, reason="客户已经走了")
    assert Visit.objects.get(pk=visit.pk).status == "left"


# --- the allowed side ------------------------------------------------------------------------


def test_agent_works_his_own_visitor_and_passes_his_own_turn(p, duty, arrive):
    first, second = arrive(), arrive()
    assert (first.assigned_to, second.assigned_to) == (p.agent, p.agent2)
    visit_start_reception(actor=p.agent, visit=first)
    visit_end_reception(actor=p.agent, visit=first, presented="三居室样板间")
    visit_mark_left(actor=p.agent2, visit=second, reason="客户临时有事")
    roster_skip(actor=p.agent, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason="要去带看房源")
    assert DutyRoster.objects.get(agent=p.agent).turns_taken == 2
    skip = RotationSkip.objects.get()
    assert skip.skipped_by == p.agent and skip.reason == "要去带看房源"
    # Acting on one's own visitor is no rotation matter; passing one's own turn is listed.
    entries = log_of(p.manager, p)
    assert [(entry.kind, entry.text) for entry in entries] == [("passed", "李置业 passed their own turn")]


@pytest.mark.parametrize("actor", ["lead", "manager"])
def test_lead_or_manager_reassigns_with_a_reason_and_it_is_audited_and_listed(p, duty, arrive, actor):
    visit = arrive()
    refused(lambda: visit_assign(actor=getattr(p, actor), visit=visit, agent=p.agent2, reason=" 。 "), 422)
    visit_assign(actor=getattr(p, actor), visit=visit, agent=p.agent2, reason="李置业在签约室")
    visit.refresh_from_db()
    assert visit.assigned_to == p.agent2 and not visit.by_rotation
    event = AuditEvent.objects.get(action="customers.visit.assigned")
    assert event.actor == getattr(p, actor) and event.reason == "李置业在签约室"
    assert event.before == {"assigned_to": p.agent.pk}
    assert event.after["assigned_to"] == p.agent2.pk and event.after["branch"] == p.branch_a.pk
    [entry] = log_of(p.manager, p)
    assert entry.kind == "reassigned" and entry.reason == "李置业在签约室"
    assert entry.text == f"{getattr(p, actor)} reassigned visitor {visit.customer.name} from 李置业 to {p.agent2}"


def test_lead_skips_receives_and_closes_for_others_and_every_act_is_listed(p, duty, arrive):
    roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason="李置业在接电话")
    received, gone = arrive(), arrive()  # both go to agent2 now, then agent
    assert received.assigned_to == p.agent2
    visit_start_reception(actor=p.lead, visit=received)
    visit_mark_left(actor=p.manager, visit=gone, reason="客户等不及先走了")
    assert Visit.objects.get(pk=received.pk).received_by == p.lead
    entries = log_of(p.manager, p)
    assert [entry.kind for entry in entries] == ["left", "received", "skipped"]  # newest first
    assert entries[2].text == "王主管 skipped 李置业's turn" and entries[2].reason == "李置业在接电话"
    assert entries[1].text == f"王主管 received {p.agent2}'s visitor {received.customer.name}"
    assert entries[0].text == f"{p.manager} marked {gone.assigned_to}'s visitor {gone.customer.name} as left"
    assert all(entry.at is not None for entry in entries)


# --- who sees the log ----------------------------------------------------------------------------


def test_agents_see_only_log_entries_about_themselves(p, duty, arrive):
    roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason="李置业在接电话")
    visit = arrive()
    visit_assign(actor=p.lead, visit=visit, agent=p.lead, reason="主管亲自接待")
    assert [entry.kind for entry in log_of(p.lead, p)] == ["reassigned", "skipped"]
    assert [entry.kind for entry in log_of(p.agent, p)] == ["skipped"]
    assert [entry.kind for entry in log_of(p.agent2, p)] == ["reassigned"]  # his visitor was taken
    assert log_of(p.cs, p) == []
    assert 'data-testid="rotation-log"' in desk(p.manager, p)
    assert 'data-testid="rotation-log"' not in desk(p.cs, p)
    page = desk(p.agent, p)
    assert "王主管 skipped 李置业&#x27;s turn" in page and "reassigned" not in page


def test_the_log_masks_visitors_outside_the_viewers_scope(p, duty, arrive):
    visit = arrive()  # agent's turn: agent registers and owns the customer
    visit_assign(actor=p.lead, visit=visit, agent=p.agent2, reason="李置业在签约室")
    name = visit.customer.name
    assert name in log_of(p.manager, p)[0].text
    # agent2 receives the visitor but does not own the customer: named as the desk names them.
    [entry] = log_of(p.agent2, p)
    assert name not in entry.text and f"{name[0]}*" in entry.text


def test_the_rotation_log_is_read_in_a_fixed_number_of_queries(p, duty, arrive, django_assert_max_num_queries):
    for number in range(6):
        roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason=f"第{number}次外出带看")
        visit = arrive()
        visit_assign(actor=p.manager, visit=visit, agent=p.lead, reason="主管亲自接待")
        visit_mark_left(actor=p.manager, visit=arrive(), reason="客户等不及先走了")
    with django_assert_max_num_queries(3):
        entries = log_of(p.manager, p)
    assert len(entries) == 18


def test_another_branchs_log_stays_there(p, duty):
    roster_skip(actor=p.lead, branch=p.branch_a, day=rotation_day(), agent=p.agent, reason="李置业在接电话")
    assert selectors.rotation_log(p.branch_b, rotation_day(), viewer=p.manager) == []
    yesterday = rotation_day() - dt.timedelta(days=1)
    assert selectors.rotation_log(p.branch_a, yesterday, viewer=p.manager) == []


# --- the desk page: buttons follow the rules --------------------------------------------------


def test_agent_sees_no_buttons_for_colleagues_turns_or_visitors(p, duty, arrive):
    own, colleagues = arrive(), arrive()
    page = desk(p.agent, p)
    assert page.count('data-testid="roster-skip-form"') == 1 and "Pass my turn" in page
    assert f'action="{reverse("customers:visit-left", args=[own.pk])}"' in page
    assert f'action="{reverse("customers:visit-left", args=[colleagues.pk])}"' not in page
    assert f'action="{reverse("customers:visit-assign", args=[colleagues.pk])}"' not in page
    assert f'action="{reverse("customers:visit-start", args=[colleagues.pk])}"' not in page
    lead_page = desk(p.lead, p)
    assert lead_page.count('data-testid="roster-skip-form"') == 2
    assert f'action="{reverse("customers:visit-assign", args=[colleagues.pk])}"' in lead_page
    assert f'action="{reverse("customers:visit-left", args=[colleagues.pk])}"' in lead_page


def test_the_desk_refuses_forged_posts_with_403(client, p, duty, arrive):
    visit = arrive()
    entry = DutyRoster.objects.get(agent=p.agent)
    client.force_login(p.agent2)
    posts = [
        (reverse("customers:visit-assign", args=[visit.pk]), {"agent": p.agent2.pk, "reason": "我来接待"}),
        (reverse("customers:visit-left", args=[visit.pk]), {"reason": "客户已经走了"}),
        (reverse("customers:visit-start", args=[visit.pk]), {}),
        (reverse("customers:roster-skip", args=[p.branch_a.pk, entry.pk]), {"reason": "他在打电话"}),
        (reverse("customers:roster-availability", args=[p.branch_a.pk, entry.pk]), {}),
    ]
    for url, data in posts:
        assert client.post(url, data).status_code == 403, url
    visit.refresh_from_db()
    assert visit.assigned_to == p.agent and visit.status == "waiting"
    entry.refresh_from_db()
    assert entry.turns_taken == 1 and entry.is_available  # the one turn the visitor used
    assert not AuditEvent.objects.filter(actor=p.agent2, action__startswith="customers.").exists()


# --- the API inherits the service's guard ------------------------------------------------------


@pytest.fixture
def api(p):
    """``api(persona, path, body)`` POSTs to the API with a bearer token of that persona."""

    def _post(name: str, path: str, body=None):
        _token, raw = auth_services.token_create(actor=getattr(p, name), name="tests")
        return Client().post(
            path, json.dumps(body or {}), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}"
        )

    return _post


def test_the_api_refuses_starting_or_ending_someone_elses_visitor(p, duty, arrive, api):
    visit = arrive()
    # Customer service sees the branch's visits but does not receive them.
    assert_error(api("cs", f"/api/v1/visits/{visit.pk}/start"), 403, "visit.not_yours")
    # The owner of the customer still sees the visit after a lead gave it to a colleague, but it is not his now.
    visit_assign(actor=p.lead, visit=visit, agent=p.agent2, reason="李置业在签约室")
    assert_error(api("agent", f"/api/v1/visits/{visit.pk}/start"), 403, "visit.not_yours")
    assert Visit.objects.get(pk=visit.pk).status == "waiting"
    assert api("agent2", f"/api/v1/visits/{visit.pk}/start").status_code == 200
    assert_error(api("agent", f"/api/v1/visits/{visit.pk}/end", {"presented": "样板间"}), 403, "visit.not_yours")
    assert_error(api("cs", f"/api/v1/visits/{visit.pk}/end", {"presented": "样板间"}), 403, "visit.not_yours")
    assert Visit.objects.get(pk=visit.pk).status == "in_reception"
    assert api("lead", f"/api/v1/visits/{visit.pk}/end", {"presented": "样板间"}).status_code == 200
    assert events("customers.visit.reception_ended") == 1
