"""Phone lookups are not an oracle (issue #9 defect 6, R6.1.1, R5.2.2).

From the attacking side: an agent who types other people's numbers into the registration (API or
form) gets the collision answer naming the owner — the standard's 撞单 rule needs it — but every
answer is audited and, past ``ANJU_COLLISION_LIMIT_PER_HOUR`` per user, refused with 429 naming
nobody. A visit registered at the desk answers only what the desk needs: another team's customer
comes back with a masked name, no id and no owner.
"""

from __future__ import annotations

import datetime as dt
import json
from unittest import mock

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent, Notification
from anju.customers.disclosure import mask_name
from anju.customers.models import Customer, Visit
from anju.customers.services.customers import (
    COLLISION_CHECKED,
    COLLISION_LIMITED,
    Collision,
    customer_register,
    desk_error,
)
from anju.customers.services.reception import roster_set, rotation_day
from anju.org.services import auth as auth_services
from anju.testing import make_personas
from tests.helpers import as_user, assert_error, require_postgresql, run_at_once

pytestmark = pytest.mark.django_db

OWNER_NAME = "李置业"  # p.agent, who owns every number the attacker tries
LIMIT = 20


@pytest.fixture(autouse=True)
def _limit(settings):
    settings.ANJU_COLLISION_LIMIT_PER_HOUR = LIMIT


@pytest.fixture
def api(p):
    """``api(persona, method, path, body=None)`` → response, with a bearer token per persona."""
    headers: dict[str, dict] = {}

    def _call(name: str, method: str, path: str, body=None):
        if name not in headers:
            _token, raw = auth_services.token_create(actor=getattr(p, name), name="tests")
            headers[name] = {"HTTP_AUTHORIZATION": f"Bearer {raw}", "HTTP_ACCEPT_LANGUAGE": "en"}
        if method == "get":
            return Client().get(path, **headers[name])
        return getattr(Client(), method)(path, json.dumps(body or {}), content_type="application/json", **headers[name])

    return _call


@pytest.fixture
def owned(p, register):
    """25 numbers on file, all followed by p.agent (team A1)."""
    return [register(p.agent, phone=f"1381234{n:04d}", name=f"王{n}号") for n in range(25)]


def new_customer(phone: str, name: str = "冒名") -> dict:
    return {"name": name, "phone": phone, "source": "phone", "consent_channel": "phone"}


def collisions(actor, action: str = COLLISION_CHECKED):
    return AuditEvent.objects.filter(actor=actor, action=action).order_by("seq")


def at(moment: dt.datetime):
    """Freeze ``timezone.now()`` (services and the audit read the clock through it)."""
    return mock.patch("django.utils.timezone.now", return_value=moment)


# --- the collision answer: audited and limited -----------------------------------------------------


def test_each_collision_answer_is_audited_and_past_the_limit_names_nobody(p, api, owned):
    customers_before = Customer.objects.count()

    answers = [api("agent2", "post", "/api/v1/customers", new_customer(c.phone)) for c in owned]

    for response in answers[:LIMIT]:
        error = assert_error(response, 409, "customer.duplicate")
        assert OWNER_NAME in error["message"] and "phone" in error["fields"]
    for response in answers[LIMIT:]:
        error = assert_error(response, 429, "customer.collision_rate_limited")
        assert OWNER_NAME not in json.dumps(response.json(), ensure_ascii=False)
        assert error["fields"] == {}
    checked = list(collisions(p.agent2))
    assert [event.target_id for event in checked] == [str(c.pk) for c in owned[:LIMIT]]
    assert all(event.target_type == "customers.customer" for event in checked)
    assert checked[0].after == {"matched_on": "phone", "phone": "138****0000", "code": "customer.duplicate"}
    assert checked[0].source == "api"
    limited = list(collisions(p.agent2, COLLISION_LIMITED))
    assert [event.target_id for event in limited] == [str(c.pk) for c in owned[LIMIT:]]
    assert "13812340000" not in json.dumps([e.after for e in checked + limited])
    assert Customer.objects.count() == customers_before


def test_another_user_is_not_affected_by_one_users_limit(p, api, owned):
    for customer in owned[: LIMIT + 1]:
        api("agent2", "post", "/api/v1/customers", new_customer(customer.phone))
    assert_error(
        api("agent2", "post", "/api/v1/customers", new_customer(owned[0].phone)), 429, "customer.collision_rate_limited"
    )

    error = assert_error(
        api("agent3", "post", "/api/v1/customers", new_customer(owned[0].phone)), 409, "customer.duplicate"
    )
    assert OWNER_NAME in error["message"]
    assert collisions(p.agent3).count() == 1


