"""The customer file pages: registration, detail with timeline, edit and per-customer actions."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from anju.core.models import AuditEvent, RevealLog
from anju.customers.choices import ConsentKind
from anju.customers.models import (
    Communication,
    Consent,
    Customer,
    CustomerNeeds,
    FollowUpTask,
    NeedsRevision,
    OwnershipChange,
    Visit,
)
from anju.testing import UserFactory
from tests.helpers import as_user

pytestmark = pytest.mark.django_db

PHONE = "13812341234"
ID_NUMBER = "11010519491231002X"


@pytest.fixture
def customer(p, register):
    """Agent's customer (team A1, branch A) with a phone and an ID number on file."""
    return register(p.agent, phone=PHONE, name="张三", id_number=ID_NUMBER, id_number_consent=True)


@pytest.fixture
def roleless(p):
    return UserFactory(username="roleless", branch=p.branch_a, team=p.team_a1)


@pytest.fixture
def teammate(p):
    """A second agent in team A1: a transfer target the team lead may choose."""
    return UserFactory(
        username="agent1b", display_name="韩置业", roles=["sales_agent"], branch=p.branch_a, team=p.team_a1
    )


def page_url(name: str, customer: Customer) -> str:
    if name == "customer-register":
        return reverse("customers:customer-register")
    if name == "consent-withdraw":
        consent = customer.consents.get(kind=ConsentKind.PERSONAL_INFO)
        return reverse("customers:consent-withdraw", args=[consent.pk])
    return reverse(f"customers:{name}", args=[customer.pk])


def body(response) -> str:
    return response.content.decode()


# --- the permission matrix ----------------------------------------------------------------------

PAGES = [
    "customer-register",
    "customer-detail",
    "customer-edit",
    "customer-stage",
    "customer-transfer",
    "customer-release",
    "customer-needs",
    "consent-record",
    "consent-withdraw",
    "customer-id-number",
]
# Who lacks the page's permission (403), and who holds it but cannot see the agent's customer (404).
WRONG_ROLE = {name: "legal" for name in PAGES} | {"customer-detail": "roleless", "customer-transfer": "agent"}
OUT_OF_SCOPE = {name: "agent2" for name in PAGES if name != "customer-register"} | {"customer-transfer": "other_lead"}
ALLOWED = {name: "agent" for name in PAGES} | {"customer-transfer": "lead"}


def persona(p, request, name):
    if name == "roleless":
        return request.getfixturevalue("roleless")
    if name == "other_lead":
        # The lead of team A2 (team scope) does not see team A1's customers.
        lead = UserFactory(username="lead2", roles=["team_lead"], branch=p.branch_a, team=p.team_a2)
        p.team_a2.lead = lead
        p.team_a2.save()
        return lead
    return getattr(p, name)


@pytest.mark.parametrize("name", PAGES)
def test_anonymous_is_sent_to_login(client, customer, name):
    response = client.get(page_url(name, customer))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_anonymous_cannot_reveal(client, customer):
    response = client.post(reverse("customers:customer-reveal", args=[customer.pk]), {"field": "phone", "reason": "x"})
    assert response.status_code == 302
    assert not RevealLog.objects.exists()


@pytest.mark.parametrize("name", PAGES)
def test_wrong_role_is_refused(client, p, request, customer, name):
    response = as_user(client, persona(p, request, WRONG_ROLE[name])).get(page_url(name, customer))
    assert response.status_code == 403


@pytest.mark.parametrize("name", [name for name in PAGES if name != "customer-register"])
def test_out_of_scope_customer_is_not_found(client, p, request, customer, name):
    response = as_user(client, persona(p, request, OUT_OF_SCOPE[name])).get(page_url(name, customer))
    assert response.status_code == 404


@pytest.mark.parametrize("name", PAGES)
def test_allowed_user_opens_the_page(client, p, request, customer, name):
    response = as_user(client, persona(p, request, ALLOWED[name])).get(page_url(name, customer))
    assert response.status_code == 200


