"""A phone number searched for on the customer and pool lists never enters a URL (issue #9 defect 2, R5.2.2)."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from anju.core import private_search
from anju.core.models import AuditEvent
from anju.customers.services.ownership import pool_release
from tests.helpers import as_user, csv_rows

pytestmark = pytest.mark.django_db

LIST = reverse("customers:customer-list")
EXPORT = reverse("customers:customer-export")
POOL = reverse("customers:pool-list")
PHONE = "13812341234"


@pytest.fixture
def book(p, register):
    return {
        "zhang": register(p.agent, name="张三", phone=PHONE),
        "li": register(p.agent, name="李四", phone="13955556666"),
    }


def names_on_page(response) -> set[str]:
    return {customer.name for customer in response.context["page_obj"].object_list}


def token_of(url: str) -> str:
    (token,) = parse_qs(urlsplit(url).query)[private_search.SEARCH_PARAM]
    return token


def assert_no_number(text: str) -> None:
    assert "1381234" not in text and "138 1234" not in text and "138-1234" not in text


def test_posted_phone_search_leads_to_a_token_url_with_the_results(client, p, book):
    as_user(client, p.agent)
    response = client.post(LIST, {"q": "+86 138-1234-1234", "stage": "lead", "source": ""})
    assert response.status_code == 302
    location = response["Location"]
    assert_no_number(location)
    assert parse_qs(urlsplit(location).query)["stage"] == ["lead"]
    page = client.get(location)
    assert names_on_page(page) == {"张三"}
    assert not page.context["search_expired"]


@pytest.mark.parametrize(("term", "expected"), [("张", {"张三"}), ("6666", {"李四"})])
def test_names_and_last_four_digits_stay_readable_in_the_url(client, p, book, term, expected):
    response = as_user(client, p.agent).post(LIST, {"q": term})
    assert parse_qs(urlsplit(response["Location"]).query) == {"q": [term]}
    assert names_on_page(client.get(response["Location"])) == expected


def test_htmx_search_gets_hx_location_with_the_token_and_then_the_rows(client, p, book):
    as_user(client, p.agent)
    response = client.post(LIST, {"q": PHONE}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="customer-table")
    assert response.status_code == 200
    location = json.loads(response["HX-Location"])
    assert location["target"] == "#customer-table"
    assert_no_number(location["path"])
    rows = client.get(location["path"], HTTP_HX_REQUEST="true")
    assert rows.templates[0].name == "customers/partials/_customer_rows.html"
    assert names_on_page(rows) == {"张三"}


def test_the_same_term_keeps_its_token_and_the_session_holds_it_encrypted(client, p, book):
    as_user(client, p.agent)
    first = client.post(LIST, {"q": PHONE})["Location"]
    again = client.post(LIST, {"q": f" {PHONE} "})["Location"]
    assert token_of(first) == token_of(again)
    stored = client.session[private_search.SESSION_KEY]
    assert list(stored) == [token_of(first)]
    assert_no_number(json.dumps(stored))


def test_the_session_keeps_only_the_latest_searches(client, p, book):
    as_user(client, p.agent)
    tokens = [token_of(client.post(LIST, {"q": f"139{n:08d}"})["Location"]) for n in range(private_search.KEPT + 2)]
    stored = client.session[private_search.SESSION_KEY]
    assert len(stored) == private_search.KEPT
    assert tokens[0] not in stored and tokens[-1] in stored


def test_another_users_session_cannot_use_the_token(p, book):
    agent, manager = Client(), Client()
    location = as_user(agent, p.agent).post(LIST, {"q": PHONE})["Location"]
    # The manager may see 张三 (same branch) — but not through the agent's token.
    shared = as_user(manager, p.manager).get(location)
    assert shared.status_code == 200
    assert names_on_page(shared) == set()
    assert shared.context["search_expired"]
    assert b'data-testid="search-expired"' in shared.content
    own = manager.get(manager.post(LIST, {"q": PHONE})["Location"])
    assert names_on_page(own) == {"张三"}


def test_no_link_on_the_result_page_holds_the_number(client, p, book):
    as_user(client, p.agent)
    page = client.get(client.post(LIST, {"q": PHONE})["Location"])
    content = page.content.decode()
    links = re.findall(r'(?:href|hx-get|hx-post|action)="([^"]*)"', content)
    assert any("export" in link and "qt=" in link for link in links)
    for link in links:
        assert_no_number(link)
    # Pagination and sort links are built from the query string: it carries the token only.
    assert private_search.SEARCH_PARAM in page.wsgi_request.GET and "q" not in page.wsgi_request.GET


def test_the_search_form_posts_with_csrf_and_pushes_no_url_itself(client, p, book):
    content = as_user(client, p.agent).get(LIST).content.decode()
    form = re.search(r'<form[^>]*data-testid="customer-filter"[^>]*>', content).group(0)
    assert 'method="post"' in form and "hx-post=" in form
    assert "hx-get=" not in form and "hx-push-url" not in form
    assert 'hx-history="false"' in form
    assert 'name="csrfmiddlewaretoken"' in content


def test_old_style_phone_url_redirects_to_the_token_and_keeps_the_other_filters(client, p, book):
    as_user(client, p.agent)
    response = client.get(LIST, {"q": PHONE, "stage": "lead", "page": "1"})
    assert response.status_code == 302
    assert_no_number(response["Location"])
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["stage"] == ["lead"] and query["page"] == ["1"]
    assert names_on_page(client.get(response["Location"])) == {"张三"}
    assert client.get(LIST, {"q": "张"}).status_code == 200  # a name stays a plain GET


def test_export_follows_the_token(client, p, book):
    as_user(client, p.agent)
    token = token_of(client.post(LIST, {"q": PHONE})["Location"])
    rows = csv_rows(client.get(EXPORT, {private_search.SEARCH_PARAM: token, "format": "csv"}))
    assert [row[0] for row in rows[1:]] == ["张三"]
    event = AuditEvent.objects.get(action="customers.customer.exported")
    assert event.after["filters"] == {"search": "138****1234"}


def test_export_with_someone_elses_token_is_refused_not_widened(p, book):
    agent, manager = Client(), Client()
    token = token_of(as_user(agent, p.agent).post(LIST, {"q": PHONE})["Location"])
    response = as_user(manager, p.manager).get(EXPORT, {private_search.SEARCH_PARAM: token})
    assert response.status_code == 302 and response["Location"] == LIST
    assert not AuditEvent.objects.filter(action="customers.customer.exported").exists()


def test_pool_search_posts_and_uses_a_token(p, book):
    pool_release(actor=p.agent, customer=book["zhang"], reason="客户暂无购房计划")
    agent2, other = Client(), Client()
    as_user(agent2, p.agent2)
    response = agent2.post(POOL, {"q": PHONE, "tier": ""})
    assert response.status_code == 302
    assert_no_number(response["Location"])
    assert [c.pk for c in agent2.get(response["Location"]).context["page_obj"]] == [book["zhang"].pk]
    shared = as_user(other, p.agent).get(response["Location"])
    assert shared.context["search_expired"] and list(shared.context["page_obj"]) == []
    form = re.search(r'<form[^>]*data-testid="pool-filter"[^>]*>', shared.content.decode()).group(0)
    assert 'method="post"' in form and "hx-push-url" not in form


def test_searching_still_needs_the_list_permission(client, p, book):
    p.agent.roles.clear()
    assert as_user(client, p.agent).post(LIST, {"q": PHONE}).status_code == 403
    assert client.post(POOL, {"q": PHONE}).status_code == 403
