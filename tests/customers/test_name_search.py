"""Customer name search through the name grams (R2.4.1 customer file, R5.2.2 protection):
substrings of one, two, three and more characters, full-width / space insensitive, only
contiguous characters, follows a rename, never outside the viewer's data scope, and the
migration backfills existing customers."""

from __future__ import annotations

from importlib import import_module

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from anju.customers.models import Customer, CustomerNameGram
from anju.customers.selectors import customer_list_for, pool_list_for
from anju.customers.services.customers import customer_update
from anju.customers.services.reception import visit_register

pytestmark = pytest.mark.django_db

LIST = reverse("customers:customer-list")


def found(user, term: str) -> set[int]:
    return set(customer_list_for(user, search=term).values_list("pk", flat=True))


@pytest.fixture
def names(p, register):
    """Agent's (team A1) customers with overlapping names, one of agent2's (A2), one of agent3's (branch B)."""
    return {
        "ouyang": register(p.agent, name="欧阳明轩").pk,
        "wangxuan": register(p.agent, name="王轩").pk,
        "wangxm": register(p.agent, name="王小明").pk,
        "trap": register(p.agent, name="轩明轩").pk,
        "mary": register(p.agent, name="Mary Wang").pk,
        "wang2": register(p.agent2, name="王五").pk,
        "wang3": register(p.agent3, name="王六").pk,
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("王", {"wangxuan", "wangxm"}),  # one character
        ("轩", {"ouyang", "wangxuan", "trap"}),
        ("王轩", {"wangxuan"}),  # two characters
        ("明轩", {"ouyang", "trap"}),
        ("欧阳明", {"ouyang"}),  # three characters inside a four-character name
        ("阳明轩", {"ouyang"}),
        ("欧阳明轩", {"ouyang"}),  # the whole name
        ("王小明", {"wangxm"}),
        ("ywa", {"mary"}),  # across the space in the stored name
    ],
)
def test_name_substrings_of_any_length_are_found(p, names, term, expected):
    assert found(p.agent, term) == {names[key] for key in expected}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("欧阳　明", "ouyang"),  # an ideographic (full-width) space
        (" 欧阳 明轩 ", "ouyang"),
        ("欧 阳", "ouyang"),
        ("ＭＡＲＹ ＷＡＮＧ", "mary"),  # full-width letters, upper case
        ("marywang", "mary"),
        ("ｍａｒｙ", "mary"),
    ],
)
def test_name_search_ignores_full_width_case_and_spaces(p, names, term, expected):
    assert found(p.agent, term) == {names[expected]}


@pytest.mark.parametrize("term", ["欧明", "王明", "欧阳轩", "明轩明", "王轩明", "欧阳明轩王", "张"])
def test_name_search_matches_only_contiguous_characters(p, names, term):
    # 明轩明: both of its bigrams (明轩, 轩明) are in 轩明轩, but the term is not.
    assert found(p.agent, term) == set()


def test_name_search_follows_a_rename(p, names):
    customer = Customer.objects.get(pk=names["ouyang"])
    customer_update(actor=p.agent, customer=customer, name="司马娜娜")
    assert found(p.agent, "明轩") == {names["trap"]}
    assert found(p.agent, "欧阳") == set()
    assert found(p.agent, "司马娜") == {names["ouyang"]}
    assert found(p.agent, "娜") == {names["ouyang"]}
    customer_update(actor=p.agent, customer=Customer.objects.get(pk=names["ouyang"]), gender="male")
    assert found(p.agent, "司马娜娜") == {names["ouyang"]}


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("agent", {"wangxuan", "wangxm"}),
        ("agent2", {"wang2"}),
        ("agent3", {"wang3"}),
        ("lead", {"wangxuan", "wangxm"}),
        ("manager", {"wangxuan", "wangxm", "wang2"}),
        ("admin", {"wangxuan", "wangxm", "wang2", "wang3"}),
        ("qa", {"wangxuan", "wangxm", "wang2", "wang3"}),
    ],
)
def test_name_search_stays_within_the_data_scope(p, names, persona, expected):
    assert found(getattr(p, persona), "王") == {names[key] for key in expected}


