"""The customer list, its search, filters and sorts, and the masked CSV / XLSX export (R5.2.2, R6.1.1)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from anju.core.models import AuditEvent
from anju.customers.models import Customer
from anju.customers.services.customers import customer_change_stage
from anju.customers.services.ownership import pool_release
from tests.helpers import as_user, csv_rows, xlsx_rows, xlsx_workbook

pytestmark = pytest.mark.django_db

LIST = reverse("customers:customer-list")
EXPORT = reverse("customers:customer-export")


def names_on_page(response) -> set[str]:
    return {customer.name for customer in response.context["page_obj"].object_list}


def names_in_order(response) -> list[str]:
    return [customer.name for customer in response.context["page_obj"].object_list]


@pytest.fixture
def book(p, register):
    """Customers across the company: two of agent's (team A1), one of agent2's (A2), one of agent3's (branch B)."""
    return {
        "zhang": register(p.agent, name="张三", phone="13812341234", tags=["学区房"], value_tier="A"),
        "li": register(p.agent, name="李四", phone="13955556666", source="referral"),
        "wang": register(p.agent2, name="王五", phone="13677778888", source="online"),
        "zhao": register(p.agent3, name="赵六", phone="13700001111"),
    }


# --- who sees what ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [
        ("agent", {"张三", "李四"}),
        ("agent2", {"王五"}),
        ("agent3", {"赵六"}),
        ("lead", {"张三", "李四"}),
        ("manager", {"张三", "李四", "王五"}),
        ("cs", {"张三", "李四", "王五"}),
        ("legal", {"张三", "李四", "王五"}),
        ("qa", {"张三", "李四", "王五", "赵六"}),
        ("admin", {"张三", "李四", "王五", "赵六"}),
    ],
)
def test_list_shows_only_customers_in_the_viewers_scope(client, p, book, persona, expected):
    response = as_user(client, getattr(p, persona)).get(LIST)
    assert response.status_code == 200
    assert names_on_page(response) == expected


def test_anonymous_is_sent_to_login_and_roleless_refused(client, p):
    response = client.get(LIST)
    assert response.status_code == 302 and "login" in response["Location"]
    assert client.get(EXPORT).status_code == 302
    p.agent.roles.clear()
    assert as_user(client, p.agent).get(LIST).status_code == 403


def test_agent2_cannot_find_agents_customer_by_page_search_or_export(client, p, book):
    as_user(client, p.agent2)
    assert "张三" not in client.get(LIST).content.decode()
    for term in ("张三", "13812341234", "1234"):
        response = client.post(LIST, {"q": term}, follow=True)  # the search form posts (issue #9)
        assert names_on_page(response) == set()
        assert b'data-testid="customer-row"' not in response.content
    exported = [row[0] for row in csv_rows(client.get(EXPORT, {"format": "csv"}))[1:]]
    assert exported == ["王五"]
    exported = [row[0] for row in xlsx_rows(client.get(EXPORT, {"format": "xlsx"}))[1:]]
    assert exported == ["王五"]


def test_customers_in_the_public_pool_are_not_listed(client, p, book):
    pool_release(actor=p.agent, customer=book["li"], reason="客户不再考虑")
    assert names_on_page(as_user(client, p.manager).get(LIST)) == {"张三", "王五"}


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize("term", ["13812341234", "138 1234 1234", "+86 138-1234-1234", "0086 13812341234"])
def test_search_by_full_phone_uses_the_blind_index(client, p, book, term):
    response = as_user(client, p.agent).post(LIST, {"q": term}, follow=True)
    assert names_on_page(response) == {"张三"}


def test_search_by_full_phone_is_an_exact_match(client, p, book):
    assert names_on_page(as_user(client, p.agent).post(LIST, {"q": "13812341235"}, follow=True)) == set()


def test_search_by_last_four_digits(client, p, book, register):
    register(p.agent, name="张三丰", phone="13099991234")
    response = as_user(client, p.agent).get(LIST, {"q": "1234"})
    assert names_on_page(response) == {"张三", "张三丰"}
    assert names_on_page(client.get(LIST, {"q": "6666"})) == {"李四"}


def test_search_by_part_of_the_name(client, p, book):
    assert names_on_page(as_user(client, p.manager).get(LIST, {"q": "王"})) == {"王五"}
    assert names_on_page(client.get(LIST, {"q": "三"})) == {"张三"}


def test_phone_is_masked_on_the_page(client, p, book):
    content = as_user(client, p.agent).get(LIST).content.decode()
    assert "138****1234" in content
    assert "13812341234" not in content and "13955556666" not in content


