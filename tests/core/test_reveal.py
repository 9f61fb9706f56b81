"""The one reveal service (core.reveal): one reason rule, one hourly limit per user across every kind
of reveal, one log — whether a customer's number or a listing owner's number is revealed. The reason is cleaned
and needs four letters or CJK characters on every path: service, page and API (issue #9 defect 5, R5.2.2)."""

from __future__ import annotations

import json

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent, RevealLog
from anju.core.reveal import REVEAL_REASON_MIN_CHARS
from anju.customers.services.customers import customer_register, customer_reveal
from anju.listings.services.listings import listing_create, listing_reveal_contact
from anju.org.services.auth import token_create
from tests.helpers import assert_error, listing_fields

pytestmark = pytest.mark.django_db

CUSTOMER_PHONE = "13812341234"
OWNER_PHONE = "13911112222"
CUSTOMER_EVENT = "customers.customer.revealed"
LISTING_EVENT = "listings.listing.contact_revealed"


@pytest.fixture
def customer(p):
    return customer_register(
        actor=p.agent, name="张三", phone=CUSTOMER_PHONE, source="walk_in", consent_channel="face_to_face"
    )


@pytest.fixture
def listing(p):
    fields = listing_fields(title="滨江花园 1 号 三室两厅", room_no="0801", contact_phone=OWNER_PHONE)
    return listing_create(actor=p.agent, **fields)


