"""Price-list import from XLSX: every row validated, all errors by row and column, all or nothing (R3.1.1);
bounded in size, rows, columns and time, never holding the write lock while it reads (issue #9)."""

from __future__ import annotations

import io
import time
import zipfile
from decimal import Decimal

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook

from anju.core.errors import ApplicationError
from anju.core.models import AuditEvent
from anju.listings.models import Listing, ListingChange
from anju.listings.services import import_workbook, imports
from anju.listings.services.imports import COLUMNS, MAX_ROWS, PriceListRejected, RowError, price_list_import
from anju.listings.services.listings import listing_change_status
from anju.listings.services.projects import building_create, project_create
from anju.testing import UserFactory
from tests.helpers import streamed, xlsx_workbook

pytestmark = pytest.mark.django_db

HEADER = [column.header for column in COLUMNS]
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def project(p):
    project = project_create(
        actor=p.manager, name="滨江壹号", city="杭州", district="滨江区", address="江南大道 100 号", branch=p.branch_a
    )
    for name in ("3幢", "5幢"):
        building_create(
            actor=p.manager,
            project=project,
            name=name,
            floors=3,
            units_per_floor=2,
            built_area="100",
            usable_area="80",
            rooms=3,
            halls=2,
            baths=1,
            orientation="south",
            decoration="shell",
            base_price="300",
        )
    return project


def unit(project, building: str, room: str) -> Listing:
    return Listing.objects.get(project=project, building__name=building, room_no=room)


def xlsx_bytes(rows: list[list], header: list | None = None) -> bytes:
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(header or HEADER)
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def upload(content: bytes, name: str = "prices.xlsx") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content, content_type=XLSX)


def row(
    building="3幢",
    room="101",
    built="100",
    usable="80",
    layout="3室2厅1卫",
    orientation="南",
    decoration="毛坯",
    price="300",
    status=None,
) -> list:
    return [building, room, built, usable, layout, orientation, decoration, price, status]


def import_page(client, project, content: bytes, name: str = "prices.xlsx"):
    return client.post(reverse("listings:price-import", args=[project.pk]), {"file": upload(content, name)})


def state(project) -> dict:
    return {
        "updated": dict(Listing.objects.filter(project=project).values_list("pk", "updated_at")),
        "changes": ListingChange.objects.count(),
        "imports": AuditEvent.objects.filter(action="listings.project.price_list_imported").count(),
    }


# --- happy path -------------------------------------------------------------------------------------


def test_import_updates_units_with_a_reason_and_exact_diffs(client, p, project):
    content = xlsx_bytes(
        [
            row(room="101", price="320", layout="3室2厅2卫", decoration="精装"),
            row(room="102", built=98.5, usable=None, orientation="南北通透", price=310.5),
            row(building="5幢", room=301, status="已售"),
            row(room="201"),  # unchanged
        ]
    )
    client.force_login(p.manager)
    response = import_page(client, project, content, "滨江壹号价目表.xlsx")
    assert response.status_code == 302
    assert response["Location"] == reverse("listings:project-detail", args=[project.pk])
    first = unit(project, "3幢", "101")
    assert (first.total_price, first.unit_price, first.baths, first.decoration) == (Decimal("320"), 32000, 2, "fine")
    change = ListingChange.objects.get(listing=first)
    assert change.reason == "价目表导入 滨江壹号价目表.xlsx" and change.changed_by == p.manager
    assert change.changes == {
        "baths": {"before": 1, "after": 2},
        "decoration": {"before": "shell", "after": "fine"},
        "total_price": {"before": "300.00", "after": "320.00"},
        "unit_price": {"before": 30000, "after": 32000},
    }
    second = unit(project, "3幢", "102")
    assert (second.built_area, second.usable_area, second.orientation) == (
        Decimal("98.5"),
        Decimal("80"),
        "south_north",
    )
    assert second.unit_price == 31523
    assert unit(project, "5幢", "301").status == "sold"
    assert ListingChange.objects.count() == 3
    assert not ListingChange.objects.filter(listing=unit(project, "3幢", "201")).exists()
    assert first.updated_at > unit(project, "3幢", "201").updated_at
    event = AuditEvent.objects.get(action="listings.project.price_list_imported")
    assert event.after["rows"] == 4 and event.after["changed"] == 3 and event.target_id == str(project.pk)


