"""The collision check (撞单) holds for two registrations at the same moment (R6.1.1, DESIGN.md §Tests).

Two real transactions on PostgreSQL: exactly one agent wins, the other gets the usual
"already registered by …" refusal — never a raw IntegrityError, never two files.
"""

from __future__ import annotations

import threading
import time
from functools import partial

import pytest
from django.db import transaction

from anju.core.errors import ApplicationError
from anju.customers.models import Customer
from anju.customers.services.customers import customer_register
from anju.testing import make_personas
from tests.helpers import in_thread, require_postgresql, run_at_once

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _needs_postgresql():
    require_postgresql()


def _register(agent, phone: str):
    return customer_register(
        actor=agent, name=f"{agent.username}的客户", phone=phone, source="walk_in", consent_channel="face_to_face"
    )


def test_two_simultaneous_registrations_of_one_phone_have_exactly_one_winner():
    p = make_personas()

    for round_number in range(5):
        phone = f"1381234{round_number:04d}"
        outcomes = run_at_once(
            timeout=30, agent=partial(_register, p.agent, phone), agent2=partial(_register, p.agent2, phone)
        )

        winners = [key for key, value in outcomes.items() if isinstance(value, Customer)]
        losers = [value for value in outcomes.values() if not isinstance(value, Customer)]
        assert len(winners) == 1, outcomes
        assert len(losers) == 1 and isinstance(losers[0], ApplicationError), outcomes
        assert losers[0].code == "customer.duplicate"
        winner = getattr(p, winners[0])
        assert str(winner) in str(losers[0].message)
        stored = Customer.objects.select_related("owner").get(phone_last4=phone[-4:])
        assert stored.owner == winner
    assert Customer.objects.count() == 5


def test_the_second_registration_waits_for_the_first_and_then_is_refused():
    """The loser blocks on the unique index until the winner commits, then gets the collision message."""
    p = make_personas()
    phone = "13912345678"
    first_inserted, finish_first = threading.Event(), threading.Event()
    outcomes: dict = {}

    def first():
        with transaction.atomic():
            customer = _register(p.agent, phone)
            first_inserted.set()
            assert finish_first.wait(timeout=30)
        return customer

    first_thread = in_thread(first, outcomes, "agent")
    second_thread = in_thread(lambda: _register(p.agent2, phone), outcomes, "agent2")
    first_thread.start()
    assert first_inserted.wait(timeout=30)
    second_thread.start()
    time.sleep(0.5)
    assert second_thread.is_alive(), f"the second registration did not wait: {outcomes}"
    finish_first.set()
    first_thread.join(timeout=30)
    second_thread.join(timeout=30)

    assert isinstance(outcomes["agent"], Customer), outcomes
    refusal = outcomes["agent2"]
    assert isinstance(refusal, ApplicationError), outcomes
    assert refusal.code == "customer.duplicate" and refusal.status == 409
    assert str(p.agent) in str(refusal.message)
    assert Customer.objects.get().owner == p.agent


def test_when_the_first_registration_rolls_back_the_waiting_one_succeeds():
    p = make_personas()
    phone = "13912345679"
    first_inserted, finish_first = threading.Event(), threading.Event()
    outcomes: dict = {}

    class Abandoned(Exception):
        pass

    def first():
        with transaction.atomic():
            _register(p.agent, phone)
            first_inserted.set()
            assert finish_first.wait(timeout=30)
            raise Abandoned

    first_thread = in_thread(first, outcomes, "agent")
    second_thread = in_thread(lambda: _register(p.agent2, phone), outcomes, "agent2")
    first_thread.start()
    assert first_inserted.wait(timeout=30)
    second_thread.start()
    time.sleep(0.5)
    assert second_thread.is_alive(), f"the second registration did not wait: {outcomes}"
    finish_first.set()
    first_thread.join(timeout=30)
    second_thread.join(timeout=30)

    assert isinstance(outcomes["agent"], Abandoned)
    assert isinstance(outcomes["agent2"], Customer), outcomes
    assert Customer.objects.get().owner == p.agent2