def test_out_of_scope_user_cannot_post_actions(client, p, customer):
    as_user(client, p.agent2)
    for name, data in [
        ("customer-stage", {"to_stage": "visited"}),
        ("customer-release", {"reason": "x"}),
        ("customer-edit", {"name": "改名", "gender": "male", "source": "walk_in", "value_tier": "A"}),
        ("customer-reveal", {"field": "phone", "reason": "想看"}),
    ]:
        assert client.post(page_url(name, customer), data).status_code == 404
    customer.refresh_from_db()
    assert (customer.stage, customer.name, customer.in_pool) == ("lead", "张三", False)
    assert not RevealLog.objects.exists()


# --- registration ---------------------------------------------------------------------------------

REGISTRATION = {
    "name": "王五",
    "phone": "139 1234 5678",
    "gender": "female",
    "source": "walk_in",
    "budget_min": "300",
    "budget_max": "450",
    "value_tier": "B",
    "tags": "学区，改善, 学区",
    "household_notes": "三口之家",
    "consent_channel": "face_to_face",
    "privacy_consent": "on",
    "id_number": "",
}


def test_registration_form_creates_the_customer_owned_by_the_agent(client, p):
    response = as_user(client, p.agent).post(reverse("customers:customer-register"), REGISTRATION)

    customer = Customer.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:customer-detail", args=[customer.pk])
    assert (customer.name, customer.phone, customer.owner, customer.budget_min, customer.budget_max) == (
        "王五",
        "13912345678",
        p.agent,
        300,
        450,
    )
    assert sorted(customer.tags.values_list("name", flat=True)) == ["学区", "改善"]
    assert customer.consents.get().kind == ConsentKind.PERSONAL_INFO
    assert AuditEvent.objects.filter(action="customers.customer.registered").count() == 1
    assert "王五" in body(client.get(response["Location"]))


def test_registration_form_is_phone_friendly(client, p):
    html = body(as_user(client, p.agent).get(reverse("customers:customer-register")))
    assert 'type="tel"' in html and 'inputmode="tel"' in html
    assert html.count('inputmode="numeric"') == 2
    assert "2026.1" in html  # the privacy-policy version in the consent check box


def test_registration_requires_the_privacy_consent(client, p):
    data = {**REGISTRATION, "privacy_consent": ""}
    response = as_user(client, p.agent).post(reverse("customers:customer-register"), data)
    assert response.status_code == 200
    assert 'data-testid="error-privacy_consent"' in body(response)
    assert not Customer.objects.exists()


def test_registration_with_id_number_needs_the_separate_consent(client, p):
    data = {**REGISTRATION, "id_number": ID_NUMBER}
    response = as_user(client, p.agent).post(reverse("customers:customer-register"), data)
    assert 'data-testid="error-id_number_consent"' in body(response)
    assert not Customer.objects.exists()

    response = client.post(reverse("customers:customer-register"), {**data, "id_number_consent": "on"})
    assert response.status_code == 302
    customer = Customer.objects.get()
    assert customer.id_number == ID_NUMBER
    assert set(customer.consents.values_list("kind", flat=True)) == {"personal_info", "id_number"}


def test_duplicate_registration_names_the_owner_on_the_phone_field_and_writes_nothing(client, p, customer):
    as_user(client, p.agent2)  # logging in is audited itself
    counts = (Customer.objects.count(), Consent.objects.count(), AuditEvent.objects.count())
    data = {**REGISTRATION, "phone": "+86 138-1234-1234"}

    response = client.post(reverse("customers:customer-register"), data)

    assert response.status_code == 200
    html = body(response)
    error = html[html.index('data-testid="error-phone"') :]
    assert "李置业" in error[:200]
    # Only the collision answer's own audit event is written (issue #9 defect 6).
    assert (Customer.objects.count(), Consent.objects.count(), AuditEvent.objects.count() - 1) == counts
    assert AuditEvent.objects.filter(action="customers.customer.collision_checked", actor=p.agent2).exists()


def test_registration_rejects_a_reversed_budget(client, p):
    data = {**REGISTRATION, "budget_min": "500", "budget_max": "300"}
    response = as_user(client, p.agent).post(reverse("customers:customer-register"), data)
    assert 'data-testid="error-budget_min"' in body(response)
    assert not Customer.objects.exists()