def test_english_headers_codes_and_extra_columns_are_understood(p, project):
    content = xlsx_bytes(
        [["3幢", "101", "south_north", "fine", "330", "note"]],
        header=["Building", "Room", "Orientation", "Decoration", "Total price (10k CNY)", "备注"],
    )
    result = price_list_import(actor=p.manager, project=project, file=io.BytesIO(content), filename="p.xlsx")
    assert result.changed == 1
    changed = unit(project, "3幢", "101")
    assert (changed.orientation, changed.decoration, changed.total_price) == ("south_north", "fine", Decimal("330"))


# --- refusals: nothing is written ---------------------------------------------------------------------


def test_several_bad_rows_are_each_reported_and_nothing_is_written(client, p, project):
    content = xlsx_bytes(
        [
            row(room="101", price="350"),  # row 2: fine on its own
            row(building="9幢", room="101"),  # row 3: unknown building
            row(room="909"),  # row 4: unknown room
            row(room="102", price="-5", built="abc"),  # row 5: two bad numbers
            row(room="201", orientation="上", decoration="土豪"),  # row 6: unknown words
            row(room="202", layout="三室两厅"),  # row 7: layout
            row(room="301", usable="120"),  # row 8: usable above built
            row(room="101"),  # row 9: the same room twice
            row(building=None, room=None, price="1"),  # row 10: missing keys
        ]
    )
    before = state(project)
    client.force_login(p.manager)
    response = import_page(client, project, content)
    assert response.status_code == 422
    errors = {(error.row, error.column) for error in response.context["row_errors"]}
    assert errors == {
        (3, "楼栋/building"),
        (4, "房号/room"),
        (5, "建筑面积/built area"),
        (5, "总价(万元)/total price"),
        (6, "朝向/orientation"),
        (6, "装修/decoration"),
        (7, "户型/layout"),
        (8, "套内面积/usable area"),
        (9, "房号/room"),
        (10, "楼栋/building"),
        (10, "房号/room"),
    }
    content_text = response.content.decode()
    assert content_text.count('data-testid="import-error"') == 11
    assert 'data-row="7" data-column="户型/layout"' in content_text
    assert state(project) == before
    assert unit(project, "3幢", "101").total_price == Decimal("300")


def test_a_status_the_state_table_forbids_is_reported(p, project):
    listing_change_status(actor=p.manager, listing=unit(project, "3幢", "101"), to_status="sold", reason="签约")
    content = xlsx_bytes([row(room="101", status="已预订"), row(room="102", price="999")])
    before = state(project)
    with pytest.raises(PriceListRejected) as refused:
        price_list_import(actor=p.manager, project=project, file=io.BytesIO(content), filename="p.xlsx")
    assert [(error.row, error.column) for error in refused.value.errors] == [(2, "状态/status")]
    assert state(project) == before


def test_a_missing_required_column_is_reported_on_the_header(p, project):
    content = xlsx_bytes([["101", "300"]], header=["房号", "总价(万元)"])
    with pytest.raises(PriceListRejected) as refused:
        price_list_import(actor=p.manager, project=project, file=io.BytesIO(content), filename="p.xlsx")
    assert refused.value.errors == [RowError(1, "楼栋/building", str(refused.value.errors[0].message))]


