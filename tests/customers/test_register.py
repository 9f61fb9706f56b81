"""Registration: first-responder ownership, collision check, consent, protected data (R6.1.1, R5.2.2)."""

import pytest
from django.db import connection

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.customers.models import Consent, Customer, OwnershipChange

pytestmark = pytest.mark.django_db


def test_registering_agent_becomes_owner_with_protection(p, register):
    customer = register(p.agent, phone="138 1234 1234", name="张三")
    assert customer.owner == p.agent and customer.team == p.team_a1 and customer.branch == p.branch_a
    assert customer.protected_until is not None
    assert customer.phone == "13812341234" and customer.phone_last4 == "1234"
    assert OwnershipChange.objects.get(customer=customer).kind == "registered"
    assert Consent.objects.get(customer=customer).kind == "personal_info"


def test_phone_is_encrypted_at_rest_and_masked_in_audit(p, register):
    customer = register(p.agent, phone="13812341234")
    with connection.cursor() as cursor:
        cursor.execute("SELECT phone FROM customers_customer WHERE id = %s", [customer.pk])
        (raw,) = cursor.fetchone()
    assert "13812341234" not in raw
    event = AuditEvent.objects.get(action="customers.customer.registered")
    assert event.after["phone"] == "138****1234"


def test_duplicate_phone_is_refused_naming_the_owner(p, register):
    register(p.agent, phone="13812341234")
    with pytest.raises(ApplicationError) as refused:
        register(p.agent2, phone="+86 138-1234-1234")
    assert refused.value.code == "customer.duplicate"
    assert "李置业" in str(refused.value.message)
    assert "1234" not in str(refused.value.message)
    assert Customer.objects.count() == 1


@pytest.mark.parametrize("phone", ["12345678901", "1381234123", "abc", ""])
def test_bad_mobile_numbers_are_refused(p, register, phone):
    with pytest.raises(ApplicationError) as refused:
        register(p.agent, phone=phone) if phone else register(p.agent, phone="0")
    assert refused.value.code == "customer.bad_phone"
    assert Customer.objects.count() == 0


def test_id_number_needs_separate_consent_and_a_valid_checksum(p, register):
    with pytest.raises(ApplicationError) as refused:
        register(p.agent, id_number="11010519491231002X")
    assert refused.value.code == "customer.id_consent_required"
    with pytest.raises(ApplicationError) as refused:
        register(p.agent, id_number="110105194912310021", id_number_consent=True)
    assert refused.value.code == "customer.bad_id_number"
    customer = register(p.agent, id_number="11010519491231002x", id_number_consent=True)
    assert customer.id_number == "11010519491231002X"
    assert customer.id_number_masked == "110***********002X"
    assert set(customer.consents.values_list("kind", flat=True)) == {"personal_info", "id_number"}


def test_reversed_budget_is_refused_on_the_field(p, register):
    from anju.customers.services.customers import customer_update

    with pytest.raises(ApplicationError) as refused:
        register(p.agent, budget_min=500, budget_max=300)
    assert refused.value.code == "customer.bad_budget" and "budget_min" in refused.value.fields
    customer = register(p.agent, budget_min=300, budget_max=500)
    with pytest.raises(ApplicationError) as refused:
        customer_update(actor=p.agent, customer=customer, budget_min=600)
    assert refused.value.code == "customer.bad_budget"
    customer.refresh_from_db()
    assert customer.budget_min == 300