def test_an_agent_never_finds_another_agents_customer_by_name(client, p, names):
    assert found(p.agent, "王五") == set()
    assert found(p.agent, "五") == set()
    assert names["wang2"] not in found(p.agent, "王")
    assert found(p.agent2, "王小明") == set()
    client.force_login(p.agent)
    response = client.get(LIST, {"q": "王五"})
    assert response.status_code == 200
    assert [c.pk for c in response.context["page_obj"].object_list] == []
    response = client.get(LIST, {"q": "王小"})
    assert [c.pk for c in response.context["page_obj"].object_list] == [names["wangxm"]]


def test_a_walk_in_registered_at_the_desk_is_found_by_name(p):
    visit = visit_register(actor=p.cs, branch=p.branch_a, phone="13955556666", name="诸葛 亮")
    assert found(p.manager, "葛亮") == {visit.customer_id}
    assert found(p.manager, "诸葛亮") == {visit.customer_id}


def test_the_pool_page_finds_names_the_same_way(p, register):
    from anju.customers.services.ownership import pool_release

    customer = register(p.agent, name="欧阳明轩")
    pool_release(actor=p.agent, customer=customer, reason="客户不再考虑")
    pks = {c.pk for c in pool_list_for(p.agent2, search="欧阳　明")}
    assert pks == {customer.pk}
    assert [c.pk for c in pool_list_for(p.agent2, search="欧明")] == []


def test_searching_by_name_does_not_add_queries_to_the_list_page(client, p, names):
    client.force_login(p.manager)
    with CaptureQueriesContext(connection) as plain:
        assert client.get(LIST).status_code == 200
    for term in ("王", "王轩", "欧阳明"):
        with CaptureQueriesContext(connection) as searched:
            assert client.get(LIST, {"q": term}).status_code == 200
        assert len(searched.captured_queries) <= len(plain.captured_queries)


def test_the_migration_backfills_grams_of_existing_customers(p, names):
    # Customers as they were before the migration: no normalised name, no grams.
    CustomerNameGram.objects.all().delete()
    Customer.objects.update(search_name="")
    assert found(p.admin, "王") == set()
    migration = import_module("anju.customers.migrations.0005_customer_name_grams")
    migration.backfill_name_grams(global_apps, None)
    assert found(p.admin, "王") == {names[key] for key in ("wangxuan", "wangxm", "wang2", "wang3")}
    assert found(p.admin, "欧阳明") == {names["ouyang"]}
    assert found(p.admin, "ywa") == {names["mary"]}
    assert found(p.admin, "明轩明") == set()
    # Running it again changes nothing.
    migration.backfill_name_grams(global_apps, None)
    assert found(p.admin, "明轩") == {names["ouyang"], names["trap"]}


def test_name_search_results_keep_every_sort_order(p, register):
    """Name searches of two or more characters sort through wrapped keys (so the database
    collects the matches first): the order must still be the one the user chose."""
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    ids = {}
    for offset, name in enumerate(["王小刚", "王小明", "王小红"]):
        ids[name] = register(p.agent, name=name).pk
        Customer.objects.filter(pk=ids[name]).update(
            updated_at=now - timedelta(hours=offset), protected_until=now + timedelta(days=10 - offset)
        )
    Customer.objects.filter(pk=ids["王小红"]).update(protected_until=None)

    def order(sort):
        return list(customer_list_for(p.agent, search="王小", sort=sort).values_list("name", flat=True))

    assert order("updated") == ["王小刚", "王小明", "王小红"]
    assert order("name") == sorted(["王小刚", "王小明", "王小红"])
    assert order("protection") == ["王小明", "王小刚", "王小红"]  # soonest first, none last
    sql = str(customer_list_for(p.agent, search="王小").query)
    assert "COALESCE" in sql.split("ORDER BY", 1)[1]
    assert "COALESCE" not in str(customer_list_for(p.agent, search="王").query)  # a surname: the index order