def test_free_numbers_and_other_refusals_do_not_use_the_allowance(p, api, owned, settings):
    settings.ANJU_COLLISION_LIMIT_PER_HOUR = 1
    assert api("agent2", "post", "/api/v1/customers", new_customer("13900000001", "新客")).status_code == 201
    assert_error(api("agent2", "post", "/api/v1/customers", new_customer("12345")), 422, "customer.bad_phone")
    assert collisions(p.agent2).count() == 0

    error = assert_error(
        api("agent2", "post", "/api/v1/customers", new_customer(owned[0].phone)), 409, "customer.duplicate"
    )
    assert OWNER_NAME in error["message"]


def test_the_limit_window_resets_after_an_hour(p, register, owned, settings):
    settings.ANJU_COLLISION_LIMIT_PER_HOUR = 3
    start = timezone.now()

    def attempt(moment, customer):
        with at(moment), pytest.raises(ApplicationError) as refused:
            register(p.agent2, phone=customer.phone)
        return refused.value

    assert [attempt(start, c).code for c in owned[:4]] == ["customer.duplicate"] * 3 + [
        "customer.collision_rate_limited"
    ]
    assert attempt(start + dt.timedelta(minutes=59), owned[4]).status == 429
    answer = attempt(start + dt.timedelta(minutes=61), owned[5])
    assert answer.code == "customer.duplicate" and OWNER_NAME in str(answer.message)


def test_a_pool_collision_is_audited_and_limited_too(p, register, settings):
    from anju.customers.services.ownership import pool_release

    settings.ANJU_COLLISION_LIMIT_PER_HOUR = 1
    pooled = register(p.agent, phone="13700001111")
    pool_release(actor=p.manager, customer=pooled, reason="长期未跟进")
    with pytest.raises(ApplicationError) as refused:
        register(p.agent2, phone=pooled.phone)
    assert refused.value.code == "customer.in_pool" and p.branch_a.name in str(refused.value.message)
    assert collisions(p.agent2).get().after["code"] == "customer.in_pool"
    with pytest.raises(ApplicationError) as refused:
        register(p.agent2, phone=pooled.phone)
    assert refused.value.status == 429 and p.branch_a.name not in str(refused.value.message)


def test_changing_a_phone_to_a_number_on_file_is_audited_and_limited(p, api, owned, register, settings):
    settings.ANJU_COLLISION_LIMIT_PER_HOUR = 1
    mine = register(p.agent2, phone="13677778888", name="王五")
    path = f"/api/v1/customers/{mine.pk}"

    error = assert_error(api("agent2", "patch", path, {"phone": owned[0].phone}), 409, "customer.duplicate")
    assert OWNER_NAME in error["message"]
    error = assert_error(
        api("agent2", "patch", path, {"phone": owned[1].phone}), 429, "customer.collision_rate_limited"
    )
    assert OWNER_NAME not in error["message"]
    assert [event.target_id for event in collisions(p.agent2)] == [str(owned[0].pk)]
    mine.refresh_from_db()
    assert mine.phone == "13677778888"


def test_the_openapi_documents_the_429(client):
    paths = client.get("/api/v1/openapi.json").json()["paths"]
    assert "429" in paths["/api/v1/customers"]["post"]["responses"]
    assert "429" in paths["/api/v1/customers/{customer_id}"]["patch"]["responses"]


# --- the web form ---------------------------------------------------------------------------------

FORM = {
    "name": "冒名",
    "gender": "unknown",
    "source": "walk_in",
    "value_tier": "C",
    "consent_channel": "face_to_face",
    "privacy_consent": "on",
}


