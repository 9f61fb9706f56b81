"""Every rule of the customer and ownership services, from the allowing and the refusing side."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from anju.core import audit
from anju.core.models import AuditEvent, Notification, RevealLog
from anju.customers.choices import Stage
from anju.customers.models import (
    BranchCustomerSettings,
    Consent,
    Customer,
    CustomerNeeds,
    NeedsRevision,
    OwnershipChange,
)
from anju.customers.services.customers import (
    consent_record,
    consent_withdraw,
    customer_change_stage,
    customer_reveal,
    customer_set_id_number,
    customer_update,
    needs_update,
)
from anju.customers.services.ownership import (
    customer_transfer,
    holding_count,
    pool_claim,
    pool_release,
    pool_release_lapsed,
    protection_extend,
)
from anju.org.choices import UserStatus
from anju.testing import UserFactory

pytestmark = pytest.mark.django_db

ID_NUMBER = "11010519491231002X"


def refused(code: str, call, *args, **kwargs):
    """Run ``call`` and return the ApplicationError it must raise with ``code``."""
    from anju.core.errors import ApplicationError

    with pytest.raises(ApplicationError) as info:
        call(*args, **kwargs)
    assert info.value.code == code, info.value.message
    return info.value


@pytest.fixture
def customer(p, register):
    return register(p.agent, name="张三", phone="13812341234")


@pytest.fixture
def agent1b(p):
    """A second agent in team A1, so the team lead has someone inside the team to hand customers to."""
    return UserFactory(
        username="agent1b", display_name="孔置业", roles=["sales_agent"], branch=p.branch_a, team=p.team_a1
    )


# --- customer_update ----------------------------------------------------------------------------


def test_update_changes_fields_and_tags_with_an_audited_diff(p, customer):
    customer_update(actor=p.agent, customer=customer, name=" 张三丰 ", value_tier="A", tags=["学区房"])
    customer.refresh_from_db()
    assert customer.name == "张三丰" and customer.value_tier == "A"
    assert list(customer.tags.values_list("name", flat=True)) == ["学区房"]
    event = AuditEvent.objects.get(action="customers.customer.updated")
    assert event.before == {"name": "张三", "value_tier": "C", "tags": []}
    assert event.after == {"name": "张三丰", "value_tier": "A", "tags": ["学区房"]}


def test_update_without_changes_writes_no_audit_event(p, customer):
    customer_update(actor=p.agent, customer=customer, name="张三", phone="138 1234 1234")
    assert not AuditEvent.objects.filter(action="customers.customer.updated").exists()


def test_update_to_a_free_phone_moves_the_index_and_masks_the_audit(p, customer):
    customer_update(actor=p.agent, customer=customer, phone="+86 139 0000 5678")
    customer.refresh_from_db()
    assert customer.phone == "13900005678" and customer.phone_last4 == "5678"
    assert Customer.objects.filter(phone_index=customer.phone_index).get() == customer
    event = AuditEvent.objects.get(action="customers.customer.updated")
    assert event.before == {"phone": "138****1234"} and event.after == {"phone": "139****5678"}
    assert "13900005678" not in audit.canonical(event)


def test_update_to_a_phone_already_on_file_is_refused_naming_the_owner(p, customer, register):
    other = register(p.agent2, name="王五", phone="13677778888")
    error = refused("customer.duplicate", customer_update, actor=p.agent2, customer=other, phone="13812341234")
    assert str(p.agent) in str(error.message)
    other.refresh_from_db()
    assert other.phone == "13677778888"


def test_update_refuses_a_bad_phone_and_a_reversed_budget(p, customer):
    refused("customer.bad_phone", customer_update, actor=p.agent, customer=customer, phone="12345")
    refused("customer.bad_budget", customer_update, actor=p.agent, customer=customer, budget_min=300, budget_max=200)
    customer.refresh_from_db()
    assert customer.budget_min is None


def test_update_needs_permission_and_scope(p, customer):
    refused("permission_denied", customer_update, actor=p.legal, customer=customer, name="x")
    refused("not_found", customer_update, actor=p.agent2, customer=customer, name="x")
    customer_update(actor=p.cs, customer=customer, household_notes="三口之家")  # branch scope, may change
    customer.refresh_from_db()
    assert customer.household_notes == "三口之家"


# --- stage machine ------------------------------------------------------------------------------


def test_allowed_stage_change_is_saved_and_audited(p, customer):
    customer_change_stage(actor=p.agent, customer=customer, to_stage="visited")
    customer.refresh_from_db()
    assert customer.stage == Stage.VISITED
    event = AuditEvent.objects.get(action="customers.customer.stage_changed")
    assert (event.before, event.after) == ({"stage": "lead"}, {"stage": "visited"})


def test_disallowed_stage_change_is_refused_naming_both_states(p, customer):
    error = refused(
        "customer.bad_stage_change", customer_change_stage, actor=p.agent, customer=customer, to_stage="signed"
    )
    assert str(Stage.LEAD.label) in str(error.message) and str(Stage.SIGNED.label) in str(error.message)
    assert error.status == 409
    customer.refresh_from_db()
    assert customer.stage == Stage.LEAD


def test_unknown_stage_is_refused_not_crashed(p, customer):
    refused("customer.bad_stage", customer_change_stage, actor=p.agent, customer=customer, to_stage="married")


def test_lost_needs_a_reason_and_reviving_clears_it(p, customer):
    refused(
        "customer.lost_reason_required",
        customer_change_stage,
        actor=p.agent,
        customer=customer,
        to_stage="lost",
        lost_reason="  ",
    )
    customer_change_stage(actor=p.agent, customer=customer, to_stage="lost", lost_reason="预算不足")
    customer.refresh_from_db()
    assert (customer.stage, customer.lost_reason) == ("lost", "预算不足")
    assert AuditEvent.objects.get(action="customers.customer.stage_changed").reason == "预算不足"
    customer_change_stage(actor=p.agent, customer=customer, to_stage="lead")
    customer.refresh_from_db()
    assert (customer.stage, customer.lost_reason) == ("lead", "")


def test_stage_change_needs_permission_and_scope(p, customer):
    refused("permission_denied", customer_change_stage, actor=p.legal, customer=customer, to_stage="visited")
    refused("not_found", customer_change_stage, actor=p.agent3, customer=customer, to_stage="visited")


# --- consent (PIPL) and the ID number -----------------------------------------------------------


def test_consent_is_recorded_with_the_policy_version(p, customer, settings):
    settings.ANJU_PRIVACY_POLICY_VERSION = "2026.7"
    consent = consent_record(actor=p.agent, customer=customer, kind="marketing", channel="online")
    assert (consent.policy_version, consent.is_active, consent.recorded_by) == ("2026.7", True, p.agent)
    assert consent.purpose  # defaults to the kind's label
    event = AuditEvent.objects.get(action="customers.consent.granted")
    assert event.after == {"kind": "marketing", "channel": "online", "policy_version": "2026.7"}


def test_consent_record_refuses_an_unknown_kind(p, customer):
    refused("consent.bad_kind", consent_record, actor=p.agent, customer=customer, kind="everything", channel="online")
    assert customer.consents.count() == 1


def test_withdrawing_the_id_consent_erases_the_id_number(p, customer):
    consent = consent_record(actor=p.agent, customer=customer, kind="id_number", channel="face_to_face")
    customer_set_id_number(actor=p.agent, customer=customer, id_number=ID_NUMBER)
    customer.refresh_from_db()
    assert customer.id_number == ID_NUMBER and customer.id_number_index
    consent_withdraw(actor=p.agent, consent=consent, reason="客户要求")
    customer.refresh_from_db()
    assert customer.id_number == "" and customer.id_number_index == ""
    consent.refresh_from_db()
    assert consent.withdrawn_at is not None
    event = AuditEvent.objects.get(action="customers.consent.withdrawn")
    assert event.after == {"kind": "id_number"} and event.reason == "客户要求"


def test_withdrawing_another_consent_keeps_the_id_number(p, register):
    customer = register(p.agent, id_number=ID_NUMBER, id_number_consent=True)
    marketing = consent_record(actor=p.agent, customer=customer, kind="marketing", channel="online")
    consent_withdraw(actor=p.agent, consent=marketing)
    customer.refresh_from_db()
    assert customer.id_number == ID_NUMBER


def test_a_consent_cannot_be_withdrawn_twice(p, customer):
    consent = customer.consents.get()
    consent_withdraw(actor=p.agent, consent=consent)
    refused("consent.already_withdrawn", consent_withdraw, actor=p.agent, consent=consent)
    assert Consent.objects.filter(withdrawn_at__isnull=False).count() == 1


def test_consent_needs_permission_and_scope(p, customer):
    refused("permission_denied", consent_record, actor=p.legal, customer=customer, kind="marketing", channel="phone")
    refused("not_found", consent_withdraw, actor=p.agent2, consent=customer.consents.get())


def test_id_number_without_consent_is_refused(p, customer):
    refused(
        "customer.id_consent_required", customer_set_id_number, actor=p.agent, customer=customer, id_number=ID_NUMBER
    )
    customer.refresh_from_db()
    assert customer.id_number == ""


def test_id_number_after_a_withdrawn_consent_is_refused(p, customer):
    consent = consent_record(actor=p.agent, customer=customer, kind="id_number", channel="phone")
    consent_withdraw(actor=p.agent, consent=consent)
    refused(
        "customer.id_consent_required", customer_set_id_number, actor=p.agent, customer=customer, id_number=ID_NUMBER
    )


def test_id_number_with_consent_is_checked_stored_and_masked_in_the_audit(p, customer):
    consent_record(actor=p.agent, customer=customer, kind="id_number", channel="phone")
    refused(
        "customer.bad_id_number",
        customer_set_id_number,
        actor=p.agent,
        customer=customer,
        id_number="110105194912310021",
    )
    customer_set_id_number(actor=p.agent, customer=customer, id_number=ID_NUMBER.lower())
    customer.refresh_from_db()
    assert customer.id_number == ID_NUMBER
    event = AuditEvent.objects.get(action="customers.customer.id_number_set")
    assert event.after == {"id_number": "110***********002X"}
    assert ID_NUMBER not in audit.canonical(event)


# --- needs (R2.3.1) -----------------------------------------------------------------------------


def test_needs_updates_keep_revisions_with_exact_diffs(p, customer):
    needs_update(actor=p.agent, customer=customer, rooms_min=2, rooms_max=3, needs_school=True)
    first = NeedsRevision.objects.get()
    assert first.after["rooms_min"] == 2 and first.after["needs_school"] is True
    needs_update(actor=p.lead, customer=customer, rooms_max=4, orientation="south")
    second = NeedsRevision.objects.order_by("-pk").first()
    assert second.before == {"rooms_max": 3, "orientation": ""}
    assert second.after == {"rooms_max": 4, "orientation": "south"}
    assert second.changed_by == p.lead
    needs = CustomerNeeds.objects.get(customer=customer)
    assert (needs.rooms_min, needs.rooms_max, needs.orientation) == (2, 4, "south")
    assert AuditEvent.objects.filter(action="customers.needs.updated").count() == 2


def test_needs_update_without_changes_keeps_no_revision(p, customer):
    needs_update(actor=p.agent, customer=customer, area_min=80)
    needs_update(actor=p.agent, customer=customer, area_min=80)
    assert NeedsRevision.objects.count() == 1


@pytest.mark.parametrize(
    ("low", "high"),
    [("rooms_min", "rooms_max"), ("floor_min", "floor_max"), ("area_min", "area_max"), ("price_min", "price_max")],
)
def test_needs_with_a_reversed_range_are_refused(p, customer, low, high):
    error = refused("needs.bad_range", needs_update, actor=p.agent, customer=customer, **{low: 5, high: 3})
    assert low in error.fields
    assert not CustomerNeeds.objects.exists() and not NeedsRevision.objects.exists()


def test_needs_refuse_outsiders(p, customer):
    refused("permission_denied", needs_update, actor=p.finance, customer=customer, rooms_min=2)
    refused("not_found", needs_update, actor=p.agent2, customer=customer, rooms_min=2)


# --- reveal (R5.2.2) ----------------------------------------------------------------------------


def test_reveal_returns_the_full_number_and_is_audited_without_the_digits(p, customer):
    assert customer_reveal(actor=p.agent, customer=customer, field="phone", reason="客户来电核实") == "13812341234"
    event = AuditEvent.objects.get(action="customers.customer.revealed")
    assert event.actor == p.agent and event.reason == "客户来电核实" and event.after == {"field": "phone"}
    assert "13812341234" not in audit.canonical(event)
    log = RevealLog.objects.get()
    assert (log.target_type, log.target_id) == ("customers.customer", str(customer.pk))
    assert (log.field, log.reason, log.revealed_by) == ("phone", "客户来电核实", p.agent)


def test_reveal_of_the_id_number(p, register):
    customer = register(p.agent, id_number=ID_NUMBER, id_number_consent=True)
    assert customer_reveal(actor=p.cs, customer=customer, field="id_number", reason="签约核验身份") == ID_NUMBER
    assert ID_NUMBER not in audit.canonical(AuditEvent.objects.get(action="customers.customer.revealed"))
    without = register(p.agent)
    refused(
        "customer.reveal_empty", customer_reveal, actor=p.agent, customer=without, field="id_number", reason="核验身份"
    )


def test_reveal_without_permission_is_refused(p, customer):
    error = refused(
        "customer.reveal_denied", customer_reveal, actor=p.legal, customer=customer, field="phone", reason="合同审核"
    )
    assert error.status == 403
    assert not RevealLog.objects.exists()


@pytest.mark.parametrize("reason", ["", "  ", "a"])
def test_reveal_without_a_reason_is_refused(p, customer, reason):
    refused(
        "customer.reveal_reason_required",
        customer_reveal,
        actor=p.agent,
        customer=customer,
        field="phone",
        reason=reason,
    )
    assert not AuditEvent.objects.filter(action="customers.customer.revealed").exists()


def test_reveal_out_of_scope_is_not_found(p, customer):
    error = refused("not_found", customer_reveal, actor=p.agent2, customer=customer, field="phone", reason="核实")
    assert error.status == 404


def test_reveal_of_another_field_is_refused(p, customer):
    refused("customer.reveal_field", customer_reveal, actor=p.agent, customer=customer, field="name", reason="核实")


def test_reveal_is_rate_limited_per_user(p, customer, register, settings):
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 3
    for number in range(3):
        customer_reveal(actor=p.agent, customer=customer, field="phone", reason=f"核实号码{number}")
    error = refused(
        "customer.reveal_rate_limited",
        customer_reveal,
        actor=p.agent,
        customer=customer,
        field="phone",
        reason="再次核实",
    )
    assert error.status == 429
    assert RevealLog.objects.filter(revealed_by=p.agent).count() == 3
    # Another user has their own allowance; an hour later the agent has theirs back.
    assert customer_reveal(actor=p.lead, customer=customer, field="phone", reason="主管核实") == "13812341234"
    RevealLog.objects.filter(revealed_by=p.agent).update(revealed_at=timezone.now() - dt.timedelta(minutes=61))
    assert customer_reveal(actor=p.agent, customer=customer, field="phone", reason="一小时后") == "13812341234"


# --- transfer -----------------------------------------------------------------------------------


def test_agent_may_not_transfer(p, customer, agent1b):
    refused("permission_denied", customer_transfer, actor=p.agent, customer=customer, to_owner=agent1b, reason="休假")
    customer.refresh_from_db()
    assert customer.owner == p.agent


def test_lead_transfers_within_the_team_with_a_reason(p, customer, agent1b):
    customer_transfer(actor=p.lead, customer=customer, to_owner=agent1b, reason="原顾问休产假")
    customer.refresh_from_db()
    assert (customer.owner, customer.team, customer.acquired_via) == (agent1b, p.team_a1, "transferred")
    change = OwnershipChange.objects.get(customer=customer, kind="transferred")
    assert (change.from_owner, change.to_owner, change.changed_by, change.reason) == (
        p.agent,
        agent1b,
        p.lead,
        "原顾问休产假",
    )
    assert Notification.objects.filter(user=agent1b).count() == 1
    assert Notification.objects.filter(user=p.agent).count() == 1
    event = AuditEvent.objects.get(action="customers.customer.transferred")
    assert event.before == {"owner": p.agent.pk} and event.after == {"owner": agent1b.pk}
    assert event.reason == "原顾问休产假"


def test_transfer_without_a_reason_is_refused(p, customer, agent1b):
    refused(
        "customer.transfer_reason_required",
        customer_transfer,
        actor=p.lead,
        customer=customer,
        to_owner=agent1b,
        reason="  ",
    )
    assert not OwnershipChange.objects.filter(kind="transferred").exists()
    assert not Notification.objects.exists()


def test_transfer_target_must_be_an_active_sales_employee(p, customer, agent1b):
    agent1b.status = UserStatus.SUSPENDED
    agent1b.save()
    refused(
        "customer.transfer_target", customer_transfer, actor=p.lead, customer=customer, to_owner=agent1b, reason="调岗"
    )
    refused(
        "customer.transfer_target",
        customer_transfer,
        actor=p.manager,
        customer=customer,
        to_owner=p.legal,
        reason="调岗",
    )
    customer.refresh_from_db()
    assert customer.owner == p.agent


def test_transfer_to_the_current_owner_is_refused(p, customer):
    refused(
        "customer.transfer_same_owner",
        customer_transfer,
        actor=p.lead,
        customer=customer,
        to_owner=p.agent,
        reason="调岗",
    )


def test_lead_cannot_transfer_outside_the_team(p, customer, register):
    other_team = register(p.agent2, phone="13677778888")
    refused("not_found", customer_transfer, actor=p.lead, customer=other_team, to_owner=p.agent, reason="调岗")
    refused("not_found", customer_transfer, actor=p.lead, customer=customer, to_owner=p.agent2, reason="调岗")


def test_manager_transfers_across_teams(p, customer):
    customer_transfer(actor=p.manager, customer=customer, to_owner=p.agent2, reason="二组负责该楼盘")
    customer.refresh_from_db()
    assert (customer.owner, customer.team) == (p.agent2, p.team_a2)


# --- protection and the public pool --------------------------------------------------------------


def test_protection_lapse_moves_the_customer_to_the_pool_once(p, customer, register):
    kept = register(p.agent, phone="13900002222")
    Customer.objects.filter(pk=kept.pk).update(protected_until=customer.protected_until + dt.timedelta(days=10))
    later = customer.protected_until + dt.timedelta(minutes=1)

    assert pool_release_lapsed(now=later) == 1

    customer.refresh_from_db()
    assert customer.in_pool and customer.owner is None and customer.team is None
    assert customer.pool_since == later
    kept.refresh_from_db()
    assert not kept.in_pool and kept.owner == p.agent
    change = OwnershipChange.objects.get(customer=customer, kind="lapsed")
    assert change.from_owner == p.agent and change.to_owner is None
    assert Notification.objects.filter(user=p.agent).count() == 1
    event = AuditEvent.objects.get(action="customers.customer.pool_lapsed")
    assert event.actor is None and event.actor_name == "system" and event.before == {"owner": p.agent.pk}

    assert pool_release_lapsed(now=later) == 0
    assert OwnershipChange.objects.filter(kind="lapsed").count() == 1
    assert Notification.objects.filter(user=p.agent).count() == 1


def test_nothing_lapses_before_the_protection_ends(p, customer):
    assert pool_release_lapsed(now=customer.protected_until - dt.timedelta(minutes=1)) == 0
    customer.refresh_from_db()
    assert customer.owner == p.agent and not customer.in_pool


def test_protection_period_follows_the_branch_setting(p, register):
    BranchCustomerSettings.objects.create(branch=p.branch_a, protection_days=7)
    customer = register(p.agent)
    remaining = customer.protected_until - timezone.now()
    assert dt.timedelta(days=6, hours=23) < remaining <= dt.timedelta(days=7)


def test_protection_extend_never_shortens(p, customer):
    original = customer.protected_until
    protection_extend(customer, at=timezone.now() - dt.timedelta(days=5))
    customer.refresh_from_db()
    assert customer.protected_until == original
    later = timezone.now() + dt.timedelta(days=2)
    protection_extend(customer, at=later)
    customer.refresh_from_db()
    assert customer.protected_until == later + dt.timedelta(days=30)
    assert customer.last_contact_at == later


def test_protection_extend_from_a_stale_copy_never_shortens(p, customer):
    stale = Customer.objects.get(pk=customer.pk)
    much_later = timezone.now() + dt.timedelta(days=10)
    protection_extend(customer, at=much_later)
    protection_extend(stale, at=timezone.now() + dt.timedelta(days=1))
    customer.refresh_from_db()
    assert customer.protected_until == much_later + dt.timedelta(days=30)


def test_protection_extend_leaves_pool_customers_alone(p, customer):
    pool_release(actor=p.agent, customer=customer, reason="放弃跟进")
    protection_extend(customer, at=timezone.now() + dt.timedelta(days=2))
    customer.refresh_from_db()
    assert customer.in_pool and customer.owner is None


def _into_pool(p, customer) -> Customer:
    pool_release(actor=p.agent, customer=customer, reason="放弃跟进")
    customer.refresh_from_db()
    return customer


def test_pool_claim_makes_the_claimer_owner(p, customer):
    customer = _into_pool(p, customer)
    pool_claim(actor=p.agent2, customer=customer)
    customer.refresh_from_db()
    assert (customer.owner, customer.team, customer.in_pool) == (p.agent2, p.team_a2, False)
    assert customer.acquired_via == "claimed" and customer.protected_until > timezone.now()
    assert OwnershipChange.objects.get(customer=customer, kind="claimed").to_owner == p.agent2
    assert AuditEvent.objects.filter(action="customers.customer.claimed", actor=p.agent2).exists()
    assert holding_count(p.agent2) == 1


def test_pool_claim_from_another_branch_is_refused(p, customer):
    customer = _into_pool(p, customer)
    refused("customer.pool_other_branch", pool_claim, actor=p.agent3, customer=customer)
    customer.refresh_from_db()
    assert customer.in_pool


def test_pool_claim_cap_is_enforced(p, customer, register):
    BranchCustomerSettings.objects.create(branch=p.branch_a, pool_claim_cap=1)
    first = _into_pool(p, customer)
    second = _into_pool(p, register(p.agent, phone="13900003333"))
    pool_claim(actor=p.agent2, customer=first)
    error = refused("customer.pool_cap", pool_claim, actor=p.agent2, customer=second)
    assert "1" in str(error.message)
    second.refresh_from_db()
    assert second.in_pool
    assert holding_count(p.agent2) == 1


def test_second_claim_of_the_same_customer_is_refused(p, customer):
    customer = _into_pool(p, customer)
    stale = Customer.objects.get(pk=customer.pk)
    pool_claim(actor=p.agent, customer=customer)
    refused("customer.not_in_pool", pool_claim, actor=p.agent2, customer=stale)
    stale.refresh_from_db()
    assert stale.owner == p.agent
    assert OwnershipChange.objects.filter(kind="claimed").count() == 1


def test_pool_claim_needs_the_add_permission(p, customer):
    customer = _into_pool(p, customer)
    refused("permission_denied", pool_claim, actor=p.legal, customer=customer)


def test_pool_release_needs_a_reason_and_is_refused_twice(p, customer):
    refused("customer.release_reason_required", pool_release, actor=p.agent, customer=customer, reason=" ")
    _into_pool(p, customer)
    refused("customer.already_in_pool", pool_release, actor=p.manager, customer=customer, reason="再次放弃")
