"""The public pool page and claiming (公海, R6.1.1): branch rule, masking, cap, first claim wins."""

from __future__ import annotations

import datetime as dt
import html

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from anju.core.models import AuditEvent
from anju.customers.models import BranchCustomerSettings, Customer
from anju.customers.services.ownership import pool_release, pool_release_lapsed
from anju.testing import UserFactory

pytestmark = pytest.mark.django_db

POOL = reverse("customers:pool-list")


def claim_url(customer) -> str:
    return reverse("customers:pool-claim", args=[customer.pk])


@pytest.fixture(autouse=True)
def english(client):
    """Messages are asserted in the source language (the UI defaults to zh-Hans)."""
    client.defaults["HTTP_ACCEPT_LANGUAGE"] = "en"


@pytest.fixture
def pooled(p, register):
    """``pooled(owner, **register_kwargs)``: a customer registered by ``owner`` and released to the pool."""

    def _pooled(owner=None, **extra):
        owner = owner or p.agent
        customer = register(owner, **extra)
        return pool_release(actor=owner, customer=customer, reason="客户暂无购房计划")

    return _pooled


def rows(response) -> list[int]:
    return [customer.pk for customer in response.context["page_obj"]]


def test_agent_sees_own_branch_pool_with_masked_phones(p, login, pooled):
    first = pooled(p.agent, phone="13812340001", name="张三")
    second = pooled(p.agent, phone="13812340002", name="李四")

    response = login(p.agent2).get(POOL)

    assert response.status_code == 200
    assert sorted(rows(response)) == sorted([first.pk, second.pk])
    content = response.content.decode()
    assert "138****0001" in content and "138****0002" in content
    assert "13812340001" not in content and "13812340002" not in content
    assert "李置业" in content  # the former owner, by display name


def test_agent_of_another_branch_sees_nothing_of_branch_a_pool(p, login, pooled):
    mine = pooled(p.agent3, phone="13812349999")
    pooled(p.agent, phone="13812340001")

    client = login(p.agent3)
    assert rows(client.get(POOL)) == [mine.pk]


def test_agent_of_another_branch_cannot_claim_branch_a_pool(p, login, pooled):
    customer = pooled(p.agent)

    response = login(p.agent3).post(claim_url(customer))

    assert response.status_code == 404
    assert Customer.objects.get(pk=customer.pk).in_pool


def test_manager_sees_own_branch_pool_and_admin_every_branch(p, login, pooled):
    in_a = pooled(p.agent)
    in_b = pooled(p.agent3)

    assert rows(login(p.manager).get(POOL)) == [in_a.pk]
    assert sorted(rows(login(p.admin).get(POOL))) == sorted([in_a.pk, in_b.pk])


def test_former_owner_comes_from_the_lapse(p, login, register):
    customer = register(p.agent2)
    pool_release_lapsed(now=timezone.now() + dt.timedelta(days=31))

    response = login(p.agent).get(POOL)

    assert rows(response) == [customer.pk]
    assert response.context["page_obj"][0].former_owner_name == "赵置业"


def test_claim_makes_the_agent_owner_and_opens_the_customer(p, login, pooled):
    customer = pooled(p.agent)

    response = login(p.agent2).post(claim_url(customer))

    assert response.status_code == 302
    assert response["Location"] == reverse("customers:customer-detail", args=[customer.pk])
    customer.refresh_from_db()
    assert customer.owner == p.agent2 and customer.team == p.team_a2 and not customer.in_pool
    assert AuditEvent.objects.filter(action="customers.customer.claimed", target_id=str(customer.pk)).exists()
    assert rows(login(p.agent2).get(POOL)) == []


def test_claim_needs_post(p, login, pooled):
    customer = pooled(p.agent)
    assert login(p.agent2).get(claim_url(customer)).status_code == 405
    assert Customer.objects.get(pk=customer.pk).in_pool


def test_claim_over_the_cap_is_refused_with_a_message(p, login, pooled):
    BranchCustomerSettings.objects.create(branch=p.branch_a, pool_claim_cap=1)
    first, second = pooled(p.agent), pooled(p.agent)
    client = login(p.agent2)
    client.post(claim_url(first))

    response = client.post(claim_url(second), follow=True)

    assert response.redirect_chain[-1][0] == POOL
    assert "You already hold 1 customers claimed from the pool." in response.content.decode()
    assert Customer.objects.get(pk=second.pk).in_pool
    assert response.context["holding"] == 1 and response.context["cap"] == 1