# --- the detail page -----------------------------------------------------------------------------

VIEWERS = ["agent", "lead", "manager", "cs", "legal", "finance", "qa", "admin", "auditor"]


@pytest.mark.parametrize("who", VIEWERS)
def test_detail_page_never_shows_the_full_phone_or_id_number(client, p, customer, who):
    html = body(as_user(client, getattr(p, who)).get(reverse("customers:customer-detail", args=[customer.pk])))
    assert "张三" in html
    assert "138****1234" in html
    assert PHONE not in html and ID_NUMBER not in html
    assert "110***********002X" in html


@pytest.mark.parametrize("name", ["customer-edit", "customer-needs", "customer-id-number", "customer-stage"])
def test_form_pages_never_show_the_full_phone_or_id_number(client, p, customer, name):
    html = body(as_user(client, p.agent).get(page_url(name, customer)))
    assert PHONE not in html and ID_NUMBER not in html


def test_detail_page_shows_the_file_needs_consents_and_actions(client, p, customer):
    customer.budget_min, customer.budget_max = 300, 450
    customer.save()
    html = body(as_user(client, p.agent).get(reverse("customers:customer-detail", args=[customer.pk])))
    assert "李置业" in html and "滨江一组" in html and "滨江案场" in html
    assert 'data-testid="protection-days-left"' in html
    assert "300–450" in html
    assert 'data-testid="stage-form"' in html
    assert 'data-testid="needs-edit"' in html
    assert html.count('data-testid="consent"') == 2
    assert 'data-testid="customer-release"' in html
    assert 'data-testid="customer-transfer"' not in html  # agents do not transfer
    assert 'data-testid="reveal-button-phone"' in html
    assert 'data-testid="timeline-entry"' in html


def test_detail_page_links_to_communication_and_feedback_pages_when_they_exist(client, p, customer):
    from django.urls import NoReverseMatch

    html = body(as_user(client, p.agent).get(reverse("customers:customer-detail", args=[customer.pk])))
    for name, testid in [("communication-create", "communication-create"), ("feedback-create", "feedback-create")]:
        try:
            url = reverse(f"customers:{name}", args=[customer.pk])
        except NoReverseMatch:
            assert f'data-testid="{testid}"' not in html
        else:
            assert url in html


def test_lead_sees_the_transfer_button(client, p, customer):
    html = body(as_user(client, p.lead).get(reverse("customers:customer-detail", args=[customer.pk])))
    assert 'data-testid="customer-transfer"' in html


# --- revealing the full number --------------------------------------------------------------------


def reveal(client, customer, *, field="phone", reason="", htmx=True):
    headers = {"HTTP_HX_REQUEST": "true"} if htmx else {}
    return client.post(
        reverse("customers:customer-reveal", args=[customer.pk]), {"field": field, "reason": reason}, **headers
    )


def test_reveal_without_reason_returns_the_error_fragment(client, p, customer):
    response = reveal(as_user(client, p.agent), customer, reason="  ")

    assert response.status_code == 200  # HTMX swaps it in place
    html = body(response)
    assert 'data-testid="reveal-error"' in html
    assert PHONE not in html and "138****1234" in html
    assert not RevealLog.objects.exists()
    assert not AuditEvent.objects.filter(action="customers.customer.revealed").exists()


def test_reveal_without_reason_outside_htmx_keeps_its_status(client, p, customer):
    assert reveal(as_user(client, p.agent), customer, htmx=False).status_code == 422


def test_reveal_with_reason_returns_the_full_number_and_is_audited(client, p, customer):
    response = reveal(as_user(client, p.agent), customer, reason="回电确认看房时间")

    assert response.status_code == 200
    assert PHONE in body(response)
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="customers.customer.revealed")
    assert event.actor == p.agent and event.reason == "回电确认看房时间"
    assert event.target_id == str(customer.pk)
    assert RevealLog.objects.get().field == "phone"


def test_reveal_of_the_id_number(client, p, customer):
    response = reveal(as_user(client, p.agent), customer, field="id_number", reason="核对合同")
    assert ID_NUMBER in body(response)