@pytest.mark.parametrize(
    ("content", "name"),
    [
        (b"building,room,price\n3,101,300\n", "prices.xlsx"),
        (b"PK\x03\x04 not really a zip", "prices.xlsx"),
        (xlsx_bytes([row(price="320")]), "prices.csv"),
    ],
)
def test_a_file_that_is_not_xlsx_is_refused_with_a_clear_message(client, p, project, content, name):
    before = state(project)
    client.force_login(p.manager)
    response = import_page(client, project, content, name)
    assert response.status_code == 422
    assert ".xlsx" in response.context["form"].non_field_errors()[0]
    assert state(project) == before


def test_more_than_the_row_limit_is_refused(p, project):
    content = xlsx_bytes([row(price=str(300 + n % 5)) for n in range(MAX_ROWS + 1)])
    with pytest.raises(PriceListRejected) as refused:
        price_list_import(actor=p.manager, project=project, file=io.BytesIO(content), filename="p.xlsx")
    assert "5,000" in refused.value.errors[0].message
    assert ListingChange.objects.count() == 0


def test_an_empty_sheet_is_refused(p, project):
    buffer = io.BytesIO()
    Workbook().save(buffer)
    with pytest.raises(PriceListRejected):
        price_list_import(actor=p.manager, project=project, file=io.BytesIO(buffer.getvalue()), filename="p.xlsx")


# --- the template --------------------------------------------------------------------------------------


def test_template_round_trip_fill_prices_and_import(client, p, project):
    client.force_login(p.manager)
    response = client.get(reverse("listings:price-template", args=[project.pk]))
    assert response.status_code == 200 and response["Content-Type"] == XLSX
    workbook = xlsx_workbook(response)
    sheet = workbook.active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) == 1 + 12
    assert {(r[0], r[1]) for r in rows[1:]} == {
        (b, f"{f}{u:02d}") for b in ("3幢", "5幢") for f in (1, 2, 3) for u in (1, 2)
    }
    assert rows[1][4] == "3室2厅1卫" and rows[1][5] == "南" and rows[1][6] == "毛坯" and rows[1][8] == "可售"
    lists = {
        str(validation.sqref).split(":")[0][0]: validation.formula1
        for validation in sheet.data_validations.dataValidation
    }
    assert "南北通透" in lists["F"] and "精装" in lists["G"] and "已售" in lists["I"]
    for number in range(2, sheet.max_row + 1):
        sheet.cell(row=number, column=8).value = 400 + number
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = import_page(client, project, buffer.getvalue(), "filled.xlsx")
    assert response.status_code == 302
    assert ListingChange.objects.filter(reason="价目表导入 filled.xlsx").count() == 12
    prices = sorted(Listing.objects.filter(project=project).values_list("total_price", flat=True))
    assert prices == [Decimal(400 + number) for number in range(2, 14)]


def test_an_unchanged_template_changes_nothing(p, client, project):
    client.force_login(p.manager)
    response = client.get(reverse("listings:price-template", args=[project.pk]))
    content = streamed(response)
    result = price_list_import(actor=p.manager, project=project, file=io.BytesIO(content), filename="same.xlsx")
    assert (result.rows, result.changed) == (12, 0)
    assert ListingChange.objects.count() == 0


# --- permissions -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("agent", 403), ("lead", 403), ("legal", 403), ("cs", 403), ("auditor", 403), ("manager", 200), ("admin", 200)],
)
def test_import_and_template_permission_matrix(client, p, project, persona, expected):
    client.force_login(getattr(p, persona))
    assert client.get(reverse("listings:price-import", args=[project.pk])).status_code == expected
    assert client.get(reverse("listings:price-template", args=[project.pk])).status_code == expected
    if expected == 403:
        before = state(project)
        response = import_page(client, project, xlsx_bytes([row(price="999")]))
        assert response.status_code == 403
        assert state(project) == before