def test_the_registration_form_names_the_owner_once_audited_then_refuses_in_chinese(client, p, owned, settings):
    settings.ANJU_COLLISION_LIMIT_PER_HOUR = 1
    as_user(client, p.agent2)
    url = reverse("customers:customer-register")

    first = client.post(url, {**FORM, "phone": owned[0].phone}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert OWNER_NAME in first[first.index('data-testid="error-phone"') :][:200]
    assert collisions(p.agent2).get().after["matched_on"] == "phone"

    second = client.post(url, {**FORM, "phone": owned[1].phone}, HTTP_ACCEPT_LANGUAGE="zh-hans").content.decode()
    assert OWNER_NAME not in second
    assert "请稍后再试" in second[second.index('data-testid="form-errors"') :][:400]
    assert collisions(p.agent2, COLLISION_LIMITED).count() == 1
    assert not Customer.objects.filter(name="冒名").exists()


# --- the audit event survives the refusal -------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_collision_audit_commits_although_the_registration_is_refused():
    """No test transaction around it: what is in the table afterwards was committed."""
    p = make_personas()
    taken = customer_register(
        actor=p.agent, name="王小明", phone="13812345678", source="walk_in", consent_channel="face_to_face"
    )
    with pytest.raises(ApplicationError):
        customer_register(
            actor=p.agent2, name="冒名", phone="13812345678", source="walk_in", consent_channel="face_to_face"
        )
    assert not connection.in_atomic_block
    event = AuditEvent.objects.get(action=COLLISION_CHECKED)
    assert (event.actor, event.target_id) == (p.agent2, str(taken.pk))
    assert Customer.objects.count() == 1


# --- the desk: only what it needs -----------------------------------------------------------------


@pytest.fixture
def on_duty(p):
    roster_set(actor=p.manager, branch=p.branch_a, day=rotation_day(), agents=[p.agent2])


@pytest.fixture
def known(p, register):
    return register(p.agent, phone="13811112222", name="王小明")


def test_a_visit_with_another_teams_customer_answers_no_id_name_or_owner(p, api, known, on_duty):
    response = api("agent2", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": known.phone})

    assert response.status_code == 201, response.content
    visit = response.json()
    assert visit["customer_id"] is None and visit["customer_name"] == "王*"
    assert "王小明" not in response.content.decode()
    assert not {"customer", "owner", "is_first_visit", "by_rotation"} & set(visit)
    assert visit["status"] == "waiting" and visit["arrived_at"] and visit["returning_customer"] is False
    # The desk still learns who receives the visitor — the owner is told internally.
    assert visit["assigned_to"] == {"id": p.agent.pk, "name": OWNER_NAME}
    assert Notification.objects.filter(user=p.agent).count() == 1
    assert Visit.objects.get(pk=visit["id"]).customer == known
    # GET keeps its scope rule: someone else's customer's visit is not found.
    assert_error(api("agent2", "get", f"/api/v1/visits/{visit['id']}"), 404, "not_found")


def test_desk_staff_whose_scope_holds_the_customer_see_them_in_full(p, api, known, on_duty):
    first = api("cs", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": known.phone}).json()
    assert (first["customer_id"], first["customer_name"]) == (known.pk, "王小明")
    assert first["returning_customer"] is False

    again = api("cs", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": known.phone}).json()
    assert again["returning_customer"] is True and again["assigned_to"]["id"] == p.agent.pk


def test_a_new_walk_in_is_named_to_the_desk_that_registered_them(p, api, on_duty):
    response = api(
        "agent2", "post", "/api/v1/visits", {"branch": p.branch_a.pk, "phone": "13900009999", "name": "刘女士"}
    )
    visit = response.json()
    customer = Customer.objects.get(name="刘女士")
    assert customer.owner == p.agent2  # first responder by rotation, so inside the desk user's own scope
    assert (visit["customer_id"], visit["customer_name"]) == (customer.pk, "刘女士")


def test_the_desk_page_masks_another_teams_visitor(client, p, known, on_duty):
    as_user(client, p.agent2)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    url = reverse("customers:visit-register", args=[p.branch_a.pk])

    page = client.post(url, {"phone": known.phone, "name": "", "party_size": 1}, follow=True).content.decode()

    assert Visit.objects.filter(customer=known).count() == 1
    assert "王小明" not in page and "王* registered" in page
    assert "assigned to owner" not in page
    assert f"assigned to {OWNER_NAME}" in page


def test_the_desk_page_shows_its_own_customers_in_full(client, p, known, on_duty):
    as_user(client, p.cs)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    url = reverse("customers:visit-register", args=[p.branch_a.pk])

    page = client.post(url, {"phone": known.phone, "name": "", "party_size": 1}, follow=True).content.decode()

    assert f"王小明 registered (returning — assigned to owner {OWNER_NAME})" in page


def test_a_collision_at_the_desk_names_nobody():
    """Only a registration of the same number at the same moment reaches the desk; it is told to retry."""
    customer = Customer(pk=1, name="王小明", owner_id=7)
    for error in (Collision(customer), ApplicationError("customer.collision_rate_limited", "…", status=429)):
        answer = desk_error(error)
        assert (answer.code, answer.status) == ("visit.retry", 409)
        assert "王" not in str(answer.message)
    other = ApplicationError("visit.name_required", "Enter the visitor's name.")
    assert desk_error(other) is other


@pytest.mark.parametrize(("name", "masked"), [("王小明", "王*"), ("欧阳娜娜", "欧*"), (" Li Lei ", "L*"), ("", "")])
def test_mask_name_keeps_the_first_character_only(name, masked):
    assert mask_name(name) == masked


# --- two requests at once (PostgreSQL) ------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_cannot_both_take_the_last_answer(settings):
    require_postgresql()
    settings.ANJU_COLLISION_LIMIT_PER_HOUR = 1
    p = make_personas()
    for phone in ("13812340001", "13812340002"):
        customer_register(actor=p.agent, name="王某", phone=phone, source="walk_in", consent_channel="face_to_face")

    def attempt(phone):
        try:
            customer_register(actor=p.agent2, name="冒名", phone=phone, source="walk_in", consent_channel="phone")
        except ApplicationError as exc:
            return exc.code
        return "registered"

    outcomes = run_at_once(timeout=30, one=lambda: attempt("13812340001"), two=lambda: attempt("13812340002"))

    assert sorted(outcomes.values()) == ["customer.collision_rate_limited", "customer.duplicate"], outcomes
    assert collisions(p.agent2).count() == 1