def test_protection_ending_within_three_days_is_flagged(client, p, book):
    Customer.objects.filter(pk=book["zhang"].pk).update(protected_until=timezone.now() + dt.timedelta(days=2))
    content = as_user(client, p.agent).get(LIST).content.decode()
    assert content.count('data-testid="protection-ending"') == 1


# --- filters and sorts --------------------------------------------------------------------------


def test_filters_by_stage_source_tier_and_tag(client, p, book):
    customer_change_stage(actor=p.agent, customer=book["li"], to_stage="visited")
    as_user(client, p.manager)
    assert names_on_page(client.get(LIST, {"stage": "visited"})) == {"李四"}
    assert names_on_page(client.get(LIST, {"source": "online"})) == {"王五"}
    assert names_on_page(client.get(LIST, {"value_tier": "A"})) == {"张三"}
    assert names_on_page(client.get(LIST, {"tag": "学区房"})) == {"张三"}
    assert names_on_page(client.get(LIST, {"stage": "lead", "source": "walk_in"})) == {"张三"}


def test_filters_by_owner_and_team(client, p, book):
    as_user(client, p.manager)
    assert names_on_page(client.get(LIST, {"owner": p.agent2.pk})) == {"王五"}
    assert names_on_page(client.get(LIST, {"team": p.team_a1.pk})) == {"张三", "李四"}


def test_owner_and_team_filters_offer_only_what_the_viewer_may_see(client, p, book):
    form = as_user(client, p.manager).get(LIST).context["form"]
    assert set(form.fields["owner"].queryset) == {p.agent, p.agent2, p.lead, p.manager}
    assert set(form.fields["team"].queryset) == {p.team_a1, p.team_a2}
    # An out-of-scope owner is not a valid choice: the filter is ignored, the scope still applies.
    assert names_on_page(client.get(LIST, {"owner": p.agent3.pk})) == {"张三", "李四", "王五"}
    agent_form = as_user(client, p.agent).get(LIST).context["form"]
    assert "owner" not in agent_form.fields and "team" not in agent_form.fields


def test_sorts(client, p, book):
    now = timezone.now()
    Customer.objects.filter(pk=book["zhang"].pk).update(
        protected_until=now + dt.timedelta(days=5), last_contact_at=now - dt.timedelta(days=9)
    )
    Customer.objects.filter(pk=book["li"].pk).update(
        protected_until=now + dt.timedelta(days=1), last_contact_at=now - dt.timedelta(days=1)
    )
    Customer.objects.filter(pk=book["wang"].pk).update(
        protected_until=now + dt.timedelta(days=20), last_contact_at=now - dt.timedelta(days=3)
    )
    as_user(client, p.manager)
    assert names_in_order(client.get(LIST, {"sort": "protection"})) == ["李四", "张三", "王五"]
    assert names_in_order(client.get(LIST, {"sort": "contact"})) == ["李四", "王五", "张三"]
    assert names_in_order(client.get(LIST, {"sort": "created"})) == ["王五", "李四", "张三"]
    assert names_in_order(client.get(LIST, {"sort": "name"})) == sorted(["张三", "李四", "王五"])
    customer_change_stage(actor=p.agent, customer=book["zhang"], to_stage="visited")
    assert names_in_order(client.get(LIST))[0] == "张三"  # default: recently updated first


def test_pagination_is_fifty_rows(client, p, register):
    for number in range(52):
        register(p.agent, name=f"客户{number:02d}", phone=f"1380000{number:04d}")
    as_user(client, p.agent)
    first = client.get(LIST)
    assert len(first.context["page_obj"].object_list) == 50
    assert len(client.get(LIST, {"page": 2}).context["page_obj"].object_list) == 2