def test_import_pages_for_anonymous_and_roleless_users(client, p, project):
    assert client.get(reverse("listings:price-import", args=[project.pk])).status_code == 302
    client.force_login(UserFactory(branch=p.branch_a, roles=[]))
    assert client.get(reverse("listings:price-import", args=[project.pk])).status_code == 403
    client.force_login(p.manager)
    assert client.get(reverse("listings:price-import", args=[999])).status_code == 404


def test_service_refuses_agents_and_managers_of_other_branches(p, project):
    content = xlsx_bytes([row(price="999")])
    with pytest.raises(ApplicationError) as refused:
        price_list_import(actor=p.agent, project=project, file=io.BytesIO(content), filename="p.xlsx")
    assert refused.value.status == 403
    other = project_create(
        actor=p.admin, name="西湖公馆", city="杭州", district="西湖区", address="x", branch=p.branch_b
    )
    with pytest.raises(ApplicationError) as refused:
        price_list_import(actor=p.manager, project=other, file=io.BytesIO(content), filename="p.xlsx")
    assert refused.value.status == 403
    assert ListingChange.objects.count() == 0


# --- bounds: one upload must not stop the site (issue #9) ----------------------------------------------


def with_sheet_xml(sheet_xml: bytes) -> bytes:
    """A real workbook whose first sheet is replaced by ``sheet_xml`` (how a crafted upload is built)."""
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([row(price="320")])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = sheet_xml if item.filename == "xl/worksheets/sheet1.xml" else source.read(item)
            target.writestr(item.filename, content)
    return buffer.getvalue()


def sheet_xml(rows: str) -> bytes:
    cells = "".join(
        f'<c r="{letter}1" t="inlineStr"><is><t>{name}</t></is></c>'
        for letter, name in zip("AB", HEADER[:2], strict=True)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        f'<sheetData><row r="1">{cells}</row>{rows}</sheetData></worksheet>'
    ).encode()


def refused_quickly(client, p, project, content: bytes) -> str:
    """Upload ``content`` as the manager: refused (422) within two seconds of work, nothing written; the message."""
    before = state(project)
    client.force_login(p.manager)
    started = time.process_time()  # CPU time: other processes on the machine do not count
    response = import_page(client, project, content)
    assert time.process_time() - started < 2
    assert response.status_code == 422
    assert state(project) == before
    return response.context["form"].non_field_errors()[0]


def test_a_zip_bomb_of_a_million_blank_rows_is_refused_before_it_is_unpacked(client, p, project):
    """The defect of issue #9: a few MB that unpack to 1,000,000 blank rows locked the database."""
    content = with_sheet_xml(sheet_xml("".join(f'<row r="{n}"/>' for n in range(2, 1_000_002))))
    assert len(content) < import_workbook.MAX_BYTES
    message = refused_quickly(client, p, project, content)
    assert "MB" in message and "解压" in message


def test_a_bomb_of_shared_strings_is_refused_before_openpyxl_parses_it(client, p, project):
    """A few KB that unpack to 900,000 texts: openpyxl alone spends seconds of CPU per upload on them."""
    strings = "<si><t>a</t></si>" * 900_000
    source = zipfile.ZipFile(io.BytesIO(xlsx_bytes([row(price="320")])))
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            content = source.read(item)
            if item.filename == "[Content_Types].xml":
                content = content.replace(
                    b"</Types>",
                    b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                    b'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
                )
            target.writestr(item.filename, content)
        target.writestr(
            "xl/sharedStrings.xml",
            '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">' + strings + "</sst>",
        )
    assert "解压" in refused_quickly(client, p, project, buffer.getvalue())


def test_a_sheet_declaring_entities_is_refused(client, p, project):
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
        b'<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
        b'<row r="1"><c r="A1" t="inlineStr"><is><t>&lol2;</t></is></c></row></sheetData></worksheet>'
    )
    assert "损坏" in refused_quickly(client, p, project, with_sheet_xml(laughs))


