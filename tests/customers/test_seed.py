"""seed_demo gives every featured agent customers in every stage, visits today, due and
overdue follow-ups, and each branch a public pool (issue #3 "Extend seed_demo")."""

import pytest
from django.utils import timezone

from anju.core import audit
from anju.customers.choices import Stage
from anju.customers.models import Customer, FollowUpTask, Visit
from anju.org import demo

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def seeded(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        from django.db import transaction

        with transaction.atomic():
            ctx = demo.seed()
            yield ctx
            transaction.set_rollback(True)


@pytest.mark.parametrize("username", ["agent", "agent2", "agent3"])
def test_each_featured_agent_has_customers_in_every_stage(seeded, username):
    agent = seeded.users[username]
    stages = set(Customer.objects.filter(owner=agent).values_list("stage", flat=True))
    assert stages == set(Stage.values)


@pytest.mark.parametrize("username", ["agent", "agent2", "agent3"])
def test_each_featured_agent_has_open_and_overdue_follow_ups(seeded, username):
    agent = seeded.users[username]
    now = timezone.now()
    open_tasks = FollowUpTask.objects.filter(assignee=agent, status="open")
    assert open_tasks.filter(due_at__lt=now).exists()
    assert open_tasks.filter(due_at__gte=now).exists()
    assert FollowUpTask.objects.filter(assignee=agent, status="done").exists()


def test_both_branches_have_visitors_today_and_a_public_pool(seeded):
    today = timezone.localdate()
    for key in ("a", "b"):
        branch = seeded.branches[key]
        assert Visit.objects.filter(branch=branch, arrived_at__date=today, status="waiting").exists()
        assert Customer.objects.filter(branch=branch, in_pool=True).exists()


def test_seeded_data_keeps_the_audit_chain_intact(seeded):
    assert audit.verify().ok