def test_reveal_rate_limit_shows_inline(client, p, customer, settings):
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 1
    as_user(client, p.agent)
    assert PHONE in body(reveal(client, customer, reason="第一次核对"))

    response = reveal(client, customer, reason="第二次核对")

    assert 'data-testid="reveal-error"' in body(response)
    assert PHONE not in body(response)
    assert reveal(client, customer, reason="第三次核对", htmx=False).status_code == 429
    assert RevealLog.objects.count() == 1


def test_legal_cannot_reveal_and_sees_no_reveal_button(client, p, customer):
    as_user(client, p.legal)
    response = reveal(client, customer, reason="合同审查")
    assert response.status_code == 403
    assert PHONE not in body(response)
    html = body(client.get(reverse("customers:customer-detail", args=[customer.pk])))
    assert "reveal-button-phone" not in html and "reveal-form" not in html
    assert not RevealLog.objects.exists()


def test_reveal_only_accepts_post(client, p, customer):
    response = as_user(client, p.agent).get(reverse("customers:customer-reveal", args=[customer.pk]))
    assert response.status_code == 405


# --- edit ------------------------------------------------------------------------------------------


def test_edit_keeps_the_phone_when_left_empty_and_updates_fields(client, p, customer):
    as_user(client, p.agent)
    html = body(client.get(reverse("customers:customer-edit", args=[customer.pk])))
    assert 'placeholder="138****1234"' in html

    response = client.post(
        reverse("customers:customer-edit", args=[customer.pk]),
        {
            "name": "张三丰",
            "phone": "",
            "gender": "male",
            "source": "referral",
            "value_tier": "A",
            "budget_min": "200",
            "budget_max": "",
            "tags": "全款",
            "household_notes": "",
        },
    )

    assert response.status_code == 302
    customer.refresh_from_db()
    assert (customer.name, customer.phone, customer.value_tier, customer.budget_min) == ("张三丰", PHONE, "A", 200)
    assert list(customer.tags.values_list("name", flat=True)) == ["全款"]
    assert AuditEvent.objects.filter(action="customers.customer.updated").exists()


def test_edit_to_a_known_phone_is_refused_naming_the_owner(client, p, customer, register):
    other = register(p.agent, phone="13900001111", name="李四")
    response = as_user(client, p.agent).post(
        reverse("customers:customer-edit", args=[other.pk]),
        {"name": "李四", "phone": PHONE, "gender": "unknown", "source": "walk_in", "value_tier": "C"},
    )
    assert response.status_code == 200
    assert 'data-testid="error-phone"' in body(response)
    other.refresh_from_db()
    assert other.phone == "13900001111"


# --- stage -----------------------------------------------------------------------------------------


def test_stage_change_moves_the_customer_and_shows_on_the_timeline(client, p, customer):
    as_user(client, p.agent)
    response = client.post(reverse("customers:customer-stage", args=[customer.pk]), {"to_stage": "visited"})
    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.stage == "visited"
    html = body(client.get(reverse("customers:customer-detail", args=[customer.pk])))
    assert 'data-kind="stage"' in html


def test_lost_needs_a_reason(client, p, customer):
    as_user(client, p.agent)
    url = reverse("customers:customer-stage", args=[customer.pk])
    response = client.post(url, {"to_stage": "lost", "lost_reason": ""})
    assert response.status_code == 200
    assert 'data-testid="error-lost_reason"' in body(response)
    customer.refresh_from_db()
    assert customer.stage == "lead"

    client.post(url, {"to_stage": "lost", "lost_reason": "预算不足"})
    customer.refresh_from_db()
    assert (customer.stage, customer.lost_reason) == ("lost", "预算不足")


def test_stage_form_offers_only_allowed_moves(client, p, customer):
    response = as_user(client, p.agent).post(
        reverse("customers:customer-stage", args=[customer.pk]), {"to_stage": "signed"}
    )
    assert response.status_code == 200
    assert 'data-testid="error-to_stage"' in body(response)
    customer.refresh_from_db()
    assert customer.stage == "lead"


# --- transfer and release ---------------------------------------------------------------------------


