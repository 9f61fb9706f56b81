"""Every route that takes an object id keeps the data scope (DESIGN.md §1, R1.1.3).

Generated from the URL configuration and the API schema: for each route with a path parameter
the user who has the record in scope gets the page (or a refusal of the empty form), and a user
with the same permissions who does not gets a 404 — never a 403, never the data. The fixtures
live in tests/route_fixtures.py; a route without one (and without an exemption) fails
``test_every_route_with_an_id_has_a_scope_fixture``, so new routes are covered from day one.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.route_fixtures import API, EXEMPT, EXEMPT_NAMESPACES, PAGES, Case, World

pytestmark = pytest.mark.django_db

# What the insider may get: the page itself for a GET; for a POST (empty or invalid data) the form
# again, a redirect with a message, or a refusal of the data — anything but "not found".
GET_OK = {200}
POST_OK = {200, 201, 204, 302, 400, 409, 422}


# --- discovery --------------------------------------------------------------------------------


def _parameters(pattern) -> set[str]:
    converters = set(getattr(pattern, "converters", {}) or {})
    regex = getattr(pattern, "regex", None)
    return converters | set(regex.groupindex if regex is not None else ())


def page_routes() -> dict[str, str]:
    """``{key: route}`` of every URL pattern with a path parameter, outside the API and the exempt namespaces.

    The key is ``namespace:name``; an unnamed pattern is keyed by its route. The API's patterns are
    left out: its operations come from the OpenAPI schema (one URL pattern serves several methods).
    """
    found: dict[str, str] = {}

    def walk(patterns, prefix: str, namespace: str, inherited: set[str]) -> None:
        for entry in patterns:
            if isinstance(entry, URLResolver):
                inner = ":".join(part for part in (namespace, entry.namespace) if part)
                walk(entry.url_patterns, prefix + str(entry.pattern), inner, inherited | _parameters(entry.pattern))
                continue
            assert isinstance(entry, URLPattern)
            if getattr(entry.callback, "__module__", "").startswith("ninja."):
                continue
            if namespace.split(":")[0] in EXEMPT_NAMESPACES:
                continue
            if not (inherited | _parameters(entry.pattern)):
                continue
            route = prefix + str(entry.pattern)
            key = (f"{namespace}:{entry.name}" if namespace else entry.name) if entry.name else route
            found[key] = route

    walk(get_resolver().url_patterns, "/", "", set())
    return found


def api_operations() -> dict[str, str]:
    """``{"METHOD /api/v1/path": path}`` of every API operation with a path parameter."""
    from anju.core.api import api

    found = {}
    for path, operations in api.get_openapi_schema()["paths"].items():
        for method, operation in operations.items():
            if any(parameter["in"] == "path" for parameter in operation.get("parameters", [])):
                found[f"{method.upper()} {path}"] = path
    return found


PAGE_ROUTES = page_routes()
API_OPERATIONS = api_operations()


# --- the meta-check ---------------------------------------------------------------------------


def test_every_route_with_an_id_has_a_scope_fixture():
    missing = sorted(set(PAGE_ROUTES) - set(PAGES) - set(EXEMPT)) + sorted(set(API_OPERATIONS) - set(API))
    assert not missing, (
        "These routes take an object id but have no scope fixture in tests/route_fixtures.py "
        "(add one to PAGES / API, or an exemption with its reason to EXEMPT):\n  " + "\n  ".join(missing)
    )
    stale = sorted(set(PAGES) - set(PAGE_ROUTES)) + sorted(set(API) - set(API_OPERATIONS))
    assert not stale, "Scope fixtures for routes that no longer exist:\n  " + "\n  ".join(stale)
    assert not set(PAGES) & set(EXEMPT), "A route is both exempt and covered"
    assert all(reason.strip() for reason in [*EXEMPT.values(), *EXEMPT_NAMESPACES.values()])


def test_discovery_finds_pages_and_api_operations():
    """Guards the walk itself: a broken walk would find nothing and pass the meta-check vacuously."""
    assert "customers:customer-detail" in PAGE_ROUTES
    assert "customers:roster-skip" in PAGE_ROUTES  # two ids
    assert "GET /api/v1/customers/{customer_id}" in API_OPERATIONS
    assert "PATCH /api/v1/customers/{customer_id}" in API_OPERATIONS  # same path, another method
    assert not any(key.startswith("api:") for key in PAGE_ROUTES)


# --- the scope check --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One set of records for the module, rolled back at its end (each test runs in a savepoint)."""
    from django.db import transaction

    with django_db_blocker.unblock(), transaction.atomic():
        yield World()
        transaction.set_rollback(True)


def _page_request(user, key: str, case: Case):
    client = Client()
    client.force_login(user)
    url = reverse(key, kwargs=case.params)
    headers = {"HX-Request": "true"} if case.htmx else {}
    if case.post:
        return client.post(url, case.data or {}, headers=headers)
    return client.get(url, headers=headers)


def _api_request(user, key: str, case: Case):
    client = Client(enforce_csrf_checks=False)  # the session authenticates; CSRF is not under test here
    client.force_login(user)
    method, path = key.split(" ", 1)
    url = path.format(**case.params)
    if case.data is None:
        return client.generic(method, url)
    return client.generic(method, url, json.dumps(case.data), content_type="application/json")


def _insider_ok(method: str, response) -> None:
    expected = GET_OK if method == "GET" else POST_OK
    assert response.status_code in expected, (
        f"the user with the record in scope got {response.status_code}: {response.content[:300]!r}"
    )


def _check(key: str, case: Case, request, method: str, *, api: bool) -> None:
    # The outsider goes first: a write they could wrongly make must not be hidden by the insider's.
    outside = request(case.outsider, key, case)
    assert outside.status_code == 404, (
        f"{case.outsider.username} (out of scope) got {outside.status_code} instead of 404 on {key}"
    )
    if api:
        assert outside.json()["error"]["code"] == "not_found"
    for user in case.also_refused:
        refused = request(user, key, case)
        assert refused.status_code in (403, 404), (
            f"{user.username} sees the record but may not change it, yet got {refused.status_code} on {key}"
        )
    _insider_ok(method, request(case.insider, key, case))


@pytest.mark.parametrize("key", sorted(set(PAGES) & set(PAGE_ROUTES)))
def test_page_route_is_404_outside_the_scope(world, key):
    case = PAGES[key](world)
    _check(key, case, _page_request, "POST" if case.post else "GET", api=False)


@pytest.mark.parametrize("key", sorted(set(API) & set(API_OPERATIONS)))
def test_api_operation_is_404_outside_the_scope(world, key):
    _check(key, API[key](world), _api_request, key.split(" ", 1)[0], api=True)