def test_htmx_request_gets_only_the_rows(client, p, book):
    response = as_user(client, p.agent).get(LIST, {"q": "张"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.templates[0].name == "customers/partials/_customer_rows.html"
    assert b"<html" not in response.content
    assert response.content.count(b'data-testid="customer-row"') == 1
    assert "HX-Request" in response["Vary"]


def test_list_query_count_does_not_grow_with_rows(client, p, register, django_assert_max_num_queries):
    for number in range(5):
        register(p.agent, phone=f"1381111{number:04d}", tags=["学区房", "改善"])
    as_user(client, p.manager)
    with CaptureQueriesContext(connection) as few:
        assert client.get(LIST).status_code == 200
    for number in range(25):
        register(p.agent2, phone=f"1382222{number:04d}", tags=["投资"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get(LIST)
    assert len(response.context["page_obj"].object_list) == 30


def test_export_query_count_does_not_grow_with_rows(client, p, register, django_assert_max_num_queries):
    for number in range(5):
        register(p.agent, phone=f"1381111{number:04d}", tags=["学区房"])
    as_user(client, p.manager)
    with CaptureQueriesContext(connection) as few:
        assert len(xlsx_rows(client.get(EXPORT, {"format": "xlsx"}))) == 6
    for number in range(25):
        register(p.agent2, phone=f"1382222{number:04d}", tags=["投资"])
    with django_assert_max_num_queries(len(few.captured_queries)):
        assert len(xlsx_rows(client.get(EXPORT, {"format": "xlsx"}))) == 31


# --- export -------------------------------------------------------------------------------------


def test_csv_export_is_masked_scoped_and_audited(client, p, book):
    response = as_user(client, p.manager).get(EXPORT, {"format": "csv"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = csv_rows(response)
    assert rows[0][:3] == ["Name", "Mobile phone", "Stage"]
    assert len(rows[0]) == 12
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"张三", "李四", "王五"}
    assert by_name["张三"][1] == "138****1234"
    assert by_name["张三"][6] == "李置业" and by_name["张三"][9] == "学区房"
    body = "\n".join(",".join(row) for row in rows)
    for customer in Customer.objects.all():
        assert customer.phone not in body
    event = AuditEvent.objects.get(action="customers.customer.exported")
    assert event.actor == p.manager
    assert event.after == {"format": "csv", "filters": {}, "rows": 3}


def test_xlsx_export_has_a_bold_frozen_header_and_masked_phones(client, p, book):
    response = as_user(client, p.agent).get(EXPORT, {"format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    assert ".xlsx" in response["Content-Disposition"]
    workbook = xlsx_workbook(response)
    sheet = workbook.active
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.bold
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert len(rows[0]) == 12
    by_name = {row[0]: row for row in rows[1:]}
    assert set(by_name) == {"张三", "李四"}
    assert by_name["张三"][1] == "138****1234" and by_name["李四"][1] == "139****6666"
    assert isinstance(by_name["张三"][11], dt.datetime)
    cells = " ".join(str(value) for row in rows for value in row)
    assert "13812341234" not in cells and "13955556666" not in cells
    assert AuditEvent.objects.get(action="customers.customer.exported").after["rows"] == 2


def test_export_is_masked_even_for_users_who_may_reveal(client, p, book):
    assert p.agent.has_perm("customers.reveal_customer_contact")
    rows = csv_rows(as_user(client, p.agent).get(EXPORT))
    assert {row[1] for row in rows[1:]} == {"138****1234", "139****6666"}


def test_export_keeps_the_filters_and_masks_a_searched_phone_in_the_audit(client, p, book):
    as_user(client, p.manager)
    rows = csv_rows(client.get(EXPORT, {"q": "+86 138 1234 1234", "stage": "lead", "sort": "name"}))
    assert [row[0] for row in rows[1:]] == ["张三"]
    event = AuditEvent.objects.get(action="customers.customer.exported")
    assert event.after["filters"] == {"search": "138****1234", "stage": "lead"}
    assert event.after["rows"] == 1
    assert "13812341234" not in str(event.after)
    client.get(EXPORT, {"q": "张"})
    assert AuditEvent.objects.filter(action="customers.customer.exported").order_by("seq").last().after["filters"] == {
        "search": "张"
    }


def test_export_cells_cannot_smuggle_formulas(client, p, register):
    register(p.agent, name="=HYPERLINK(1)", phone="13812341234")
    as_user(client, p.agent)
    assert csv_rows(client.get(EXPORT))[1][0] == "'=HYPERLINK(1)"
    workbook = xlsx_workbook(client.get(EXPORT, {"format": "xlsx"}))
    cell = workbook.active["A2"]
    assert cell.data_type == "s" and cell.value == "=HYPERLINK(1)"


@pytest.mark.parametrize("persona", ["legal", "finance", "cs", "qa", "auditor"])
def test_export_is_refused_without_the_export_permission(client, p, book, persona):
    response = as_user(client, getattr(p, persona)).get(EXPORT, {"format": "xlsx"})
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="customers.customer.exported").exists()


def test_legal_may_list_but_sees_no_export_button(client, p, book):
    response = as_user(client, p.legal).get(LIST)
    assert response.status_code == 200
    assert b'data-testid="customer-export-csv"' not in response.content
    assert b'data-testid="customer-export-csv"' in as_user(client, p.agent).get(LIST).content


def test_agent2_gets_404_on_agents_customer_detail(client, p, book):
    detail = reverse("customers:customer-detail", args=[book["zhang"].pk])
    assert as_user(client, p.agent2).get(detail).status_code == 404
    assert as_user(client, p.agent).get(detail).status_code == 200
