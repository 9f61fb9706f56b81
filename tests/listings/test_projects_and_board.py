"""New-home projects, buildings with generated units, and the sales-control board (销控表) (R3.1.1)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.listings.models import Building, Listing, Project, SearchGram
from anju.listings.search import search_q
from anju.listings.services.listings import listing_change_status
from anju.listings.services.projects import building_create, project_create, project_update
from anju.testing import UserFactory

pytestmark = pytest.mark.django_db


class _Elements(HTMLParser):
    """Collects the attributes of every element carrying a ``data-testid``."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if "data-testid" in attributes:
            self.found.append((attributes["data-testid"], attributes))


def elements(response, testid: str) -> list[dict]:
    parser = _Elements()
    parser.feed(response.content.decode())
    return [attributes for name, attributes in parser.found if name == testid]


def make_project(p, actor=None, **overrides) -> Project:
    fields = {
        "name": "滨江壹号",
        "city": "杭州",
        "district": "滨江区",
        "address": "江南大道 100 号",
        "developer": "安居置业",
        "description": "",
        "branch": p.branch_a,
    }
    fields.update(overrides)
    return project_create(actor=actor or p.manager, **fields)


def make_building(p, project, actor=None, **overrides) -> Building:
    fields = {
        "name": "3幢",
        "floors": 4,
        "units_per_floor": 3,
        "built_area": "98.50",
        "usable_area": "80",
        "rooms": 3,
        "halls": 2,
        "baths": 2,
        "orientation": "south",
        "decoration": "fine",
        "base_price": "300",
        "contact_name": "售楼处",
        "contact_phone": "0571-88886666",
    }
    fields.update(overrides)
    return building_create(actor=actor or p.manager, project=project, **fields)


@pytest.fixture
def project(p):
    return make_project(p)


@pytest.fixture
def building(p, project):
    return make_building(p, project)


# --- services -----------------------------------------------------------------------------------


def test_building_generates_floors_times_units_with_titles_and_room_numbers(p, project, building):
    units = Listing.objects.filter(building=building)
    assert units.count() == 4 * 3
    unit = units.get(floor=3, unit_no="02")
    assert unit.title == "滨江壹号 3幢 302室"
    assert unit.room_no == "302" and unit.building_no == "3幢" and unit.total_floors == 4
    assert unit.kind == "new_home" and unit.certificate_status == "presale" and unit.status == "available"
    assert (unit.city, unit.district, unit.community, unit.address) == ("杭州", "滨江区", "滨江壹号", "江南大道 100 号")
    assert unit.collector == p.manager and unit.last_verified_by == p.manager and unit.branch == p.branch_a
    assert unit.project == project and unit.unit_price == 30457  # 300 万 / 98.5 ㎡
    assert unit.contact_phone == "057188886666" and unit.contact_phone_masked == "057*****6666"
    assert sorted(set(units.values_list("unit_no", flat=True))) == ["01", "02", "03"]
    assert sorted(units.values_list("room_no", flat=True)) == sorted(
        f"{floor}{unit:02d}" for floor in range(1, 5) for unit in range(1, 4)
    )
    assert Listing.objects.filter(search_q("3幢 302")).get() == unit
    assert SearchGram.objects.filter(listing=unit).exists()


def test_a_tall_building_titles_its_rooms_like_1203(p, project):
    building = make_building(p, project, name="5幢", floors=18, units_per_floor=4)
    assert Listing.objects.get(building=building, floor=12, unit_no="03").title == "滨江壹号 5幢 1203室"


def test_building_generation_writes_one_audit_event_not_one_per_unit(p, project, building):
    events = AuditEvent.objects.filter(action="listings.building.created")
    assert events.count() == 1
    assert events.get().after["units"] == 12 and events.get().target_id == str(building.pk)
    assert not AuditEvent.objects.filter(action="listings.listing.created").exists()
    assert AuditEvent.objects.filter(action="listings.project.created").count() == 1


def test_a_unit_position_is_unique_in_its_building(p, building):
    unit = Listing.objects.filter(building=building).first()
    unit.pk = None
    unit.title = "重复"
    with pytest.raises(IntegrityError), transaction.atomic():
        unit.save()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"usable_area": "120", "built_area": "100"}, "usable_area"),
        ({"base_price": "0"}, "base_price"),
        ({"built_area": "0"}, "built_area"),
        ({"orientation": "up"}, "orientation"),
        ({"floors": 0}, "floors"),
    ],
)
def test_invalid_building_defaults_write_nothing(p, project, overrides, field):
    with pytest.raises(ApplicationError) as refused:
        make_building(p, project, **overrides)
    assert field in refused.value.fields
    assert not Building.objects.exists() and not Listing.objects.exists()