def test_blank_rows_count_against_the_row_limit(client, p, project):
    blank = "".join(f'<row r="{n}"><c r="A{n}" s="0"/></row>' for n in range(2, 20_000))
    message = refused_quickly(client, p, project, with_sheet_xml(sheet_xml(blank)))
    assert f"{MAX_ROWS + 1 + import_workbook.ROW_MARGIN:,}" in message and "空行" in message


def test_one_row_numbered_far_down_the_sheet_is_refused(client, p, project):
    message = refused_quickly(client, p, project, with_sheet_xml(sheet_xml('<row r="1048576"><c r="A1048576"/></row>')))
    assert "空行" in message


def test_values_beyond_the_column_limit_are_refused(client, p, project):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(HEADER)
    sheet.append(row(price="320"))
    sheet.cell(row=2, column=import_workbook.MAX_COLUMNS + 1, value="备注")
    buffer = io.BytesIO()
    workbook.save(buffer)
    message = refused_quickly(client, p, project, buffer.getvalue())
    assert f"{import_workbook.MAX_COLUMNS} 列" in message
    # Empty formatted cells out there are no values: the same row without the note is imported.
    sheet.cell(row=2, column=import_workbook.MAX_COLUMNS + 1).value = None
    sheet.cell(row=2, column=import_workbook.MAX_COLUMNS + 1).number_format = "0.00"
    buffer = io.BytesIO()
    workbook.save(buffer)
    assert import_page(client, project, buffer.getvalue()).status_code == 302
    assert unit(project, "3幢", "101").total_price == Decimal("320")


def test_a_row_of_too_many_cells_is_refused(client, p, project):
    cells = "".join("<c/>" for _ in range(import_workbook.MAX_CELLS_PER_ROW + 1))
    message = refused_quickly(client, p, project, with_sheet_xml(sheet_xml(f'<row r="2">{cells}</row>')))
    assert f"{import_workbook.MAX_COLUMNS} 列" in message


def test_reading_past_the_deadline_is_refused(client, p, project, monkeypatch):
    monkeypatch.setattr(import_workbook, "PARSE_SECONDS", 0.0)
    content = xlsx_bytes([row(room=f"{n}") for n in range(300)])
    message = refused_quickly(client, p, project, content)
    assert "秒" in message
    monkeypatch.setattr(import_workbook, "PARSE_SECONDS", 30.0)
    assert "秒" not in str(import_page(client, project, content).context["form"].non_field_errors())


def test_a_file_over_the_size_limit_is_refused(p, project, monkeypatch):
    monkeypatch.setattr(import_workbook, "MAX_BYTES", 1024)
    with pytest.raises(PriceListRejected) as refused:
        price_list_import(actor=p.manager, project=project, file=io.BytesIO(xlsx_bytes([row()])), filename="p.xlsx")
    assert "MB" in refused.value.errors[0].message
    assert ListingChange.objects.count() == 0


def test_a_unit_changed_while_the_rows_were_checked_is_not_overwritten(p, project, monkeypatch):
    """Validation holds no lock; the write re-reads the units it changes and refuses stale ones."""
    content = xlsx_bytes([row(room="101", price="350"), row(room="102", price="360")])
    checked = imports._plan

    def plan_then_someone_sells(**kwargs):
        planned = checked(**kwargs)
        listing_change_status(actor=p.manager, listing=unit(project, "3幢", "102"), to_status="sold", reason="签约")
        return planned

    monkeypatch.setattr(imports, "_plan", plan_then_someone_sells)
    with pytest.raises(PriceListRejected) as refused:
        price_list_import(actor=p.manager, project=project, file=io.BytesIO(content), filename="p.xlsx")
    assert [(error.row, error.column) for error in refused.value.errors] == [(3, "—")]
    assert unit(project, "3幢", "101").total_price == Decimal("300")  # all or nothing
    assert unit(project, "3幢", "102").total_price == Decimal("300")
    assert not AuditEvent.objects.filter(action="listings.project.price_list_imported").exists()
