"""The listing list: filters, sorts, Chinese substring search, stale badge and the masked CSV / XLSX
export (R3.1.1, R3.1.2, R6.1.2)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from anju.core.models import AuditEvent
from anju.listings.models import BranchListingSettings, Listing, Project
from anju.listings.selectors.listings import listing_list_for
from anju.listings.services.listings import listing_change_status, listing_update
from tests.helpers import as_user, csv_rows, xlsx_rows, xlsx_workbook

pytestmark = pytest.mark.django_db

LIST = reverse("listings:listing-list")
EXPORT = reverse("listings:listing-export")
PHONES = {"13911112222", "13800001111", "13700002222", "13600003333"}


def titles(response) -> set[str]:
    return {listing.title for listing in response.context["page_obj"].object_list}


def titles_in_order(response) -> list[str]:
    return [listing.title for listing in response.context["page_obj"].object_list]


@pytest.fixture
def project(p):
    return Project.objects.create(
        name="云栖玫瑰园",
        city="杭州",
        district="西湖区",
        address="转塘街道云栖路 1 号",
        branch=p.branch_a,
        created_by=p.admin,
    )


@pytest.fixture
def stock(p, make_listing, project):
    """Four listings across the company, different in every filterable respect.

    Searchable text: 翠苑 / 文三路 (A), 滨江花园 / 江南大道 (B), 云栖玫瑰园 project (C), 钱江新城 / 富春路 (D).
    """
    a = make_listing(
        p.agent,
        title="翠苑一区 两室朝南",
        community="翠苑一区",
        address="文三路 88 号",
        district="西湖区",
        total_price="180",
        built_area="60",
        usable_area="48",
        rooms=2,
        halls=1,
        floor=3,
        total_floors=6,
        orientation="south",
        decoration="simple",
        tags=["学区房", "满五唯一"],
        contact_phone="13800001111",
    )
    b = make_listing(
        p.agent2,
        title="滨江花园 三室两厅",
        total_price="320",
        built_area="98.5",
        rooms=3,
        floor=8,
        total_floors=18,
        orientation="south_north",
        decoration="fine",
        tags=["近地铁"],
        contact_phone="13911112222",
    )
    c = make_listing(
        p.agent,
        title="云栖玫瑰园 四房别墅",
        community="云栖玫瑰园",
        address="云栖路 1 号",
        district="西湖区",
        total_price="1200",
        built_area="260",
        rooms=4,
        floor=1,
        total_floors=3,
        orientation="southeast",
        decoration="luxury",
        tags=["学区"],
        contact_phone="13700002222",
    )
    Listing.objects.filter(pk=c.pk).update(project=project)
    d = make_listing(
        p.agent3,
        title="钱江新城 江景五房",
        community="钱江新城",
        address="富春路 168 号",
        district="上城区",
        total_price="950",
        built_area="180",
        rooms=5,
        floor=30,
        total_floors=32,
        orientation="east",
        decoration="luxury",
        tags=[],
        contact_phone="13600003333",
    )
    return {"a": a, "b": b, "c": c, "d": d}


A, B, C, D = "翠苑一区 两室朝南", "滨江花园 三室两厅", "云栖玫瑰园 四房别墅", "钱江新城 江景五房"
ALL = {A, B, C, D}


# --- who sees what ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "persona", ["agent", "agent2", "agent3", "lead", "manager", "cs", "legal", "finance", "qa", "admin", "auditor"]
)
def test_every_role_sees_the_whole_company_catalogue(client, p, stock, persona):
    response = as_user(client, getattr(p, persona)).get(LIST)
    assert response.status_code == 200
    assert titles(response) == ALL


def test_anonymous_is_sent_to_login(client, p, stock):
    for url in (LIST, EXPORT, f"{EXPORT}?format=xlsx"):
        response = client.get(url)
        assert response.status_code == 302 and "login" in response["Location"]


def test_a_user_without_a_role_sees_nothing(client, p, stock):
    p.agent.roles.clear()
    assert as_user(client, p.agent).get(LIST).status_code == 403
    assert client.get(EXPORT).status_code == 403
    assert not listing_list_for(p.agent).exists()
    assert set(listing_list_for(p.agent2).values_list("title", flat=True)) == ALL


def test_the_owner_contact_never_appears_on_the_list(client, p, stock):
    assert p.agent.has_perm("listings.reveal_listing_contact")
    content = as_user(client, p.agent).get(LIST).content.decode()
    for phone in PHONES:
        assert phone not in content
        assert f"{phone[:3]}****{phone[-4:]}" not in content
    assert "周先生" not in content


# --- filters ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"district": "西湖区"}, {A, C}),
        ({"district": "拱墅区"}, set()),
        ({"price_min": "300"}, {B, C, D}),
        ({"price_max": "320"}, {A, B}),
        ({"price_min": "200", "price_max": "1000"}, {B, D}),
        ({"price_min": "2000"}, set()),
        ({"area_min": "98.5", "area_max": "200"}, {B, D}),
        ({"area_max": "50"}, set()),
        ({"rooms": "2"}, {A}),
        ({"rooms": "3"}, {B}),
        ({"rooms": "1"}, set()),
        ({"rooms": "4+"}, {C, D}),
        ({"floor_min": "8"}, {B, D}),
        ({"floor_max": "3"}, {A, C}),
        ({"floor_min": "4", "floor_max": "20"}, {B}),
        ({"floor_min": "31"}, set()),
        ({"orientation": "south"}, {A}),
        ({"orientation": "north"}, set()),
        ({"decoration": "luxury"}, {C, D}),
        ({"decoration": "shell"}, set()),
        ({"tag": "学区房"}, {A}),
        ({"tag": "学区"}, {C}),  # the exact element, not every tag that contains it
        ({"tag": "满五唯一"}, {A}),
        ({"tag": "满五"}, set()),
        ({"tag": "近地铁"}, {B}),
        ({"tag": "急售"}, set()),
        ({"district": "西湖区", "price_max": "500", "rooms": "2", "decoration": "simple", "floor_max": "6"}, {A}),
        ({"district": "西湖区", "price_max": "500", "rooms": "3"}, set()),
    ],
)
def test_each_filter_keeps_matching_listings_and_drops_the_rest(client, p, stock, params, expected):
    response = as_user(client, p.manager).get(LIST, params)
    assert response.status_code == 200
    assert titles(response) == expected


def test_project_filter(client, p, stock, project):
    other = Project.objects.create(
        name="滨江壹号", city="杭州", district="滨江区", address="江南大道 1 号", branch=p.branch_a, created_by=p.admin
    )
    as_user(client, p.agent2)
    assert titles(client.get(LIST, {"project": project.pk})) == {C}
    assert titles(client.get(LIST, {"project": other.pk})) == set()


def test_only_my_listings(client, p, stock):
    assert titles(as_user(client, p.agent).get(LIST, {"mine": "on"})) == {A, C}
    assert titles(as_user(client, p.agent3).get(LIST, {"mine": "on"})) == {D}
    assert titles(as_user(client, p.manager).get(LIST, {"mine": "on"})) == set()


def test_status_defaults_to_available_and_reserved(client, p, stock):
    listing_change_status(actor=p.agent, listing=stock["a"], to_status="reserved", reason="客户已交意向金")
    listing_change_status(actor=p.agent, listing=stock["c"], to_status="sold", reason="已签约")
    listing_change_status(actor=p.agent3, listing=stock["d"], to_status="off_market", reason="业主暂不出售")
    as_user(client, p.manager)
    assert titles(client.get(LIST)) == {A, B}
    assert titles(client.get(LIST, {"status": "reserved"})) == {A}
    assert titles(client.get(LIST, {"status": "available"})) == {B}
    assert titles(client.get(LIST, {"status": "sold"})) == {C}
    assert titles(client.get(LIST, {"status": "off_market"})) == {D}
    assert titles(client.get(LIST, {"status": "all"})) == ALL


def test_the_database_keeps_is_active_in_step_with_the_status(p, stock):
    """The default list filters on the stored ``is_active`` column; it must follow every status change."""
    listing_change_status(actor=p.agent, listing=stock["c"], to_status="sold", reason="已签约")
    flags = dict(Listing.objects.values_list("title", "is_active"))
    assert flags == {title: title != C for title in ALL}
    listing_change_status(actor=p.agent, listing=stock["c"], to_status="available", reason="买方违约，重新上架")
    assert Listing.objects.get(pk=stock["c"].pk).is_active is True
    sql = str(listing_list_for(p.manager).query)
    assert "is_active" in sql and "status" not in sql.split("WHERE", 1)[1]


def test_a_reversed_range_drops_the_upper_bound_with_a_message(client, p, stock):
    response = as_user(client, p.manager).get(LIST, {"price_min": "900", "price_max": "100"})
    assert titles(response) == {C, D}
    assert response.context["form"].errors["price_max"]


def test_invalid_filter_values_are_ignored(client, p, stock):
    response = as_user(client, p.manager).get(LIST, {"price_min": "abc", "rooms": "9", "sort": "nonsense"})
    assert response.status_code == 200
    assert titles(response) == ALL


# --- sorts --------------------------------------------------------------------------------------


def test_sorts_by_price_unit_price_and_area(client, p, stock):
    # unit prices: A 30000, B 32487, C 46154, D 52778
    as_user(client, p.manager)
    assert titles_in_order(client.get(LIST, {"sort": "price_asc"})) == [A, B, D, C]
    assert titles_in_order(client.get(LIST, {"sort": "price_desc"})) == [C, D, B, A]
    assert titles_in_order(client.get(LIST, {"sort": "unit_price_asc"})) == [A, B, C, D]
    assert titles_in_order(client.get(LIST, {"sort": "unit_price_desc"})) == [D, C, B, A]
    assert titles_in_order(client.get(LIST, {"sort": "area_asc"})) == [A, B, D, C]
    assert titles_in_order(client.get(LIST, {"sort": "area_desc"})) == [C, D, B, A]


def test_default_sort_is_recently_updated_with_the_id_as_tiebreak(client, p, stock):
    as_user(client, p.manager)
    assert titles_in_order(client.get(LIST)) == [D, C, B, A]
    listing_update(actor=p.agent, listing=stock["a"], reason="业主调价", total_price="175")
    assert titles_in_order(client.get(LIST))[0] == A
    same = timezone.now() - dt.timedelta(days=1)
    Listing.objects.update(updated_at=same, total_price=Decimal("500"))
    assert titles_in_order(client.get(LIST)) == [D, C, B, A]  # equal times: higher id first
    assert titles_in_order(client.get(LIST, {"sort": "price_asc"})) == [A, B, C, D]  # equal prices: lower id first


def test_pagination_is_fifty_rows(client, p, make_listing):
    for number in range(52):
        make_listing(p.agent, title=f"房源{number:02d}")
    as_user(client, p.agent)
    first = client.get(LIST, {"sort": "price_asc"})
    second = client.get(LIST, {"sort": "price_asc", "page": 2})
    assert len(first.context["page_obj"].object_list) == 50
    assert len(second.context["page_obj"].object_list) == 2
    assert not titles(first) & titles(second)


# --- search -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("翠苑", {A}),  # community
        ("翠苑一区", {A}),
        ("翠", {A}),  # one character: the unigram
        ("文三路", {A}),  # address
        ("三路88", {A}),  # across the number (whitespace is not part of the search text)
        ("富春路 168", {D}),
        ("江景五房", {D}),  # title
        ("两室朝南", {A}),
        ("玫瑰", {C}),  # community and project
        ("钱江新城", {D}),
        ("上城区", {D}),  # district
        ("杭州", ALL),  # city
        ("滨江花园", {B}),
        ("新城江景", {D}),
        ("江景", {D}),
    ],
)
def test_search_finds_chinese_substrings_of_title_community_and_address(client, p, stock, term, expected):
    assert titles(as_user(client, p.legal).get(LIST, {"q": term})) == expected


def test_full_width_input_is_normalised(client, p, stock, make_listing):
    make_listing(p.agent, title="Ａ座 loft 公寓", community="万科ＭＯＭＡ", address="江南大道 ３８８ 号")
    as_user(client, p.agent)
    assert titles(client.get(LIST, {"q": "富春路１６８"})) == {D}  # full-width digits
    assert titles(client.get(LIST, {"q": "ｍｏｍａ"})) == {"Ａ座 loft 公寓"}
    assert titles(client.get(LIST, {"q": "MoMa"})) == {"Ａ座 loft 公寓"}
    assert titles(client.get(LIST, {"q": "大道388"})) == {"Ａ座 loft 公寓"}
    assert titles(client.get(LIST, {"q": "　翠苑　"})) == {A}  # ideographic spaces around the term


@pytest.mark.parametrize("term", ["翠区", "苑一文", "滨花园", "滨江南", "江五房", "钱城"])
def test_search_does_not_match_characters_that_are_not_contiguous(client, p, stock, term):
    # 滨江南: both bigrams 滨江 and 江南 occur in B's text, but never as one run.
    assert titles(as_user(client, p.agent).get(LIST, {"q": term})) == set()


def test_a_long_term_stays_exact(client, p, stock):
    as_user(client, p.agent)
    assert titles(client.get(LIST, {"q": "江景五房 钱江新城 富春路 168 号"})) == {D}
    assert titles(client.get(LIST, {"q": "江景五房 钱江新城 富春路 168 号 上城区 西湖"})) == set()


def test_search_combines_with_filters_and_sort(client, p, stock):
    as_user(client, p.agent)
    assert titles_in_order(client.get(LIST, {"q": "西湖", "sort": "price_desc"})) == [C, A]
    assert titles(client.get(LIST, {"q": "西湖", "rooms": "2"})) == {A}
    assert titles(client.get(LIST, {"q": "西湖", "rooms": "3"})) == set()


def test_search_follows_edits(client, p, stock):
    listing_update(actor=p.agent, listing=stock["a"], reason="小区更名", community="翠苑新村", title="翠苑新村 两室")
    as_user(client, p.agent)
    assert titles(client.get(LIST, {"q": "翠苑新村"})) == {"翠苑新村 两室"}
    assert titles(client.get(LIST, {"q": "翠苑一区"})) == set()


def test_htmx_request_gets_only_the_rows(client, p, stock):
    response = as_user(client, p.agent).get(LIST, {"q": "翠苑"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert response.templates[0].name == "listings/partials/_listing_rows.html"
    assert b"<html" not in response.content
    assert response.content.count(b'data-testid="listing-row"') == 1
    assert response.content.count(b'data-testid="listing-card"') == 1
    assert "HX-Request" in response["Vary"]


# --- the stale badge ----------------------------------------------------------------------------


def test_stale_badge_follows_each_branchs_interval(client, p, stock):
    now = timezone.now()
    Listing.objects.filter(pk=stock["a"].pk).update(last_verified_at=now - dt.timedelta(days=31))  # branch A
    Listing.objects.filter(pk=stock["b"].pk).update(last_verified_at=now - dt.timedelta(days=29))  # branch A
    Listing.objects.filter(pk=stock["d"].pk).update(last_verified_at=now - dt.timedelta(days=15))  # branch B
    as_user(client, p.manager)

    def stale_titles():
        response = client.get(LIST)
        content = response.content.decode()
        assert content.count('data-testid="listing-stale"') == content.count('data-testid="listing-card-stale"')
        return {listing.title for listing in response.context["page_obj"].object_list if listing.is_stale}

    assert stale_titles() == {A}
    BranchListingSettings.objects.create(branch=p.branch_b, verify_every_days=14)
    assert stale_titles() == {A, D}
    listing_change_status(actor=p.agent, listing=stock["a"], to_status="off_market", reason="暂停出售")
    response = client.get(LIST, {"status": "all"})
    assert not next(x for x in response.context["page_obj"].object_list if x.title == A).is_stale


# --- query counts -------------------------------------------------------------------------------


def _page_queries(client, url, params=None) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, params or {})
        assert response.status_code == 200
        if hasattr(response, "streaming_content"):
            b"".join(response.streaming_content)
    return len(queries.captured_queries)


def test_query_count_does_not_grow_with_rows(client, p, make_listing, project):
    for number in range(5):
        listing = make_listing(p.agent, title=f"少量{number}")
    Listing.objects.filter(pk=listing.pk).update(project=project)
    as_user(client, p.manager)
    few = {
        "list": _page_queries(client, LIST),
        "search": _page_queries(client, LIST, {"q": "滨江", "tag": "x", "rooms": "4+"}),
        "csv": _page_queries(client, EXPORT),
        "xlsx": _page_queries(client, EXPORT, {"format": "xlsx"}),
    }
    for number in range(35):
        owner = (p.agent, p.agent2, p.agent3, p.lead)[number % 4]
        make_listing(owner, title=f"大量{number}", tags=["学区房"])
    Listing.objects.filter(title__startswith="大量").update(project=project)
    BranchListingSettings.objects.create(branch=p.branch_b, verify_every_days=10)
    many = {
        "list": _page_queries(client, LIST),
        "search": _page_queries(client, LIST, {"q": "滨江", "tag": "x", "rooms": "4+"}),
        "csv": _page_queries(client, EXPORT),
        "xlsx": _page_queries(client, EXPORT, {"format": "xlsx"}),
    }
    assert many == few
    assert len(client.get(LIST).context["page_obj"].object_list) == 40


# --- export -------------------------------------------------------------------------------------


def test_csv_export_masks_the_contact_and_is_audited(client, p, stock):
    response = as_user(client, p.manager).get(EXPORT, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "anju-listings-" in response["Content-Disposition"]
    rows = csv_rows(response)
    header = rows[0]
    assert header[:3] == ["ID", "Title", "Kind"]
    by_title = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_title) == ALL
    assert by_title[A]["Contact phone"] == "138****1111"
    assert by_title[A]["Contact name"] == "周先生"
    assert by_title[A]["Tags"] == "学区房; 满五唯一"
    assert by_title[A]["Unit price (CNY/㎡)"] == "30000"
    assert by_title[A]["Collector"] == str(p.agent)
    body = "\n".join(",".join(row) for row in rows)
    for phone in PHONES:
        assert phone not in body
    event = AuditEvent.objects.get(action="listings.listing.exported")
    assert event.actor == p.manager
    assert event.after == {"format": "csv", "filters": {}, "rows": 4}


def test_xlsx_export_reads_back_with_masked_phones_only(client, p, stock):
    response = as_user(client, p.agent).get(EXPORT, {"format": "xlsx"}, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    workbook = xlsx_workbook(response)
    sheet = workbook.active
    assert sheet.freeze_panes == "A2" and sheet["A1"].font.bold
    rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    header = rows[0]
    by_title = {row[1]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert set(by_title) == ALL
    assert {row["Contact phone"] for row in by_title.values()} == {
        "138****1111",
        "139****2222",
        "137****2222",
        "136****3333",
    }
    assert by_title[C]["Total price (10k CNY)"] == 1200 and by_title[C]["Built area (㎡)"] == 260
    assert isinstance(by_title[C]["Last verified at"], dt.datetime)
    cells = " ".join(str(value) for row in rows for value in row)
    for phone in PHONES:
        assert phone not in cells
    assert AuditEvent.objects.get(action="listings.listing.exported").after["rows"] == 4


def test_export_keeps_the_filters_and_records_them(client, p, stock):
    as_user(client, p.agent)
    rows = csv_rows(client.get(EXPORT, {"q": "西湖", "price_max": "500", "sort": "price_asc", "mine": "on"}))
    assert [row[1] for row in rows[1:]] == [A]
    event = AuditEvent.objects.get(action="listings.listing.exported")
    assert event.after == {"format": "csv", "filters": {"search": "西湖", "price_max": "500", "mine": True}, "rows": 1}
    rows = xlsx_rows(client.get(EXPORT, {"format": "xlsx", "status": "all", "sort": "price_desc", "rooms": "4+"}))
    assert [row[1] for row in rows[1:]] == [C, D]


def test_export_cells_cannot_smuggle_formulas(client, p, make_listing):
    make_listing(p.agent, title="=HYPERLINK(1)")
    as_user(client, p.agent)
    assert csv_rows(client.get(EXPORT))[1][1] == "'=HYPERLINK(1)"
    workbook = xlsx_workbook(client.get(EXPORT, {"format": "xlsx"}))
    cell = workbook.active["B2"]
    assert cell.data_type == "s" and cell.value == "=HYPERLINK(1)"


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("agent", 200),
        ("lead", 200),
        ("manager", 200),
        ("admin", 200),
        ("legal", 403),
        ("finance", 403),
        ("cs", 403),
        ("qa", 403),
        ("auditor", 403),
    ],
)
def test_export_permission_matrix(client, p, stock, persona, status):
    user = getattr(p, persona)
    assert user.has_perm("listings.view_listing")
    for file_format in ("csv", "xlsx"):
        assert as_user(client, user).get(EXPORT, {"format": file_format}).status_code == status
    exported = AuditEvent.objects.filter(action="listings.listing.exported").count()
    assert exported == (2 if status == 200 else 0)


def test_legal_may_list_but_sees_no_export_button(client, p, stock):
    response = as_user(client, p.legal).get(LIST)
    assert response.status_code == 200
    assert b'data-testid="listing-export-csv"' not in response.content
    assert b'data-testid="listing-export-csv"' in as_user(client, p.agent).get(LIST).content


def test_sidebar_links_the_list_for_viewers(client, p):
    as_user(client, p.legal)
    assert LIST.encode() in client.get(reverse("home")).content


def test_more_filters_stay_open_on_phones_when_one_is_in_use(client, p, stock):
    as_user(client, p.agent)
    closed = client.get(LIST, {"q": "翠苑"}).content.decode()
    assert 'class="collapse d-lg-block" id="listing-more-filters"' in closed
    opened = client.get(LIST, {"area_min": "50"}).content.decode()
    assert 'class="collapse d-lg-block show" id="listing-more-filters"' in opened