def test_a_building_name_is_unique_in_its_project(p, project, building):
    with pytest.raises(ApplicationError):
        make_building(p, project)
    assert Listing.objects.count() == 12


def test_agents_cannot_create_projects_or_buildings(p, project):
    with pytest.raises(ApplicationError) as refused:
        make_project(p, p.agent, name="越权楼盘")
    assert refused.value.status == 403
    with pytest.raises(ApplicationError) as refused:
        make_building(p, project, p.agent)
    assert refused.value.status == 403


def test_a_manager_opens_projects_only_for_branches_in_scope(p):
    with pytest.raises(ApplicationError) as refused:
        make_project(p, p.manager, branch=p.branch_b)
    assert "branch" in refused.value.fields
    assert make_project(p, p.admin, branch=p.branch_b).branch == p.branch_b


def test_only_managers_of_the_project_branch_add_buildings(p):
    other = make_project(p, p.admin, name="西湖公馆", branch=p.branch_b)
    with pytest.raises(ApplicationError) as refused:
        make_building(p, other, p.manager)
    assert refused.value.status == 403


def test_project_update_records_the_changed_fields(p, project):
    project_update(actor=p.manager, project=project, developer="新开发商", name="滨江壹号")
    event = AuditEvent.objects.get(action="listings.project.updated")
    assert event.before == {"developer": "安居置业"} and event.after == {"developer": "新开发商"}


# --- project pages --------------------------------------------------------------------------------


def test_project_pages_are_open_to_every_role_and_creation_to_managers(client, p, project, building):
    for user in (p.agent, p.legal, p.cs, p.manager):
        client.force_login(user)
        assert client.get(reverse("listings:project-list")).status_code == 200
        detail = client.get(reverse("listings:project-detail", args=[project.pk]))
        assert detail.status_code == 200
        assert elements(detail, "building-row")[0]["data-building"] == str(building.pk)
    client.force_login(p.agent)
    assert client.get(reverse("listings:project-create")).status_code == 403
    assert client.get(reverse("listings:building-create", args=[project.pk])).status_code == 403
    assert (
        b'data-testid="building-create"'
        not in client.get(reverse("listings:project-detail", args=[project.pk])).content
    )
    client.logout()
    assert client.get(reverse("listings:project-list")).status_code == 302


def test_project_detail_counts_units_by_status(client, p, project, building):
    unit = Listing.objects.get(building=building, room_no="101")
    listing_change_status(actor=p.manager, listing=unit, to_status="sold", reason="签约")
    client.force_login(p.agent)
    response = client.get(reverse("listings:project-detail", args=[project.pk]))
    content = response.content.decode()
    assert 'data-status="sold" data-count="1"' in content
    assert 'data-status="available" data-count="11"' in content


def test_manager_creates_a_project_and_a_building_through_the_pages(client, p):
    client.force_login(p.manager)
    response = client.post(
        reverse("listings:project-create"),
        {"name": "钱塘府", "city": "杭州", "district": "钱塘区", "address": "江东大道 1 号", "branch": p.branch_a.pk},
    )
    project = Project.objects.get(name="钱塘府")
    assert response.status_code == 302 and response["Location"] == reverse("listings:project-detail", args=[project.pk])
    response = client.post(
        reverse("listings:building-create", args=[project.pk]),
        {
            "name": "1幢",
            "floors": 2,
            "units_per_floor": 2,
            "built_area": "89",
            "rooms": 3,
            "halls": 2,
            "baths": 1,
            "orientation": "south_north",
            "decoration": "shell",
            "base_price": "260",
        },
    )
    building = Building.objects.get(project=project)
    assert response.status_code == 302 and response["Location"] == reverse(
        "listings:building-board", args=[building.pk]
    )
    assert Listing.objects.filter(building=building).count() == 4


def test_building_form_shows_the_unit_error_on_its_field(client, p, project):
    client.force_login(p.manager)
    response = client.post(
        reverse("listings:building-create", args=[project.pk]),
        {
            "name": "1幢",
            "floors": 2,
            "units_per_floor": 2,
            "built_area": "89",
            "usable_area": "95",
            "rooms": 3,
            "halls": 2,
            "baths": 1,
            "orientation": "south",
            "decoration": "shell",
            "base_price": "260",
        },
    )
    assert response.status_code == 200
    assert elements(response, "error-usable_area")
    assert not Building.objects.exists()


def test_manager_of_another_branch_cannot_post_a_project_for_it(client, p):
    client.force_login(p.manager)
    response = client.post(
        reverse("listings:project-create"),
        {"name": "钱塘府", "city": "杭州", "district": "钱塘区", "address": "江东大道 1 号", "branch": p.branch_b.pk},
    )
    assert response.status_code == 200 and not Project.objects.exists()


# --- the board --------------------------------------------------------------------------------------