def test_holding_count_and_cap_are_shown(p, login, pooled):
    customer = pooled(p.agent)
    client = login(p.agent2)
    client.post(claim_url(customer))

    response = client.get(POOL)

    assert "You hold 1 of 20 claimed customers" in response.content.decode()


def test_second_claim_of_the_same_customer_is_refused(p, login, pooled):
    customer = pooled(p.agent)
    login(p.agent2).post(claim_url(customer))

    response = login(p.agent).post(claim_url(customer), follow=True)

    assert "This customer is no longer in the public pool." in response.content.decode()
    assert Customer.objects.get(pk=customer.pk).owner == p.agent2


def test_customer_never_in_the_pool_is_not_found(p, login, register):
    protected = register(p.agent)
    assert login(p.agent2).post(claim_url(protected)).status_code == 404
    assert Customer.objects.get(pk=protected.pk).owner == p.agent


def test_claim_from_another_branch_pool_is_refused_with_a_message(p, login, pooled):
    # A company-wide administrator seated in store B sees branch A's pool but may not claim from it.
    admin_b = UserFactory(username="admin_b", roles=["administrator"], branch=p.branch_b)
    customer = pooled(p.agent)

    response = login(admin_b).post(claim_url(customer), follow=True)

    assert "You can only claim customers from your own branch's pool." in html.unescape(response.content.decode())
    assert Customer.objects.get(pk=customer.pk).in_pool


@pytest.mark.parametrize("persona", ["legal", "cs", "finance", "auditor"])
def test_staff_without_add_customer_are_forbidden(p, login, pooled, persona):
    customer = pooled(p.agent)
    client = login(getattr(p, persona))
    assert client.get(POOL).status_code == 403
    assert client.post(claim_url(customer)).status_code == 403
    assert Customer.objects.get(pk=customer.pk).in_pool


def test_anonymous_is_sent_to_login(client, pooled):
    customer = pooled()
    for response in (client.get(POOL), client.post(claim_url(customer))):
        assert response.status_code == 302 and "/login/" in response["Location"]


def test_search_by_name_last_four_and_full_phone(p, login, pooled):
    zhang = pooled(p.agent, phone="13812345678", name="张伟")
    wang = pooled(p.agent, phone="13987654321", name="王芳")
    client = login(p.agent2)

    assert rows(client.get(POOL, {"q": "张"})) == [zhang.pk]
    assert rows(client.get(POOL, {"q": "4321"})) == [wang.pk]
    assert rows(client.get(POOL, {"q": "+86 138-1234-5678"}, follow=True)) == [zhang.pk]  # via ?qt= (issue #9)
    assert rows(client.get(POOL, {"q": "0000"})) == []


def test_filter_by_source_and_tier(p, login, pooled):
    online = pooled(p.agent, source="online", value_tier="A")
    walk_in = pooled(p.agent, source="walk_in", value_tier="C")
    client = login(p.agent2)

    assert rows(client.get(POOL, {"source": "online"})) == [online.pk]
    assert rows(client.get(POOL, {"tier": "C"})) == [walk_in.pk]
    assert sorted(rows(client.get(POOL, {"source": "bogus"}))) == sorted([online.pk, walk_in.pk])


def test_htmx_request_gets_only_the_rows(p, login, pooled):
    pooled(p.agent)
    response = login(p.agent2).get(POOL, headers={"HX-Request": "true"})
    assert response.templates[0].name == "customers/partials/_pool_rows.html"
    assert b"<html" not in response.content


def test_pool_page_is_paginated(p, login, pooled):
    for _ in range(52):
        pooled(p.agent)
    client = login(p.agent2)
    assert len(rows(client.get(POOL))) == 50
    assert len(rows(client.get(POOL, {"page": 2}))) == 2


def test_pool_page_query_count_does_not_grow_with_rows(p, login, pooled, django_assert_max_num_queries):
    client = login(p.agent2)
    pooled(p.agent)
    with CaptureQueriesContext(connection) as few:
        client.get(POOL)
    for _ in range(20):
        pooled(p.agent)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(POOL)
    assert len(rows(response)) == 21


def test_sidebar_links_the_pool_for_sales_staff_only(p, login):
    assert POOL in login(p.agent).get(reverse("home")).content.decode()
    assert POOL not in login(p.legal).get(reverse("home")).content.decode()
