"""Issue #9 defects 8 and 9: every integer parameter is bounded, every body must be a JSON object,
and whatever goes wrong the API answers in its one JSON error shape.

The operations come from the OpenAPI schema itself, so a new endpoint is covered the day it is added.
"""

import json
import logging

import pytest
from django.test import Client

from anju.core.api import MAX_ID, MAX_PAGE, api
from anju.core.models import AuditEvent
from anju.customers.models import Customer, CustomerNeeds
from anju.customers.services.customers import customer_register
from anju.listings.models import Listing, ListingVerification
from anju.listings.services.listings import listing_create
from tests.helpers import assert_error, listing_fields

pytestmark = pytest.mark.django_db

HUGE = 2**64  # the 9223372036854775807 is MAX_ID; one past every column
NOT_OBJECTS = ['"hello world"', "[]", "123", "[null, null]", "null"]
BODY_METHODS = {"post", "put", "patch"}


def operations():
    for path, item in api.get_openapi_schema()["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


def integer_parameters(operation) -> list[dict]:
    def is_integer(schema: dict) -> bool:
        return schema.get("type") == "integer" or any(is_integer(option) for option in schema.get("anyOf", []))

    return [param for param in operation.get("parameters", []) if is_integer(param["schema"])]


def body_operations():
    return [(method, path) for method, path, operation in operations() if "requestBody" in operation]


def fill(path: str, ids: dict[str, int] | None = None, **override) -> str:
    for name, value in {**(ids or {}), **override}.items():
        path = path.replace("{" + name + "}", str(value))
    # Any other path id: a record that does not exist (validation comes before any lookup).
    while "{" in path:
        start, end = path.index("{"), path.index("}")
        path = path[:start] + "1" + path[end + 1 :]
    return path


def call(client, method: str, url: str, body: str | None = None):
    if body is None:
        return getattr(client, method)(url)
    return getattr(client, method)(url, data=body, content_type="application/json")


@pytest.fixture
def admin_client(p):
    client = Client()
    client.force_login(p.admin)
    return client


@pytest.fixture
def records(p):
    """A customer and a listing of the agent's, so a refused body would have something to write to."""
    customer = customer_register(
        actor=p.agent, name="边界客户", phone="13900001111", source="walk_in", consent_channel="face_to_face"
    )
    listing = listing_create(actor=p.agent, **listing_fields(1))
    return {"customer_id": customer.pk, "listing_id": listing.pk}


def test_every_integer_parameter_is_bounded_in_the_schema():
    checked = 0
    for method, path, operation in operations():
        for param in integer_parameters(operation):
            schema = param["schema"]
            options = [schema, *schema.get("anyOf", [])]
            maximum = max((option["maximum"] for option in options if "maximum" in option), default=None)
            assert maximum is not None, f"{method.upper()} {path} ?{param['name']} has no maximum"
            assert maximum <= MAX_ID
            checked += 1
    assert checked >= 40


@pytest.mark.parametrize(("method", "path"), [(m, p) for m, p, o in operations() if integer_parameters(o)])
def test_a_huge_integer_in_any_parameter_is_a_json_422(p, admin_client, method, path):
    operation = api.get_openapi_schema()["paths"][path][method]
    for param in integer_parameters(operation):
        name = param["name"]
        url = fill(path, **{name: HUGE}) if param["in"] == "path" else f"{fill(path)}?{name}={HUGE}"
        response = call(admin_client, method, url, "{}" if method in BODY_METHODS else None)
        error = assert_error(response, 422, "validation_error")
        assert name in error["fields"], (method, url, error)


@pytest.mark.parametrize(
    ("url", "status"),
    [
        # The issue's own examples: the largest id a column holds is in range (nothing there: 404);
        # as a filter it simply matches nothing.
        (f"/api/v1/customers/{MAX_ID}", 404),
        (f"/api/v1/listings/{MAX_ID}/history", 404),
        (f"/api/v1/customers?owner={MAX_ID}&team={MAX_ID}", 200),
        (f"/api/v1/followups?assignee={MAX_ID}&customer={MAX_ID}", 200),
        (f"/api/v1/users?branch={MAX_ID}", 200),
        (f"/api/v1/listings?page={MAX_PAGE}", 200),
    ],
)
def test_the_largest_values_in_range_are_answered_normally(p, admin_client, url, status):
    response = admin_client.get(url)
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("value", [str(MAX_ID), str(MAX_PAGE + 1), "0", "-1", "1e3", "abc"])
def test_page_out_of_range_or_not_a_number_is_a_422(p, admin_client, value):
    error = assert_error(admin_client.get(f"/api/v1/customers?page={value}"), 422, "validation_error")
    assert "page" in error["fields"]


@pytest.mark.parametrize(("method", "path"), body_operations())
def test_a_body_that_is_not_a_json_object_is_a_422_and_writes_nothing(p, records, admin_client, method, path):
    events = AuditEvent.objects.count()
    customers, listings = Customer.objects.count(), Listing.objects.count()
    for body in NOT_OBJECTS:
        response = call(admin_client, method, fill(path, records), body)
        error = assert_error(response, 422, "validation_error")
        assert error["fields"] == {"__all__": [error["message"]]}, body
    assert AuditEvent.objects.count() == events
    assert (Customer.objects.count(), Listing.objects.count()) == (customers, listings)


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_reverify_with_a_string_body_neither_renames_nor_confirms_the_listing(p, body):
    """The issue's case: ``"hello world"`` set the title to ``Hello World``; ``[]`` recorded a re-verification."""
    listing = listing_create(actor=p.agent, **listing_fields(1))
    client = Client()
    client.force_login(p.agent)
    events = AuditEvent.objects.count()
    response = client.post(f"/api/v1/listings/{listing.pk}/reverify", data=body, content_type="application/json")
    assert_error(response, 422, "validation_error")
    listing.refresh_from_db()
    assert listing.title == listing_fields(1)["title"]
    assert not ListingVerification.objects.filter(listing=listing).exists()
    assert AuditEvent.objects.count() == events
    # The same agent with a real object body is still served: the refusal is about the shape only.
    response = client.post(
        f"/api/v1/listings/{listing.pk}/reverify",
        data={"note": "电话联系业主确认在售"},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert ListingVerification.objects.filter(listing=listing).count() == 1


@pytest.mark.parametrize(("method", "suffix"), [("patch", ""), ("put", "/needs")])
def test_customer_patch_and_needs_refuse_a_list_of_nulls(p, records, method, suffix):
    client = Client()
    client.force_login(p.agent)
    url = f"/api/v1/customers/{records['customer_id']}{suffix}"
    before = Customer.objects.get(pk=records["customer_id"]).updated_at
    assert_error(call(client, method, url, "[null, null]"), 422, "validation_error")
    assert Customer.objects.get(pk=records["customer_id"]).updated_at == before
    assert not CustomerNeeds.objects.filter(customer_id=records["customer_id"]).exists()
    # An object body is the accepted shape.
    assert call(client, method, url, json.dumps({"household_notes": "三口之家"})).status_code == 200


def test_malformed_json_is_a_400_and_an_empty_object_for_a_required_body_is_a_422(p, admin_client):
    assert_error(admin_client.post("/api/v1/listings", data="{", content_type="application/json"), 400, "bad_request")
    error = assert_error(
        admin_client.post("/api/v1/listings", data="{}", content_type="application/json"), 422, "validation_error"
    )
    assert "title" in error["fields"]


def test_a_body_sent_to_an_operation_without_one_is_ignored(p, admin_client):
    with_body = call(admin_client, "post", "/api/v1/visits/1/start", '"hello world"')
    without = call(admin_client, "post", "/api/v1/visits/1/start")
    assert (with_body.status_code, with_body.json()) == (without.status_code, without.json())
    assert_error(with_body, 404, "not_found")


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("title", "长" * 121),
        ("total_price", "999999999999"),
        ("total_price", "200000.01"),
        ("built_area", "0.5"),
        ("rooms", HUGE),
        ("tags", ["学" * 21]),
        ("project", HUGE),
    ],
)
def test_out_of_range_listing_fields_are_a_422_naming_the_field(p, field, value):
    client = Client()
    client.force_login(p.agent)
    body = {**listing_fields(1), "orientation": "south", "decoration": "fine", field: value}
    response = client.post("/api/v1/listings", data=body, content_type="application/json")
    error = assert_error(response, 422, "validation_error")
    assert any(name.split(".")[0] == field for name in error["fields"]), error
    assert not Listing.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"budget_max": HUGE}, "budget_max"),
        ({"budget_min": 2**31}, "budget_min"),
        ({"tags": ["标" * 31]}, "tags"),
        ({"name": "名" * 51}, "name"),
    ],
)
def test_out_of_range_customer_fields_are_a_422_naming_the_field(p, records, body, field):
    client = Client()
    client.force_login(p.agent)
    response = client.patch(f"/api/v1/customers/{records['customer_id']}", data=body, content_type="application/json")
    error = assert_error(response, 422, "validation_error")
    assert any(name.split(".")[0] == field for name in error["fields"]), error