def board(client, building, **params):
    return client.get(reverse("listings:building-board", args=[building.pk]), params)


def test_board_grid_has_floors_top_first_and_one_column_per_unit(client, p, building):
    client.force_login(p.agent)
    response = board(client, building)
    assert response.status_code == 200
    grid = elements(response, "board-grid")[0]
    assert (grid["data-floors"], grid["data-columns"]) == ("4", "3")
    assert [row["data-floor"] for row in elements(response, "board-row")] == ["4", "3", "2", "1"]
    cells = elements(response, "board-cell")
    assert [cell["data-room"] for cell in cells[:4]] == ["401", "402", "403", "301"]
    assert len(cells) == 12
    unit = Listing.objects.get(building=building, room_no="401")
    assert "30,457" in cells[0]["title"] and "98.5 ㎡" in cells[0]["title"] and "300" in cells[0]["title"]
    assert "3室2厅2卫" in cells[0]["title"]
    assert cells[0]["href"] == reverse("listings:listing-detail", args=[unit.pk])


def test_board_cells_are_coloured_by_status(client, p, building):
    statuses = {"101": "reserved", "102": "sold", "103": "off_market"}
    for room, status in statuses.items():
        unit = Listing.objects.get(building=building, room_no=room)
        listing_change_status(actor=p.manager, listing=unit, to_status=status, reason="销控调整")
    client.force_login(p.agent)
    cells = {cell["data-room"]: cell for cell in elements(board(client, building), "board-cell")}
    for room, status in {**statuses, "201": "available"}.items():
        assert cells[room]["data-status"] == status
        assert f"anju-board-{status}" in cells[room]["class"]


def test_board_status_filter_dims_the_other_cells_and_counts_per_status(client, p, building):
    unit = Listing.objects.get(building=building, room_no="101")
    listing_change_status(actor=p.manager, listing=unit, to_status="sold", reason="签约")
    client.force_login(p.agent)
    response = board(client, building, status="sold")
    cells = elements(response, "board-cell")
    bright = [cell["data-room"] for cell in cells if "data-dimmed" not in cell]
    assert bright == ["101"]
    assert all("anju-dimmed" in cell["class"] for cell in cells if cell["data-room"] != "101")
    content = response.content.decode()
    assert 'data-status="sold" data-count="1"' in content and 'data-status="available" data-count="11"' in content
    assert not [cell for cell in elements(board(client, building), "board-cell") if "data-dimmed" in cell]
    assert board(client, building, status="nonsense").status_code == 200


def test_board_loads_its_cells_in_one_query(client, p, project, django_assert_max_num_queries):
    small = make_building(p, project, name="1幢", floors=2, units_per_floor=2)
    large = make_building(p, project, name="2幢", floors=20, units_per_floor=6)
    client.force_login(p.agent)
    board(client, small)
    with CaptureQueriesContext(connection) as few:
        assert board(client, small).status_code == 200
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = board(client, large)
    assert len(elements(response, "board-cell")) == 120
    listing_queries = [q for q in few.captured_queries if 'FROM "listings_listing"' in q["sql"]]
    assert len(listing_queries) == 1


@pytest.mark.parametrize("persona", ["agent", "agent3", "legal", "finance", "auditor", "manager"])
def test_board_is_visible_to_every_role(client, p, building, persona):
    client.force_login(getattr(p, persona))
    assert board(client, building).status_code == 200


def test_board_and_project_are_404_for_a_user_without_a_role(client, p, project, building):
    client.force_login(UserFactory(branch=p.branch_a, roles=[]))
    assert board(client, building).status_code == 404
    assert client.get(reverse("listings:project-detail", args=[project.pk])).status_code == 404
    client.logout()
    assert board(client, building).status_code == 302


def test_board_of_a_missing_building_is_404(client, p):
    client.force_login(p.agent)
    assert client.get(reverse("listings:building-board", args=[999])).status_code == 404


def test_sidebar_shows_projects_to_roles_that_view_them(client, p):
    client.force_login(p.legal)
    response = client.get(reverse("listings:project-list"))
    assert reverse("listings:project-list") in response.content.decode()


def test_manager_edits_a_project_and_agents_may_not(client, p, project):
    url = reverse("listings:project-edit", args=[project.pk])
    client.force_login(p.agent)
    assert client.get(url).status_code == 403
    client.force_login(p.manager)
    assert client.get(url).status_code == 200
    data = {
        "name": "滨江壹号",
        "city": "杭州",
        "district": "滨江区",
        "address": "江南大道 101 号",
        "developer": "安居置业",
        "branch": p.branch_a.pk,
    }
    assert client.post(url, data).status_code == 302
    project.refresh_from_db()
    assert project.address == "江南大道 101 号"
    assert AuditEvent.objects.get(action="listings.project.updated").after == {"address": "江南大道 101 号"}
