"""/api/v1 for customers, needs, visits, communications and follow-ups: scope, masking, refusals."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from anju.core.models import AuditEvent
from anju.customers.models import Communication, Customer, FollowUpTask, NeedsRevision, Visit
from anju.customers.services.followups import followup_create
from anju.org.services import auth as auth_services
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

PHONES = {
    "agent": "13811110001",
    "agent2": "13822220002",
    "agent3": "13833330003",
    "lead": "13844440004",
}
# Whose customers each persona sees (own / team / branch / all).
SEEN_BY = {
    "agent": {"agent"},
    "agent2": {"agent2"},
    "agent3": {"agent3"},
    "lead": {"agent", "lead"},
    "manager": {"agent", "agent2", "lead"},
    "auditor": {"agent", "agent2", "agent3", "lead"},
}


@pytest.fixture
def api(p):
    """``api(persona, method, path, body=None, **params)`` → response, with a bearer token per persona."""
    headers: dict[str, dict] = {}

    def _call(name: str, method: str, path: str, body=None, **params):
        if name not in headers:
            _token, raw = auth_services.token_create(actor=getattr(p, name), name="tests")
            headers[name] = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        client = Client()
        if method == "get":
            return client.get(path, params, **headers[name])
        return getattr(client, method)(path, json.dumps(body or {}), content_type="application/json", **headers[name])

    return _call


@pytest.fixture
def files(p, register):
    """One customer per owner: agent (team A1), agent2 (team A2), agent3 (branch B), lead (team A1)."""
    return {owner: register(getattr(p, owner), phone=phone, name=f"{owner}的客户") for owner, phone in PHONES.items()}


def owners_of(items, files) -> set[str]:
    by_id = {customer.pk: owner for owner, customer in files.items()}
    return {by_id[row["id"]] for row in items}


# --- create, duplicate -----------------------------------------------------------------------


def test_agent_registers_a_customer_and_becomes_owner(p, api):
    response = api(
        "agent",
        "post",
        "/api/v1/customers",
        {
            "name": "张三",
            "phone": "138 1234 1234",
            "source": "walk_in",
            "consent_channel": "face_to_face",
            "tags": ["学区", "改善"],
            "budget_min": 200,
            "budget_max": 300,
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["phone"] == "138****1234"
    assert body["owner"] == {"id": p.agent.pk, "name": "李置业"}
    assert body["team"] == {"id": p.team_a1.pk, "name": "滨江一组"}
    assert body["branch"] == {"id": p.branch_a.pk, "name": "滨江案场"}
    assert body["tags"] == ["学区", "改善"]
    assert body["stage"] == "lead" and body["stage_label"]
    assert body["id_number"] == ""
    assert [consent["kind"] for consent in body["consents"]] == ["personal_info"]
    customer = Customer.objects.get(pk=body["id"])
    assert customer.owner == p.agent and customer.phone == "13812341234"
    assert AuditEvent.objects.filter(action="customers.customer.registered", actor=p.agent).count() == 1


def test_duplicate_phone_is_409_naming_the_owner_and_writes_nothing_but_its_audit(p, api, files):
    response = api(
        "agent2",
        "post",
        "/api/v1/customers",
        {"name": "冒名", "phone": "+86 138-1111-0001", "source": "phone", "consent_channel": "phone"},
    )
    error = assert_error(response, 409, "customer.duplicate")
    assert "李置业" in error["message"]
    assert "0001" not in error["message"]
    assert "phone" in error["fields"]
    assert Customer.objects.count() == len(files)
    assert not Customer.objects.filter(name="冒名").exists()
    # The answer naming the owner is itself audited (issue #9 defect 6); nothing else is written.
    assert AuditEvent.objects.filter(action__startswith="customers.customer.").count() == len(files) + 1
    assert AuditEvent.objects.get(action="customers.customer.collision_checked", actor=p.agent2).target_id == str(
        files["agent"].pk
    )


def test_create_refuses_bad_input_with_field_errors(api):
    error = assert_error(
        api(
            "agent",
            "post",
            "/api/v1/customers",
            {"name": "张三", "phone": "12345", "source": "walk_in", "consent_channel": "phone"},
        ),
        422,
        "customer.bad_phone",
    )
    assert "phone" in error["fields"]
    error = assert_error(
        api(
            "agent",
            "post",
            "/api/v1/customers",
            {"name": "张三", "phone": "13812341234", "source": "tv", "consent_channel": "phone"},
        ),
        422,
        "validation_error",
    )
    assert "source" in error["fields"]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("name", ["legal", "auditor", "qa"])
def test_view_only_roles_cannot_register(api, name):
    body = {"name": "张三", "phone": "13812341234", "source": "walk_in", "consent_channel": "phone"}
    assert_error(api(name, "post", "/api/v1/customers", body), 403, "permission_denied")
    assert not Customer.objects.exists()


# --- list, search, scope ---------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SEEN_BY))
def test_customer_list_is_scoped(api, files, name):
    response = api(name, "get", "/api/v1/customers", page_size=200)
    assert response.status_code == 200
    body = response.json()
    assert owners_of(body["items"], files) == SEEN_BY[name]
    assert body["count"] == len(SEEN_BY[name])


@pytest.mark.parametrize("name", sorted(SEEN_BY))
def test_customer_detail_outside_scope_is_404(api, files, name):
    for owner, customer in files.items():
        response = api(name, "get", f"/api/v1/customers/{customer.pk}")
        if owner in SEEN_BY[name]:
            assert response.status_code == 200
            assert response.json()["name"] == customer.name
        else:
            assert_error(response, 404, "not_found")


def test_search_by_full_phone_last_four_and_name(api, files):
    def found(name, search):
        return owners_of(api(name, "get", "/api/v1/customers", search=search).json()["items"], files)

    assert found("manager", "138 2222 0002") == {"agent2"}
    assert found("manager", "+8613822220002") == {"agent2"}
    assert found("manager", "0002") == {"agent2"}
    assert found("manager", "lead的") == {"lead"}
    # Searching never widens the scope: agent3's number is on file but outside the branch.
    assert found("manager", "13833330003") == set()
    assert found("agent", "13822220002") == set()


def test_filters_and_sort(p, api, files, register):
    register(p.agent, phone="13855550005", name="阿明", source="referral", tags=["学区"])

    def names(**params):
        return [row["name"] for row in api("manager", "get", "/api/v1/customers", **params).json()["items"]]

    assert names(source="referral") == ["阿明"]
    assert names(tag="学区") == ["阿明"]
    assert set(names(owner=p.agent.pk)) == {"agent的客户", "阿明"}
    assert set(names(team=p.team_a2.pk)) == {"agent2的客户"}
    assert names(stage="signed") == []
    assert names(sort="name") == sorted(names(sort="name"))
    assert_error(api("manager", "get", "/api/v1/customers", sort="phone"), 422, "validation_error")
    assert_error(api("manager", "get", "/api/v1/customers", stage="rich"), 422, "validation_error")


@pytest.mark.parametrize(("params", "field"), [({"page_size": 201}, "page_size"), ({"page": 0}, "page")])
def test_bad_paging_is_422(api, files, params, field):
    error = assert_error(api("admin", "get", "/api/v1/customers", **params), 422, "validation_error")
    assert field in error["fields"]


def test_pages_walk_the_list(api, files):
    first = api("admin", "get", "/api/v1/customers", page=1, page_size=3).json()
    second = api("admin", "get", "/api/v1/customers", page=2, page_size=3).json()
    assert first["count"] == second["count"] == 4
    assert (first["page"], first["page_size"]) == (1, 3)
    ids = [row["id"] for row in first["items"] + second["items"]]
    assert sorted(ids) == sorted(customer.pk for customer in files.values())


def test_roles_without_view_permission_get_403(p, api, files):
    from anju.testing import UserFactory

    nobody = UserFactory(username="nobody", branch=p.branch_a, team=p.team_a1)
    _token, raw = auth_services.token_create(actor=nobody, name="t")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
    for path in ("/api/v1/customers", f"/api/v1/customers/{files['agent'].pk}", "/api/v1/followups"):
        assert_error(Client().get(path, **headers), 403, "permission_denied")


# --- update, stage -----------------------------------------------------------------------------


def test_patch_changes_only_the_fields_sent_and_is_audited(p, api, files):
    customer = files["agent"]
    response = api("agent", "patch", f"/api/v1/customers/{customer.pk}", {"value_tier": "A", "tags": ["VIP"]})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["value_tier"] == "A" and body["tags"] == ["VIP"]
    assert body["name"] == "agent的客户" and body["source"] == "walk_in"
    customer.refresh_from_db()
    assert customer.value_tier == "A" and customer.name == "agent的客户"
    event = AuditEvent.objects.get(action="customers.customer.updated")
    assert event.actor == p.agent and event.source == "api"
    assert event.before == {"value_tier": "C", "tags": []}
    assert event.after == {"value_tier": "A", "tags": ["VIP"]}


def test_patch_with_a_new_phone_is_checked_for_collisions(api, files):
    customer = files["agent"]
    response = api("lead", "patch", f"/api/v1/customers/{customer.pk}", {"phone": "13844440004"})
    assert_error(response, 409, "customer.duplicate")
    customer.refresh_from_db()
    assert customer.phone == PHONES["agent"]
    response = api("lead", "patch", f"/api/v1/customers/{customer.pk}", {"phone": "13866660006"})
    assert response.json()["phone"] == "138****0006"


def test_patch_refused_outside_scope_or_without_permission(api, files):
    customer = files["agent"]
    assert_error(api("agent2", "patch", f"/api/v1/customers/{customer.pk}", {"name": "改名"}), 404, "not_found")
    assert_error(api("legal", "patch", f"/api/v1/customers/{customer.pk}", {"name": "改名"}), 403, "permission_denied")
    customer.refresh_from_db()
    assert customer.name == "agent的客户"
    assert not AuditEvent.objects.filter(action="customers.customer.updated").exists()


def test_stage_change_follows_the_state_machine(api, files):
    path = f"/api/v1/customers/{files['agent'].pk}/stage"
    assert_error(api("agent", "post", path, {"stage": "lost"}), 422, "customer.lost_reason_required")
    assert_error(api("agent", "post", path, {"stage": "handed_over"}), 409, "customer.bad_stage_change")
    response = api("agent", "post", path, {"stage": "lost", "lost_reason": "已在别处购房"})
    assert response.status_code == 200
    assert response.json()["stage"] == "lost" and response.json()["lost_reason"] == "已在别处购房"
    assert AuditEvent.objects.filter(action="customers.customer.stage_changed").count() == 1


# --- reveal ------------------------------------------------------------------------------------


def test_reveal_refused_for_legal(api, files):
    response = api(
        "legal", "post", f"/api/v1/customers/{files['agent'].pk}/reveal", {"field": "phone", "reason": "合同"}
    )
    assert_error(response, 403, "customer.reveal_denied")
    assert "13811110001" not in response.content.decode()
    assert not AuditEvent.objects.filter(action="customers.customer.revealed").exists()


def test_reveal_without_reason_is_422(api, files):
    path = f"/api/v1/customers/{files['agent'].pk}/reveal"
    for body in ({"field": "phone"}, {"field": "phone", "reason": " "}):
        error = assert_error(api("agent", "post", path, body), 422, "customer.reveal_reason_required")
        assert "reason" in error["fields"]
    assert not AuditEvent.objects.filter(action="customers.customer.revealed").exists()


def test_reveal_with_reason_returns_the_number_and_is_audited(p, api, files):
    path = f"/api/v1/customers/{files['agent'].pk}/reveal"
    response = api("agent", "post", path, {"field": "phone", "reason": "回拨客户确认到访时间"})
    assert response.status_code == 200
    assert response.json() == {"field": "phone", "value": "13811110001"}
    event = AuditEvent.objects.get(action="customers.customer.revealed")
    assert event.actor == p.agent and event.reason == "回拨客户确认到访时间"
    assert event.target_id == str(files["agent"].pk)
    assert "13811110001" not in json.dumps([event.before, event.after, event.reason])


def test_reveal_outside_scope_is_404_and_rate_limited(api, files, settings):
    assert_error(
        api(
            "agent2", "post", f"/api/v1/customers/{files['agent'].pk}/reveal", {"field": "phone", "reason": "核对号码"}
        ),
        404,
        "not_found",
    )
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 1
    path = f"/api/v1/customers/{files['lead'].pk}/reveal"
    assert api("lead", "post", path, {"field": "phone", "reason": "核对号码"}).status_code == 200
    assert_error(
        api("lead", "post", path, {"field": "phone", "reason": "再次核对"}), 429, "customer.reveal_rate_limited"
    )


# --- needs, timeline ---------------------------------------------------------------------------


def test_needs_put_then_get_keeps_revisions(p, api, files):
    path = f"/api/v1/customers/{files['agent'].pk}/needs"
    empty = api("agent", "get", path).json()
    assert empty["updated_at"] is None and empty["revisions"] == []
    response = api("agent", "put", path, {"usage": "education", "rooms_min": 3, "rooms_max": 4, "needs_school": True})
    assert response.status_code == 200, response.content
    api("agent", "put", path, {"usage": "education", "rooms_min": 3, "rooms_max": 5, "needs_school": True})
    body = api("agent", "get", path).json()
    assert body["rooms_max"] == 5 and body["needs_school"] is True
    assert body["updated_by"] == {"id": p.agent.pk, "name": "李置业"}
    assert len(body["revisions"]) == 2 and body["revisions"][0]["after"] == {"rooms_max": 5}
    assert NeedsRevision.objects.count() == 2
    error = assert_error(api("agent", "put", path, {"rooms_min": 5, "rooms_max": 2}), 422, "needs.bad_range")
    assert "rooms_min" in error["fields"]
    assert_error(api("agent2", "get", path), 404, "not_found")
    assert_error(api("legal", "put", path, {"rooms_min": 1}), 403, "permission_denied")


def test_timeline_lists_what_happened(api, files):
    customer = files["agent"]
    api("agent", "post", f"/api/v1/customers/{customer.pk}/communications", {"channel": "phone", "summary": "介绍户型"})
    response = api("agent", "get", f"/api/v1/customers/{customer.pk}/timeline")
    assert response.status_code == 200
    kinds = [entry["kind"] for entry in response.json()]
    assert {"communication", "ownership", "consent"} <= set(kinds)
    entry = next(entry for entry in response.json() if entry["kind"] == "communication")
    assert "介绍户型" in [detail["value"] for detail in entry["details"]]
    assert_error(api("agent2", "get", f"/api/v1/customers/{customer.pk}/timeline"), 404, "not_found")


# --- visits ------------------------------------------------------------------------------------


def test_visit_goes_to_the_owner_and_runs_the_reception_clock(p, api, files):
    response = api("cs", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": "138 1111 0001", "party_size": 3})
    assert response.status_code == 201, response.content
    visit = response.json()
    assert visit["assigned_to"] == {"id": p.agent.pk, "name": "李置业"}
    # The desk (branch scope) sees its branch's customer; the answer holds what the desk needs (issue #9).
    assert (visit["customer_id"], visit["customer_name"]) == (files["agent"].pk, "agent的客户")
    assert visit["status"] == "waiting" and visit["party_size"] == 3 and visit["returning_customer"] is False
    assert api("cs", "get", f"/api/v1/visits/{visit['id']}").json()["customer"]["phone"] == "138****0001"

    started = api("agent", "post", f"/api/v1/visits/{visit['id']}/start")
    assert started.status_code == 200, started.content
    assert started.json()["status"] == "in_reception"
    assert started.json()["received_by"] == {"id": p.agent.pk, "name": "李置业"}
    assert started.json()["waiting_seconds"] is not None
    ended = api("agent", "post", f"/api/v1/visits/{visit['id']}/end", {"presented": "样板间", "questions": "学区"})
    assert ended.status_code == 200
    assert ended.json()["status"] == "done" and ended.json()["presented"] == "样板间"
    assert ended.json()["reception_seconds"] is not None

    today = timezone.localdate().isoformat()
    listed = api("agent", "get", "/api/v1/visits", branch=p.branch_a.pk, date=today, status="done").json()
    assert [row["id"] for row in listed["items"]] == [visit["id"]]
    assert api("agent", "get", "/api/v1/visits", date="2001-01-01").json()["count"] == 0
    assert api("auditor", "get", f"/api/v1/visits/{visit['id']}").status_code == 200
    assert AuditEvent.objects.filter(action__startswith="customers.visit.").count() == 3


def test_visits_are_refused_outside_scope_and_role(p, api, files):
    visit = api("cs", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": "13811110001"}).json()
    assert_error(api("agent2", "get", f"/api/v1/visits/{visit['id']}"), 404, "not_found")
    assert_error(api("agent2", "post", f"/api/v1/visits/{visit['id']}/start"), 404, "not_found")
    assert_error(
        api("agent3", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": "13899990009", "name": "路人"}),
        404,
        "not_found",
    )
    assert_error(api("legal", "get", "/api/v1/visits"), 403, "permission_denied")
    assert_error(
        api("auditor", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": "13811110001"}),
        403,
        "permission_denied",
    )
    assert api("agent2", "get", "/api/v1/visits").json()["count"] == 0
    assert_error(api("agent", "post", f"/api/v1/visits/{visit['id']}/end"), 409, "visit.bad_transition")
    assert Visit.objects.get(pk=visit["id"]).status == "waiting"
    assert Visit.objects.count() == 1


# --- communications ----------------------------------------------------------------------------


def test_agent_records_and_lists_communications(p, api, files):
    path = f"/api/v1/customers/{files['agent'].pk}/communications"
    response = api(
        "agent",
        "post",
        path,
        {
            "channel": "online",
            "summary": "微信发送户型图",
            "info_core": "总价与首付",
            "materials": "户型图",
            "customer_confirmed": True,
            "next_step": "周末到访",
        },
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["channel"] == "online" and body["recorded_by"] == {"id": p.agent.pk, "name": "李置业"}
    assert body["customer_confirmed"] is True
    listed = api("agent", "get", path).json()
    assert listed["count"] == 1 and listed["items"][0]["summary"] == "微信发送户型图"
    assert AuditEvent.objects.filter(action="customers.communication.recorded").count() == 1
    assert_error(api("agent", "post", path, {"channel": "phone", "summary": " "}), 422, "summary_required")


def test_communications_refused_outside_scope_and_role(api, files):
    path = f"/api/v1/customers/{files['agent'].pk}/communications"
    assert_error(api("legal", "post", path, {"channel": "phone", "summary": "x"}), 403, "permission_denied")
    assert_error(api("agent2", "post", path, {"channel": "phone", "summary": "x"}), 404, "not_found")
    assert_error(api("agent2", "get", path), 404, "not_found")
    assert_error(api("agent", "post", path, {"channel": "pigeon", "summary": "x"}), 422, "validation_error")
    assert not Communication.objects.exists()


# --- follow-ups --------------------------------------------------------------------------------


@pytest.fixture
def tasks(p, files):
    soon = followup_create(actor=p.agent, customer=files["agent"], due_at=timezone.now() + dt.timedelta(minutes=5))
    later = followup_create(actor=p.agent, customer=files["agent"], due_at=timezone.now() + dt.timedelta(days=3))
    late = followup_create(actor=p.agent, customer=files["agent"], due_at=timezone.now() + dt.timedelta(days=1))
    FollowUpTask.objects.filter(pk=late.pk).update(due_at=timezone.now() - dt.timedelta(days=2))
    lead_own = followup_create(actor=p.lead, customer=files["lead"], due_at=timezone.now() + dt.timedelta(days=3))
    return {"soon": soon, "later": later, "late": late, "lead_own": lead_own}


def test_followups_list_the_callers_own_by_due(api, tasks):
    def ids(name, **params):
        return [row["id"] for row in api(name, "get", "/api/v1/followups", **params).json()["items"]]

    assert ids("agent") == [tasks["late"].pk, tasks["soon"].pk, tasks["later"].pk]
    assert ids("agent", due="overdue") == [tasks["late"].pk]
    assert ids("agent", due="upcoming") == [tasks["later"].pk]
    if timezone.localtime(tasks["soon"].due_at).date() == timezone.localdate():  # not run across midnight
        assert ids("agent", due="today") == [tasks["soon"].pk]
    assert ids("lead") == [tasks["lead_own"].pk]
    # A lead may look at an agent of their team; an agent cannot look at anyone else's.
    assert len(ids("lead", assignee=tasks["soon"].assignee_id)) == 3
    assert ids("agent", assignee=tasks["lead_own"].assignee_id) == []
    assert ids("agent2") == [] and ids("agent2", everyone=True) == []
    row = api("agent", "get", "/api/v1/followups", due="overdue").json()["items"][0]
    assert row["is_overdue"] is True and row["customer"]["phone"] == "138****0001"
    assert_error(api("agent", "get", "/api/v1/followups", due="someday"), 422, "validation_error")


def test_completing_a_followup_needs_an_outcome_and_extends_protection(p, api, tasks):
    task = tasks["soon"]
    path = f"/api/v1/followups/{task.pk}/complete"
    assert_error(api("agent", "post", path, {"method": "phone"}), 422, "validation_error")
    response = api("agent", "post", path, {"outcome": "appointment", "method": "phone", "content": "约周六看房"})
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "done" and response.json()["outcome"] == "appointment"
    task.refresh_from_db()
    assert task.communication is not None and task.completed_at is not None
    assert AuditEvent.objects.filter(action="customers.followup.completed", actor=p.agent).count() == 1
    assert_error(api("agent", "post", path, {"outcome": "reached", "method": "phone"}), 409, "followup.bad_transition")


def test_completing_someone_elses_followup_is_refused(api, tasks):
    path = f"/api/v1/followups/{tasks['soon'].pk}/complete"
    body = {"outcome": "reached", "method": "phone"}
    assert_error(api("agent2", "post", path, body), 404, "not_found")
    assert_error(api("cs", "post", path, body), 403, "followup.not_assignee")
    assert_error(api("legal", "post", path, body), 403, "permission_denied")
    assert FollowUpTask.objects.get(pk=tasks["soon"].pk).status == "open"
    # The agent's team lead may close it for them.
    assert api("lead", "post", path, body).status_code == 200


# --- masking -----------------------------------------------------------------------------------

EVERYONE = ["agent", "agent2", "agent3", "lead", "manager", "cs", "legal", "finance", "qa", "admin", "auditor"]


@pytest.mark.parametrize("name", EVERYONE)
def test_full_phone_digits_never_appear(p, api, files, tasks, name):
    api("cs", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": PHONES["agent"]})
    api(
        "agent",
        "post",
        f"/api/v1/customers/{files['agent'].pk}/communications",
        {"channel": "phone", "summary": "回访"},
    )
    api("agent", "patch", f"/api/v1/customers/{files['agent'].pk}", {"phone": "13877770007"})
    numbers = [*PHONES.values(), "13877770007"]
    responses = [
        api(name, "get", "/api/v1/customers", page_size=200),
        api(name, "get", "/api/v1/customers", search=PHONES["agent2"]),
        api(name, "get", "/api/v1/visits", page_size=200),
        api(name, "get", "/api/v1/followups", everyone=True, page_size=200),
    ]
    for customer in files.values():
        for suffix in ("", "/timeline", "/communications", "/needs"):
            responses.append(api(name, "get", f"/api/v1/customers/{customer.pk}{suffix}"))
    assert any(response.status_code == 200 for response in responses)
    for response in responses:
        content = response.content.decode()
        for number in numbers:
            assert number not in content, (name, response.request["PATH_INFO"])


def test_schema_exposes_only_masked_contact_fields(client):
    spec = client.get("/api/v1/openapi.json").json()
    for schema in ("CustomerOut", "CustomerDetailOut", "CustomerRef"):
        properties = spec["components"]["schemas"][schema]["properties"]
        assert "phone" in properties
        assert not {"phone_masked", "phone_index", "phone_last4", "id_number_index"} & set(properties)
    paths = spec["paths"]
    assert {"get", "post"} <= set(paths["/api/v1/customers"])
    assert {"get", "patch"} <= set(paths["/api/v1/customers/{customer_id}"])
    assert "post" in paths["/api/v1/followups/{followup_id}/complete"]


# --- performance -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["agent", "manager", "admin"])
def test_customer_list_query_count_does_not_grow_with_rows(p, api, register, django_assert_max_num_queries, name):
    for index in range(5):
        register(p.agent, phone=f"1370000{index:04d}", tags=["学区", f"标签{index}"])
    api(name, "get", "/api/v1/customers")  # warm up: the token's last_used_at is written at most once a minute
    with CaptureQueriesContext(connection) as few_rows:
        response = api(name, "get", "/api/v1/customers", page_size=200)
    assert response.json()["count"] == 5
    for index in range(5, 30):
        register(p.agent, phone=f"1370000{index:04d}", tags=["学区", f"标签{index}"])
    with django_assert_max_num_queries(len(few_rows)):
        response = api(name, "get", "/api/v1/customers", page_size=200)
    assert response.json()["count"] == 30
    assert len(response.json()["items"]) == 30


def test_followup_and_visit_list_queries_are_bounded(p, api, files, tasks, django_assert_max_num_queries):
    api("cs", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": PHONES["agent"]})
    api("agent", "get", "/api/v1/followups")
    api("manager", "get", "/api/v1/visits")
    # Counted at once: the next request resets the connection's query log.
    with CaptureQueriesContext(connection) as few:
        api("agent", "get", "/api/v1/followups", everyone=True)
    few_tasks = len(few)
    with CaptureQueriesContext(connection) as few:
        api("manager", "get", "/api/v1/visits")
    few_visits = len(few)
    for _index in range(10):
        followup_create(actor=p.agent, customer=files["agent"], due_at=timezone.now() + dt.timedelta(days=2))
    for owner in ("agent2", "lead"):
        api("cs", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": PHONES[owner]})
    with django_assert_max_num_queries(few_tasks):
        assert api("agent", "get", "/api/v1/followups", everyone=True).json()["count"] == 13
    with django_assert_max_num_queries(few_visits):
        assert api("manager", "get", "/api/v1/visits").json()["count"] == 3