def test_lead_transfers_with_a_reason(client, p, customer, teammate):
    as_user(client, p.lead)
    url = reverse("customers:customer-transfer", args=[customer.pk])
    html = body(client.get(url))
    assert "韩置业" in html
    assert "赵置业" not in html  # agent2 is outside the lead's team

    response = client.post(url, {"to_owner": teammate.pk, "reason": "李置业调岗"})

    assert response.status_code == 302
    customer.refresh_from_db()
    assert customer.owner == teammate
    change = OwnershipChange.objects.get(customer=customer, kind="transferred")
    assert (change.from_owner, change.reason, change.changed_by) == (p.agent, "李置业调岗", p.lead)
    html = body(client.get(reverse("customers:customer-detail", args=[customer.pk])))
    assert "李置业调岗" in html


def test_transfer_needs_a_reason(client, p, customer, teammate):
    response = as_user(client, p.lead).post(
        reverse("customers:customer-transfer", args=[customer.pk]), {"to_owner": teammate.pk, "reason": ""}
    )
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.owner == p.agent


def test_agent_cannot_transfer(client, p, customer, teammate):
    response = as_user(client, p.agent).post(
        reverse("customers:customer-transfer", args=[customer.pk]), {"to_owner": teammate.pk, "reason": "想转"}
    )
    assert response.status_code == 403
    customer.refresh_from_db()
    assert customer.owner == p.agent
    assert not OwnershipChange.objects.filter(kind="transferred").exists()


def test_release_to_the_pool(client, p, customer):
    as_user(client, p.agent)
    url = reverse("customers:customer-release", args=[customer.pk])
    assert client.post(url, {"reason": ""}).status_code == 200
    customer.refresh_from_db()
    assert not customer.in_pool

    response = client.post(url, {"reason": "客户长期联系不上"})

    assert response.status_code == 302
    # The agent no longer sees the customer, so the page does not send them to a 404.
    assert response["Location"] != reverse("customers:customer-detail", args=[customer.pk])
    customer.refresh_from_db()
    assert customer.in_pool and customer.owner is None
    assert OwnershipChange.objects.get(customer=customer, kind="released").reason == "客户长期联系不上"


# --- needs ---------------------------------------------------------------------------------------------

NEEDS = {
    "purpose": "buy",
    "usage": "upgrade",
    "districts": "滨江，西湖、 萧山",
    "environment": "安静",
    "community": "",
    "needs_school": "on",
    "needs_transit": "on",
    "rooms_min": "3",
    "rooms_max": "4",
    "floor_min": "",
    "floor_max": "",
    "orientation": "south",
    "area_min": "90",
    "area_max": "120",
    "price_min": "300",
    "price_max": "450",
    "payment": "mortgage",
    "notes": "孩子明年上小学",
}


def test_needs_questionnaire_saves_and_keeps_revisions(client, p, customer):
    as_user(client, p.agent)
    url = reverse("customers:customer-needs", args=[customer.pk])
    html = body(client.get(url))
    assert html.count("<fieldset") == 5

    assert client.post(url, NEEDS).status_code == 302
    needs = CustomerNeeds.objects.get(customer=customer)
    assert needs.districts == ["滨江", "西湖", "萧山"]
    assert (needs.needs_school, needs.needs_hospital, needs.rooms_min, needs.payment) == (True, False, 3, "mortgage")

    assert client.post(url, {**NEEDS, "rooms_min": "2", "needs_school": ""}).status_code == 302
    assert NeedsRevision.objects.filter(customer=customer).count() == 2
    html = body(client.get(url))
    assert html.count('data-testid="needs-revision"') == 2
    assert "滨江, 西湖, 萧山" in html  # the districts field shows the list as text
    detail = body(client.get(reverse("customers:customer-detail", args=[customer.pk])))
    assert 'data-testid="needs-summary"' in detail and "滨江、西湖、萧山" in detail


def test_needs_with_a_reversed_range_is_refused(client, p, customer):
    response = as_user(client, p.agent).post(
        reverse("customers:customer-needs", args=[customer.pk]), {**NEEDS, "area_min": "150", "area_max": "90"}
    )
    assert response.status_code == 200
    assert 'data-testid="error-area_min"' in body(response)
    assert not CustomerNeeds.objects.exists()