def test_needs_amounts_are_bounded_by_their_column(p, records):
    client = Client()
    client.force_login(p.agent)
    url = f"/api/v1/customers/{records['customer_id']}/needs"
    error = assert_error(call(client, "put", url, json.dumps({"price_max": 2**31})), 422, "validation_error")
    assert "price_max" in error["fields"]
    assert call(client, "put", url, json.dumps({"price_max": 2**31 - 1})).status_code == 200


def test_an_unexpected_error_is_a_logged_json_500_not_an_html_page(p, admin_client, monkeypatch, caplog):
    def broken(user):
        raise OverflowError("Python int too large to convert to SQLite INTEGER")

    monkeypatch.setattr("anju.org.api.scope_of", broken)
    with caplog.at_level(logging.ERROR, logger="django.request"):
        response = admin_client.get("/api/v1/me")
    error = assert_error(response, 500, "server_error")
    assert "SQLite" not in error["message"]  # no internals in the answer
    assert response["Content-Type"].startswith("application/json")
    record = next(r for r in caplog.records if r.name == "django.request" and r.exc_info)
    assert record.exc_info[0] is OverflowError
    assert "/api/v1/me" in record.getMessage()


@pytest.mark.parametrize("day", ["9999-12-31", "0001-01-01", "1899-12-31", "3000-01-01"])
def test_a_day_at_the_ends_of_the_calendar_is_a_422_not_an_overflow(p, admin_client, day):
    """``?date=9999-12-31`` overflowed computing the day's end (500)."""
    error = assert_error(admin_client.get(f"/api/v1/visits?date={day}"), 422, "validation_error")
    assert "date" in error["fields"]
    assert admin_client.get("/api/v1/visits?date=2026-12-05").status_code == 200


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-12:00"])
def test_a_moment_at_the_ends_of_the_calendar_is_a_422_and_registers_no_visit(p, admin_client, moment):
    events = AuditEvent.objects.count()
    body = {"branch": p.branch_a.pk, "phone": "13900002222", "name": "访客", "arrived_at": moment}
    response = admin_client.post("/api/v1/visits", data=body, content_type="application/json")
    error = assert_error(response, 422, "validation_error")
    assert "arrived_at" in error["fields"]
    assert AuditEvent.objects.count() == events


def test_a_nul_character_in_a_body_string_is_a_422_not_a_database_error(client, db):
    """PostgreSQL refuses U+0000 in text; found by the fuzzer on POST /auth/token (issue #9)."""
    response = client.post(
        "/api/v1/auth/token",
        data='{"username": "\\u0000qa", "password": "x"}',
        content_type="application/json",
    )
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"


def test_a_nul_character_in_a_query_parameter_is_a_422(client, p):
    client.force_login(p.agent)
    response = client.get("/api/v1/projects", {"search": "a\x00b"})
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
