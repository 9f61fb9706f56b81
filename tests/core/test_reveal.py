"""The one reveal service (core.reveal): one reason rule, one hourly limit per user across every kind
of reveal, one log — whether a customer's number or a listing owner's number is revealed."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse
from django.utils import timezone

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent, RevealLog
from anju.core.reveal import reason_is_meaningful
from anju.customers.services.customers import customer_register, customer_reveal
from anju.listings.services.listings import listing_create, listing_reveal_contact
from tests.helpers import listing_fields

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


@pytest.mark.parametrize("reason", ["", "   ", "a", " x ", "。", "??", "!?…", "-- --", "a."])
def test_a_reason_that_only_looks_filled_is_refused(p, customer, listing, reason):
    error = refused(customer_reveal, actor=p.agent, customer=customer, field="phone", reason=reason)
    assert (error.code, error.status) == ("customer.reveal_reason_required", 422)
    assert "reason" in error.fields
    error = refused(listing_reveal_contact, actor=p.agent, listing=listing, reason=reason)
    assert (error.code, error.status) == ("listing.reveal_reason_required", 422)
    assert not RevealLog.objects.exists()
    assert not AuditEvent.objects.filter(action__in=[CUSTOMER_EVENT, LISTING_EVENT]).exists()


@pytest.mark.parametrize(
    ("reason", "meaningful"), [("核实", True), ("ab", True), ("a1", True), ("核", False), ("“”", False)]
)
def test_reason_rule(reason, meaningful):
    assert reason_is_meaningful(reason) is meaningful


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