# --- consent and ID number -------------------------------------------------------------------------


def test_consent_is_recorded(client, p, customer):
    response = as_user(client, p.agent).post(
        reverse("customers:consent-record", args=[customer.pk]),
        {"kind": "marketing", "channel": "online", "purpose": ""},
    )
    assert response.status_code == 302
    consent = customer.consents.get(kind="marketing")
    assert consent.policy_version == "2026.1" and consent.recorded_by == p.agent


def test_withdrawing_the_id_consent_erases_the_id_number(client, p, customer):
    consent = customer.consents.get(kind=ConsentKind.ID_NUMBER)
    as_user(client, p.agent)
    url = reverse("customers:consent-withdraw", args=[consent.pk])
    assert client.post(url, {"reason": ""}).status_code == 200  # a reason is required

    response = client.post(url, {"reason": "客户电话要求删除"})

    assert response.status_code == 302
    consent.refresh_from_db()
    customer.refresh_from_db()
    assert consent.withdrawn_at is not None
    assert customer.id_number == "" and customer.id_number_index == ""
    event = AuditEvent.objects.get(action="customers.consent.withdrawn")
    assert event.reason == "客户电话要求删除"
    html = body(client.get(reverse("customers:customer-detail", args=[customer.pk])))
    assert 'data-testid="consent-withdrawn"' in html
    assert "客户电话要求删除" in html  # on the timeline


def test_id_number_page_needs_an_active_id_consent(client, p, register):
    customer = register(p.agent, phone="13900002222")
    as_user(client, p.agent)
    url = reverse("customers:customer-id-number", args=[customer.pk])
    assert 'data-testid="action-blocked"' in body(client.get(url))
    response = client.post(url, {"id_number": ID_NUMBER})
    assert response.status_code == 200
    customer.refresh_from_db()
    assert customer.id_number == ""

    client.post(
        reverse("customers:consent-record", args=[customer.pk]), {"kind": "id_number", "channel": "face_to_face"}
    )
    assert client.post(url, {"id_number": ID_NUMBER.lower()}).status_code == 302
    customer.refresh_from_db()
    assert customer.id_number == ID_NUMBER


def test_id_number_with_a_bad_checksum_is_refused(client, p, customer):
    response = as_user(client, p.agent).post(
        reverse("customers:customer-id-number", args=[customer.pk]), {"id_number": "110105194912310021"}
    )
    assert response.status_code == 200
    assert 'data-testid="error-id_number"' in body(response)


# --- query budget -----------------------------------------------------------------------------------


def _history(customer, agent, rounds: int) -> None:
    now = timezone.now()
    for index in range(rounds):
        at = now - dt.timedelta(hours=index + 1)
        Visit.objects.create(
            customer=customer,
            branch=customer.branch,
            arrived_at=at,
            is_first_visit=index == 0,
            received_by=agent,
            registered_by=agent,
        )
        Communication.objects.create(
            customer=customer, channel="phone", occurred_at=at, summary="回访", recorded_by=agent
        )
        FollowUpTask.objects.create(customer=customer, assignee=agent, title="回访", due_at=at)


def _detail_queries(client, customer) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(reverse("customers:customer-detail", args=[customer.pk]))
    assert response.status_code == 200
    return len(captured.captured_queries), body(response).count('data-testid="timeline-entry"')


def test_detail_page_query_count_does_not_grow_with_the_timeline(client, p, register, django_assert_max_num_queries):
    few = register(p.agent, phone="13900003333")  # registration + consent = 2 entries
    many = register(p.agent, phone="13900004444")
    Communication.objects.create(
        customer=few, channel="phone", occurred_at=timezone.now(), summary="x", recorded_by=p.agent
    )
    _history(many, p.agent, 10)
    as_user(client, p.agent)
    _detail_queries(client, few)  # warm up session and permission caches

    few_queries, few_entries = _detail_queries(client, few)
    many_queries, many_entries = _detail_queries(client, many)

    assert (few_entries, many_entries) == (3, 32)
    assert few_queries == many_queries
    with django_assert_max_num_queries(25):
        client.get(reverse("customers:customer-detail", args=[many.pk]))