def refused(call, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as caught:
        call(**kwargs)
    return caught.value


def test_one_hourly_limit_counts_every_kind_of_reveal(p, customer, listing, settings):
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 2
    assert customer_reveal(actor=p.agent, customer=customer, field="phone", reason="回电确认") == CUSTOMER_PHONE
    assert listing_reveal_contact(actor=p.agent, listing=listing, reason="约业主看房") == OWNER_PHONE

    # The third reveal is refused whatever its kind, with each app's own code.
    error = refused(customer_reveal, actor=p.agent, customer=customer, field="phone", reason="再次核实")
    assert (error.code, error.status) == ("customer.reveal_rate_limited", 429)
    error = refused(listing_reveal_contact, actor=p.agent, listing=listing, reason="再约一次")
    assert (error.code, error.status) == ("listing.reveal_rate_limited", 429)

    assert RevealLog.objects.filter(revealed_by=p.agent).count() == 2
    assert AuditEvent.objects.filter(action=CUSTOMER_EVENT).count() == 1
    assert AuditEvent.objects.filter(action=LISTING_EVENT).count() == 1
    # Another user keeps their own allowance.
    assert listing_reveal_contact(actor=p.lead, listing=listing, reason="主管核实") == OWNER_PHONE


def test_the_limit_holds_across_the_pages_too(client, p, customer, listing, settings):
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 2
    client.force_login(p.agent)
    customer_url = reverse("customers:customer-reveal", args=[customer.pk])
    listing_url = reverse("listings:listing-reveal", args=[listing.pk])
    assert client.post(listing_url, {"reason": "约业主看房"}).status_code == 200
    assert client.post(customer_url, {"field": "phone", "reason": "回电确认"}).status_code == 200

    assert client.post(customer_url, {"field": "id_number", "reason": "核对合同"}).status_code == 429
    response = client.post(listing_url, {"reason": "再约一次"})
    assert response.status_code == 429
    assert OWNER_PHONE not in response.content.decode()
    assert RevealLog.objects.count() == 2


def test_an_hour_later_the_allowance_is_back(p, customer, listing, settings):
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 1
    listing_reveal_contact(actor=p.agent, listing=listing, reason="约业主看房")
    refused(customer_reveal, actor=p.agent, customer=customer, field="phone", reason="回电确认")
    RevealLog.objects.update(revealed_at=timezone.now() - timezone.timedelta(minutes=61))
    assert customer_reveal(actor=p.agent, customer=customer, field="phone", reason="回电确认") == CUSTOMER_PHONE


def test_each_reveal_writes_one_log_row_and_its_audit_event(p, customer, listing):
    customer_reveal(actor=p.agent, customer=customer, field="phone", reason="回电确认看房时间")
    listing_reveal_contact(actor=p.agent, listing=listing, reason="约业主看房")

    rows = {(row.target_type, row.target_id, row.field, row.reason, row.revealed_by) for row in RevealLog.objects.all()}
    assert rows == {
        ("customers.customer", str(customer.pk), "phone", "回电确认看房时间", p.agent),
        ("listings.listing", str(listing.pk), "contact_phone", "约业主看房", p.agent),
    }
    customer_event = AuditEvent.objects.get(action=CUSTOMER_EVENT)
    assert (customer_event.target_id, customer_event.after, customer_event.reason) == (
        str(customer.pk),
        {"field": "phone"},
        "回电确认看房时间",
    )
    listing_event = AuditEvent.objects.get(action=LISTING_EVENT)
    assert (listing_event.target_id, listing_event.after, listing_event.reason) == (str(listing.pk), None, "约业主看房")


# --- the reason (issue #9 defect 5) -------------------------------------------------------------------

INVISIBLE = "\u200b\u200b"  # two zero-width spaces: looks filled in, says nothing
REFUSED_REASONS = [
    "",
    "   ",
    INVISIBLE,
    "....",
    "1234",
    "a b",
    "\u3000\u3000",  # ideographic spaces
    "\u200e\u200f\u202e",  # bidi marks and an override
    "\u3164\u3164\u3164\u3164",  # Hangul fillers: letters to Python, blank on screen
    "回访",  # two characters: too short for a reveal
    "aaaa",
    "。。。！",
]


@pytest.mark.parametrize("reason", REFUSED_REASONS)
def test_a_reason_that_only_looks_filled_is_refused(p, customer, listing, reason):
    error = refused(customer_reveal, actor=p.agent, customer=customer, field="phone", reason=reason)
    assert (error.code, error.status) == ("customer.reveal_reason_required", 422)
    assert "reason" in error.fields
    assert str(error.message) == f"请填写具体原因（至少 {REVEAL_REASON_MIN_CHARS} 个字，数字、空格和标点不计）。"
    error = refused(listing_reveal_contact, actor=p.agent, listing=listing, reason=reason)
    assert (error.code, error.status) == ("listing.reveal_reason_required", 422)
    assert not RevealLog.objects.exists()
    assert not AuditEvent.objects.filter(action__in=[CUSTOMER_EVENT, LISTING_EVENT]).exists()


def test_the_reason_is_stored_cleaned(p, customer, listing):
    typed = "\u200f请\u3000核对\u200b  号码\u00a0"
    assert customer_reveal(actor=p.agent, customer=customer, field="phone", reason=typed) == CUSTOMER_PHONE
    assert listing_reveal_contact(actor=p.agent, listing=listing, reason=typed) == OWNER_PHONE

    assert set(RevealLog.objects.values_list("reason", flat=True)) == {"请 核对 号码"}
    assert set(
        AuditEvent.objects.filter(action__in=[CUSTOMER_EVENT, LISTING_EVENT]).values_list("reason", flat=True)
    ) == {"请 核对 号码"}


@pytest.mark.parametrize("reason", [INVISIBLE, "...."])
def test_the_pages_refuse_an_empty_looking_reason_with_the_rule(client, p, customer, listing, reason):
    client.force_login(p.agent)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "zh-hans"
    customer_url = reverse("customers:customer-reveal", args=[customer.pk])
    listing_url = reverse("listings:listing-reveal", args=[listing.pk])

    for url, data in ((customer_url, {"field": "phone", "reason": reason}), (listing_url, {"reason": reason})):
        response = client.post(url, data)
        assert response.status_code == 422
        html = response.content.decode()
        assert 'data-testid="reveal-error"' in html and "请填写具体原因（至少 4 个字" in html
        assert CUSTOMER_PHONE not in html and OWNER_PHONE not in html
        # HTMX gets the same refusal with 200, so that it swaps the fragment in.
        response = client.post(url, data, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and "请填写具体原因（至少 4 个字" in response.content.decode()

    assert not RevealLog.objects.exists()
    assert not AuditEvent.objects.filter(action__in=[CUSTOMER_EVENT, LISTING_EVENT]).exists()


def test_the_pages_accept_a_real_reason(client, p, customer, listing):
    client.force_login(p.agent)
    response = client.post(
        reverse("customers:customer-reveal", args=[customer.pk]), {"field": "phone", "reason": "\u200b回电确认"}
    )
    assert response.status_code == 200 and CUSTOMER_PHONE in response.content.decode()
    response = client.post(reverse("listings:listing-reveal", args=[listing.pk]), {"reason": "约业主看房"})
    assert response.status_code == 200 and OWNER_PHONE in response.content.decode()
    assert sorted(RevealLog.objects.values_list("reason", flat=True)) == ["回电确认", "约业主看房"]


@pytest.mark.parametrize("reason", [INVISIBLE, "...."])
def test_the_api_refuses_an_empty_looking_reason(client, p, customer, listing, reason):
    _token, raw = token_create(actor=p.agent, name="tests")
    headers = {"HTTP_AUTHORIZATION": f"Bearer {raw}", "HTTP_ACCEPT_LANGUAGE": "en"}
    calls = [
        (f"/api/v1/customers/{customer.pk}/reveal", {"field": "phone", "reason": reason}, "customer"),
        (f"/api/v1/listings/{listing.pk}/reveal", {"reason": reason}, "listing"),
    ]
    for path, body, prefix in calls:
        response = client.post(path, json.dumps(body), content_type="application/json", **headers)
        error = assert_error(response, 422, f"{prefix}.reveal_reason_required")
        assert "at least 4 characters" in error["message"] and "reason" in error["fields"]

    response = client.post(
        f"/api/v1/listings/{listing.pk}/reveal",
        json.dumps({"reason": "约业主看房"}),
        content_type="application/json",
        **headers,
    )
    assert response.status_code == 200 and response.json()["value"] == OWNER_PHONE
    assert list(RevealLog.objects.values_list("reason", flat=True)) == ["约业主看房"]
    assert AuditEvent.objects.filter(action__in=[CUSTOMER_EVENT, LISTING_EVENT]).count() == 1


def test_the_form_states_the_rule_the_service_applies(client, p, customer):
    client.force_login(p.agent)
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"
    html = client.get(reverse("customers:customer-detail", args=[customer.pk])).content.decode()
    assert f"Give a specific reason of at least {REVEAL_REASON_MIN_CHARS} characters" in html
    assert 'name="reason"' in html


# --- moving the customers' reveal log into core -----------------------------------------------------

BEFORE = [("customers", "0005_customer_name_grams"), ("core", "0004_reveal_log")]
MOVE = ("customers", "0006_move_reveal_log_to_core")


@pytest.mark.django_db(transaction=True)
def test_the_migration_copies_the_customer_reveal_log_and_back(p, customer):
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    revealed_at = timezone.now() - timezone.timedelta(days=3)
    try:
        executor.migrate(BEFORE)
        old_apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        OldLog = old_apps.get_model("customers", "RevealLog")
        old = OldLog.objects.create(
            customer_id=customer.pk, field="phone", reason="回电确认", revealed_by_id=p.agent.pk
        )
        OldLog.objects.filter(pk=old.pk).update(revealed_at=revealed_at)

        executor = MigrationExecutor(connection)
        executor.migrate([MOVE])
        row = RevealLog.objects.get()
        assert (row.target_type, row.target_id, row.field, row.reason, row.revealed_by_id, row.revealed_at) == (
            "customers.customer",
            str(customer.pk),
            "phone",
            "回电确认",
            p.agent.pk,
            revealed_at,
        )

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)
        assert not RevealLog.objects.exists()
        old_apps = MigrationExecutor(connection).loader.project_state(BEFORE).apps
        back = old_apps.get_model("customers", "RevealLog").objects.get()
        assert (back.customer_id, back.field, back.reason, back.revealed_at) == (
            customer.pk,
            "phone",
            "回电确认",
            revealed_at,
        )
    finally:
        executor = MigrationExecutor(connection)
        executor.migrate(latest)
