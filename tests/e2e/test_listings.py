"""Browser: the sales-control board of a building and a listing's history tab (issue #4)."""

import re

import pytest
from playwright.sync_api import expect

from anju.listings.models import Listing
from anju.listings.services.listings import listing_change_status, listing_update
from anju.listings.services.projects import building_create, project_create
from anju.testing import make_personas

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def building(transactional_db):
    p = make_personas()
    project = project_create(
        actor=p.manager, name="滨江壹号", city="杭州", district="滨江区", address="江南大道 1888 号", branch=p.branch_a
    )
    building = building_create(
        actor=p.manager,
        project=project,
        name="1幢",
        floors=6,
        units_per_floor=3,
        built_area="89",
        rooms=3,
        orientation="south",
        decoration="fine",
        base_price="268",
    )
    sold = Listing.objects.get(building=building, room_no="301")
    listing_change_status(actor=p.manager, listing=sold, to_status="sold", reason="已签约网签")
    listing_update(
        actor=p.manager,
        listing=Listing.objects.get(building=building, room_no="602"),
        reason="开发商调价",
        total_price="280",
    )
    return building


def test_agent_reads_the_board_and_a_unit_history(page, building, log_in):
    log_in(page, "agent")
    page.goto(f"/listings/buildings/{building.pk}/board/")
    grid = page.locator("[data-testid=board-grid]")
    expect(grid.locator("[data-testid=board-cell]")).to_have_count(18)
    expect(grid.locator("[data-testid=board-cell][data-status=sold]")).to_have_count(1)
    expect(grid.locator("[data-testid=board-cell][data-room='301']")).to_have_attribute("data-status", "sold")

    grid.locator("[data-testid=board-cell][data-room='602']").click()
    expect(page).to_have_url(re.compile(r"/listings/\d+/$"))
    page.click("[data-testid=tab-history]")
    history = page.locator("[data-testid=history]")
    expect(history).to_contain_text("开发商调价")
    expect(history).to_contain_text("280")


def test_board_works_on_a_phone(phone_page, building, log_in):
    log_in(phone_page, "agent")
    phone_page.goto(f"/listings/buildings/{building.pk}/board/")
    expect(phone_page.locator("[data-testid=board-grid]")).to_be_visible()
    expect(phone_page.locator("[data-testid=board-cell]").first).to_be_visible()
