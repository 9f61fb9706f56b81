"""/api/v1 for listings, projects and the sales-control board: scope, reasons, masking, reveal, query counts."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from anju.core.models import AuditEvent
from anju.listings.models import Building, Listing, ListingChange, Project
from anju.org.services import auth as auth_services
from anju.testing import UserFactory
from tests.helpers import assert_error

pytestmark = pytest.mark.django_db

PHONE = "13911112222"
MASKED = "139****2222"
VIEWERS = ["agent", "agent2", "agent3", "lead", "manager", "cs", "legal", "finance", "qa", "admin", "auditor"]


@pytest.fixture
def api(p):
    """``api(persona_or_user, method, path, body=None, **params)`` → response, with a bearer token per user."""
    headers: dict[int, dict] = {}

    def _call(who, method: str, path: str, body=None, **params):
        user = getattr(p, who) if isinstance(who, str) else who
        if user.pk not in headers:
            _token, raw = auth_services.token_create(actor=user, name="tests")
            headers[user.pk] = {"HTTP_AUTHORIZATION": f"Bearer {raw}"}
        client = Client()
        if method == "get":
            return client.get(path, params, **headers[user.pk])
        return getattr(client, method)(
            path, json.dumps(body or {}), content_type="application/json", **headers[user.pk]
        )

    return _call


def new_listing(**overrides) -> dict:
    body = {
        "title": "滨江花园 3 幢 801 三室两厅",
        "city": "杭州",
        "district": "滨江区",
        "community": "滨江花园",
        "address": "江南大道 88 号",
        "building_no": "3",
        "unit_no": "2",
        "room_no": "801",
        "floor": 8,
        "total_floors": 18,
        "built_area": "100.00",
        "usable_area": "82.5",
        "rooms": 3,
        "halls": 2,
        "baths": 1,
        "orientation": "south",
        "decoration": "fine",
        "certificate_status": "issued",
        "near_school": True,
        "school_names": "滨江一小",
        "total_price": "320",
        "contact_name": "周先生",
        "contact_phone": PHONE,
        "tags": ["学区", "满五唯一"],
    }
    body.update(overrides)
    return body


@pytest.fixture
def listing(p, make_listing):
    return make_listing(p.agent, total_price="320", built_area="100")


@pytest.fixture
def project(p):
    return Project.objects.create(
        name="滨江壹号",
        city="杭州",
        district="滨江区",
        address="江南大道 1 号",
        branch=p.branch_a,
        created_by=p.manager,
    )


def make_building(p, make_listing, project, name: str, floors: int, units: int) -> Building:
    building = Building.objects.create(project=project, name=name, floors=floors, units_per_floor=units)
    for floor in range(1, floors + 1):
        for unit in range(1, units + 1):
            make_listing(
                p.manager,
                kind="new_home",
                project=project,
                building=building,
                floor=floor,
                total_floors=floors,
                unit_no=f"{unit:02d}",
                room_no=f"{floor}{unit:02d}",
                building_no=name,
                total_price=str(300 + floor),
                built_area="100",
            )
    return building


# --- create -----------------------------------------------------------------------------------------


def test_agent_creates_a_listing_and_becomes_its_collector(p, api):
    response = api("agent", "post", "/api/v1/listings", new_listing())
    assert response.status_code == 201, response.content
    body = response.json()
    listing = Listing.objects.get(pk=body["id"])
    assert listing.collector == p.agent and listing.contact_phone == PHONE
    assert body["collector"] == {"id": p.agent.pk, "name": str(p.agent)}
    assert body["unit_price"] == 32000 and body["layout"] == "3室2厅1卫"
    assert body["contact_phone"] == MASKED and PHONE not in response.content.decode()
    assert body["status"] == "available" and body["is_stale"] is False
    assert body["tags"] == ["学区", "满五唯一"]


@pytest.mark.parametrize(
    ("overrides", "field"),
    [({"built_area": "0"}, "built_area"), ({"floor": 20, "total_floors": 18}, "floor"), ({"total_price": "-5"}, None)],
)
def test_invalid_listing_is_422_with_the_field_named(p, api, overrides, field):
    response = api("agent", "post", "/api/v1/listings", new_listing(**overrides))
    assert response.status_code == 422, response.content
    if field:
        assert field in response.json()["error"]["fields"]
    assert not Listing.objects.exists()


def test_a_building_of_another_project_is_refused(p, api, project):
    other = Project.objects.create(
        name="西湖公馆", city="杭州", district="西湖区", address="文三路", branch=p.branch_b, created_by=p.admin
    )
    building = Building.objects.create(project=other, name="1幢", floors=18, units_per_floor=2)
    body = new_listing(kind="new_home", project=project.pk, building=building.pk)
    assert_error(api("agent", "post", "/api/v1/listings", body), 422, "listing.building_mismatch")
    response = api("agent", "post", "/api/v1/listings", new_listing(kind="new_home", building=building.pk))
    assert response.status_code == 201
    assert response.json()["project"] == {"id": other.pk, "name": "西湖公馆"}


@pytest.mark.parametrize("persona", ["cs", "legal", "finance", "qa", "auditor"])
def test_view_only_roles_cannot_create(p, api, persona):
    assert_error(api(persona, "post", "/api/v1/listings", new_listing()), 403, "permission_denied")


# --- change with a reason, history --------------------------------------------------------------------


def test_patch_without_a_reason_is_refused_and_changes_nothing(p, api, listing):
    for body in ({"total_price": "300"}, {"total_price": "300", "reason": "   "}):
        error = assert_error(
            api("agent", "patch", f"/api/v1/listings/{listing.pk}", body), 422, "listing.reason_required"
        )
        assert "reason" in error["fields"]
    listing.refresh_from_db()
    assert str(listing.total_price) == "320.00"
    assert not ListingChange.objects.exists()


def test_patch_with_a_reason_changes_only_the_fields_sent_and_history_shows_the_diff(p, api, listing):
    response = api(
        "agent",
        "patch",
        f"/api/v1/listings/{listing.pk}",
        {"total_price": "300", "decoration": "luxury", "reason": "业主降价"},
    )
    assert response.status_code == 200, response.content
    assert response.json()["total_price"] == "300.00" and response.json()["unit_price"] == 30000
    listing.refresh_from_db()
    assert listing.title.startswith("滨江花园") and listing.contact_phone == PHONE  # untouched
    history = api("agent", "get", f"/api/v1/listings/{listing.pk}/history").json()
    assert history["count"] == 1
    entry = history["items"][0]
    assert entry["reason"] == "业主降价" and entry["changed_by"] == {"id": p.agent.pk, "name": str(p.agent)}
    assert {change["field"]: (change["before"], change["after"]) for change in entry["changes"]} == {
        "total_price": ("320.00", "300.00"),
        "unit_price": (32000, 30000),
        "decoration": ("fine", "luxury"),
    }
    assert all(change["label"] for change in entry["changes"])


def test_patch_may_clear_the_usable_area_but_null_leaves_other_fields(p, api, listing):
    response = api(
        "agent", "patch", f"/api/v1/listings/{listing.pk}", {"usable_area": None, "title": None, "reason": "面积核实"}
    )
    assert response.status_code == 200, response.content
    listing.refresh_from_db()
    assert listing.usable_area is None and listing.title


def test_agent2_cannot_patch_agents_listing_but_lead_and_manager_can(p, api, listing):
    body = {"total_price": "310", "reason": "调价"}
    assert_error(api("agent2", "patch", f"/api/v1/listings/{listing.pk}", body), 403, "listing.not_yours")
    assert_error(api("agent3", "patch", f"/api/v1/listings/{listing.pk}", body), 403, "listing.not_yours")
    assert_error(api("cs", "patch", f"/api/v1/listings/{listing.pk}", body), 403, "permission_denied")
    assert api("lead", "patch", f"/api/v1/listings/{listing.pk}", body).status_code == 200
    body["total_price"] = "305"
    assert api("manager", "patch", f"/api/v1/listings/{listing.pk}", body).status_code == 200
    assert ListingChange.objects.filter(listing=listing).count() == 2


def test_an_unknown_listing_is_404(p, api):
    assert_error(api("agent", "get", "/api/v1/listings/999999"), 404, "not_found")
    assert_error(api("agent", "patch", "/api/v1/listings/999999", {"reason": "x"}), 404, "not_found")


def test_users_without_a_role_get_nothing(p, api, listing):
    nobody = UserFactory(branch=p.branch_a)
    assert_error(api(nobody, "get", "/api/v1/listings"), 403, "permission_denied")
    assert_error(api(nobody, "get", f"/api/v1/listings/{listing.pk}"), 403, "permission_denied")
    # Even a permission granted directly does not open data without a role (deny by default).
    nobody.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="listings", codename__in=["view_listing", "change_listing"])
    )
    nobody = type(nobody).objects.get(pk=nobody.pk)
    assert api(nobody, "get", "/api/v1/listings").json()["count"] == 0
    assert_error(api(nobody, "get", f"/api/v1/listings/{listing.pk}"), 404, "not_found")
    assert_error(api(nobody, "get", f"/api/v1/listings/{listing.pk}/history"), 404, "not_found")
    body = {"total_price": "1", "reason": "x"}
    assert_error(api(nobody, "patch", f"/api/v1/listings/{listing.pk}", body), 404, "not_found")


def test_anonymous_callers_get_401(client, listing):
    for method, path in [
        ("get", "/api/v1/listings"),
        ("get", f"/api/v1/listings/{listing.pk}"),
        ("post", f"/api/v1/listings/{listing.pk}/reveal"),
        ("get", "/api/v1/projects"),
    ]:
        assert_error(getattr(client, method)(path, content_type="application/json"), 401, "not_authenticated")


# --- status and re-verification ----------------------------------------------------------------------


def test_status_change_needs_a_reason_and_follows_the_state_table(p, api, listing):
    url = f"/api/v1/listings/{listing.pk}/status"
    assert_error(api("agent", "post", url, {"status": "off_market"}), 422, "listing.reason_required")
    response = api("agent", "post", url, {"status": "off_market", "reason": "业主暂不出售"})
    assert response.status_code == 200 and response.json()["status"] == "off_market"
    assert_error(api("agent", "post", url, {"status": "sold", "reason": "测试"}), 409, "listing.bad_status_change")
    assert_error(api("agent2", "post", url, {"status": "available", "reason": "测试"}), 403, "listing.not_yours")
    assert_error(api("agent", "post", url, {"status": "gone", "reason": "测试"}), 422, "validation_error")


def test_reverify_confirms_or_updates(p, api, listing):
    url = f"/api/v1/listings/{listing.pk}/reverify"
    confirmed = api("agent", "post", url, {"note": "电话联系业主确认在售"})
    assert confirmed.status_code == 200, confirmed.content
    assert confirmed.json()["outcome"] == "confirmed" and confirmed.json()["change_id"] is None
    updated = api("agent", "post", url, {"note": "业主降价", "total_price": "300"}).json()
    assert updated["outcome"] == "updated" and updated["change_id"]
    assert ListingChange.objects.get(pk=updated["change_id"]).reason == "业主降价"
    assert_error(api("agent2", "post", url, {"note": "x"}), 403, "listing.not_yours")
    assert AuditEvent.objects.filter(action="listings.listing.verified").count() == 2


# --- the owner contact ----------------------------------------------------------------------------


def test_contact_phone_is_never_in_clear_in_list_detail_or_history(p, api, listing):
    new_phone = "13733334444"
    api("agent", "patch", f"/api/v1/listings/{listing.pk}", {"contact_phone": new_phone, "reason": "业主换号"})
    for persona in VIEWERS:
        for path in ("/api/v1/listings", f"/api/v1/listings/{listing.pk}", f"/api/v1/listings/{listing.pk}/history"):
            response = api(persona, "get", path, status="all")
            assert response.status_code == 200, (persona, path)
            content = response.content.decode()
            assert PHONE not in content and new_phone not in content, (persona, path)
    detail = api("cs", "get", f"/api/v1/listings/{listing.pk}").json()
    assert detail["contact_phone"] == "137****4444"
    history = api("cs", "get", f"/api/v1/listings/{listing.pk}/history").json()["items"][0]["changes"]
    assert {"field": "contact_phone", "label": history[0]["label"], "before": MASKED, "after": "137****4444"} in history


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("agent", True),  # the collector
        ("lead", True),
        ("manager", True),
        ("admin", True),
        ("agent2", False),  # holds the permission, but another team's listing: minimum necessary (R3.1.3)
        ("cs", False),
        ("legal", False),
        ("finance", False),
        ("qa", False),
        ("auditor", False),
    ],
)
def test_reveal_matrix(p, api, listing, persona, allowed):
    url = f"/api/v1/listings/{listing.pk}/reveal"
    response = api(persona, "post", url, {"reason": "约业主看房"})
    if allowed:
        assert response.status_code == 200, response.content
        assert response.json() == {"value": PHONE}
        event = AuditEvent.objects.get(action="listings.listing.contact_revealed")
        assert event.actor == getattr(p, persona) and event.reason == "约业主看房"
    else:
        code = "listing.reveal_not_yours" if persona == "agent2" else "listing.reveal_denied"
        assert_error(response, 403, code)
        assert not AuditEvent.objects.filter(action="listings.listing.contact_revealed").exists()


def test_reveal_needs_a_reason_and_is_rate_limited(p, api, listing, settings):
    url = f"/api/v1/listings/{listing.pk}/reveal"
    assert_error(api("agent", "post", url, {}), 422, "listing.reveal_reason_required")
    settings.ANJU_REVEAL_LIMIT_PER_HOUR = 2
    assert api("agent", "post", url, {"reason": "约业主看房"}).status_code == 200
    assert api("agent", "post", url, {"reason": "约业主看房"}).status_code == 200
    assert_error(api("agent", "post", url, {"reason": "约业主看房"}), 429, "listing.reveal_rate_limited")
    assert_error(api("agent", "post", "/api/v1/listings/999999/reveal", {"reason": "约业主看房"}), 404, "not_found")


# --- list, filters, pagination -------------------------------------------------------------------------


def test_list_filters_search_and_sorts_like_the_list_page(p, api, make_listing):
    cheap = make_listing(
        p.agent, title="钱塘府 两房", community="钱塘府", district="上城区", rooms=2, total_price="180"
    )
    mid = make_listing(p.agent2, total_price="320", rooms=3, tags=["学区"])
    dear = make_listing(
        p.agent3, total_price="650", rooms=4, built_area="160", usable_area="130", tags=["学区房", "满五唯一"]
    )
    sold = make_listing(p.agent, total_price="400")
    api("agent", "post", f"/api/v1/listings/{sold.pk}/status", {"status": "sold", "reason": "已成交"})

    def ids(**params):
        response = api("cs", "get", "/api/v1/listings", **params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["items"]]

    assert ids(tag="学区房") == [dear.pk] and ids(tag="学区") == [mid.pk]  # whole tags, not prefixes
    assert ids(tag="满五唯一", district="滨江区") == [dear.pk]
    assert set(ids()) == {cheap.pk, mid.pk, dear.pk}  # sold ones only when asked for
    assert sold.pk in ids(status="all") and ids(status="sold") == [sold.pk]
    assert ids(search="钱塘") == [cheap.pk]
    assert ids(district="上城区") == [cheap.pk]
    assert ids(sort="price_asc") == [cheap.pk, mid.pk, dear.pk]
    assert ids(sort="price_desc") == [dear.pk, mid.pk, cheap.pk]
    assert set(ids(price_min=200, price_max=700)) == {mid.pk, dear.pk}
    assert ids(area_min=150) == [dear.pk]
    assert ids(rooms="3") == [mid.pk] and set(ids(rooms="3+")) == {mid.pk, dear.pk}
    assert ids(mine=True) == []  # cs collected nothing
    assert_error(api("cs", "get", "/api/v1/listings", sort="cheapest"), 422, "validation_error")
    row = api("cs", "get", "/api/v1/listings").json()["items"][0]
    assert "contact_phone" not in row and "contact_name" not in row


def test_pagination_bounds(p, api, make_listing):
    for _ in range(3):
        make_listing(p.agent)
    page = api("agent", "get", "/api/v1/listings", page=2, page_size=2).json()
    assert (page["count"], page["page"], page["page_size"], len(page["items"])) == (3, 2, 2, 1)
    error = assert_error(api("agent", "get", "/api/v1/listings", page_size=201), 422, "validation_error")
    assert "page_size" in error["fields"]
    assert_error(api("agent", "get", "/api/v1/listings", page=0), 422, "validation_error")


def test_list_query_count_does_not_grow_with_page_size(p, api, make_listing):
    for collector in (p.agent, p.agent2, p.agent3, p.lead) * 3:
        make_listing(collector)
    api("cs", "get", "/api/v1/listings")  # warm the token

    def count(page_size: int) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api("cs", "get", "/api/v1/listings", page_size=page_size)
        assert len(response.json()["items"]) == page_size
        return len(captured)

    assert count(2) == count(12)


# --- projects and the board --------------------------------------------------------------------------


def test_projects_list_and_detail_with_counts(p, api, make_listing, project):
    building = make_building(p, make_listing, project, "1幢", floors=2, units=2)
    unit = Listing.objects.filter(building=building).first()
    api("manager", "post", f"/api/v1/listings/{unit.pk}/status", {"status": "reserved", "reason": "客户认购"})
    rows = api("cs", "get", "/api/v1/projects").json()["items"]
    assert rows == [
        {
            "id": project.pk,
            "name": "滨江壹号",
            "city": "杭州",
            "district": "滨江区",
            "address": "江南大道 1 号",
            "developer": "",
            "branch": {"id": p.branch_a.pk, "name": p.branch_a.name},
            "building_count": 1,
            "listing_count": 4,
            "available_count": 3,
        }
    ]
    assert api("cs", "get", "/api/v1/projects", search="西湖").json()["count"] == 0
    detail = api("agent3", "get", f"/api/v1/projects/{project.pk}").json()
    assert detail["buildings"] == [
        {"id": building.pk, "name": "1幢", "floors": 2, "units_per_floor": 2, "unit_count": 4, "available_count": 3}
    ]
    assert_error(api("agent", "get", "/api/v1/projects/999999"), 404, "not_found")


def test_board_lists_every_unit_top_floor_first(p, api, make_listing, project):
    building = make_building(p, make_listing, project, "1幢", floors=3, units=2)
    response = api("agent3", "get", f"/api/v1/buildings/{building.pk}/board")
    assert response.status_code == 200, response.content
    board = response.json()
    assert board["building"] == {
        "id": building.pk,
        "name": "1幢",
        "floors": 3,
        "units_per_floor": 2,
        "project": {"id": project.pk, "name": "滨江壹号"},
    }
    assert [(cell["floor"], cell["unit_no"]) for cell in board["cells"]] == [
        (3, "01"),
        (3, "02"),
        (2, "01"),
        (2, "02"),
        (1, "01"),
        (1, "02"),
    ]
    top = board["cells"][0]
    assert set(top) == {
        "listing_id",
        "floor",
        "unit_no",
        "room_no",
        "status",
        "status_label",
        "total_price",
        "unit_price",
        "built_area",
        "layout",
    }
    assert (top["room_no"], top["status"], top["total_price"], top["unit_price"], top["built_area"], top["layout"]) == (
        "301",
        "available",
        "303.00",
        30300,
        "100.00",
        "3室2厅1卫",
    )
    assert board["counts"] == {"available": 6, "reserved": 0, "sold": 0, "off_market": 0}
    assert PHONE not in response.content.decode()
    assert_error(api("agent", "get", "/api/v1/buildings/999999/board"), 404, "not_found")


def test_board_query_count_is_constant(p, api, make_listing, project):
    small = make_building(p, make_listing, project, "1幢", floors=1, units=2)
    large = make_building(p, make_listing, project, "2幢", floors=6, units=4)
    api("agent", "get", f"/api/v1/buildings/{small.pk}/board")  # warm the token

    def count(building) -> int:
        with CaptureQueriesContext(connection) as captured:
            response = api("agent", "get", f"/api/v1/buildings/{building.pk}/board")
        assert response.status_code == 200
        return len(captured)

    assert count(small) == count(large)
    with CaptureQueriesContext(connection) as captured:
        api("agent", "get", f"/api/v1/buildings/{large.pk}/board")
    assert sum("listings_listing" in query["sql"] for query in captured.captured_queries) == 1  # one query for cells


# --- matching ---------------------------------------------------------------------------------------


def test_matching_both_ways(p, api, make_listing):
    from anju.customers.services.customers import customer_register, needs_update

    fit = make_listing(p.agent, total_price="300", rooms=3, district="滨江区")
    make_listing(p.agent, total_price="2000", rooms=6, district="西湖区")
    customer = customer_register(
        actor=p.agent, name="张三", phone="13855556666", source="walk_in", consent_channel="face_to_face"
    )
    needs_update(
        actor=p.agent, customer=customer, districts=["滨江区"], rooms_min=3, rooms_max=3, price_min=280, price_max=320
    )
    response = api("agent", "get", f"/api/v1/customers/{customer.pk}/matching-listings")
    assert response.status_code == 200, response.content
    matches = response.json()
    assert [match["listing"]["id"] for match in matches] == [fit.pk]
    assert matches[0]["score"] == 100 and all(reason["ok"] for reason in matches[0]["reasons"])
    assert_error(api("agent2", "get", f"/api/v1/customers/{customer.pk}/matching-listings"), 404, "not_found")

    response = api("agent", "get", f"/api/v1/listings/{fit.pk}/matching-customers")
    assert response.status_code == 200, response.content
    found = response.json()
    assert [match["customer"]["id"] for match in found] == [customer.pk]
    assert found[0]["customer"]["phone"] == "138****6666" and "13855556666" not in response.content.decode()
    # Another agent's customers are outside agent2's scope.
    assert api("agent2", "get", f"/api/v1/listings/{fit.pk}/matching-customers").json() == []
