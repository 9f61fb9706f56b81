"""Price-list import (价目表导入) for a project's units from XLSX (R3.1.1).

Every row is validated before anything is written; all problems come back together as
(row, column, message), and one bad row means nothing is written. Each changed unit gets its
own ListingChange (reason "价目表导入 <file>"), and the import one audit event.

One upload must never stop the site (issue #9): the workbook is read within fixed bounds
(import_workbook), rows are checked with read-only queries outside any transaction, and the
write lock is held only by the final short transaction, which locks the units it changes and
refuses if any of them changed meanwhile. Large price lists run as background jobs (import_jobs).
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anju.core import audit
from anju.core.errors import ApplicationError, ValidationFailed
from anju.core.permissions import require

from ..choices import STATUS_TRANSITIONS, Decoration, ListingStatus, Orientation
from ..models import Building, Listing, ListingChange, Project
from . import import_workbook
from .listings import validate_listing
from .projects import _require_managed_project

IMPORT = "listings.import_price_list"
MAX_ROWS = 5000
PROGRESS_EVERY = 200  # rows between progress reports while validating
REASON_PREFIX = "价目表导入"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Column:
    key: str
    header: str  # as written in the template: Chinese name / English name
    aliases: tuple[str, ...]
    required: bool = False


COLUMNS = [
    Column("building", "楼栋/building", ("楼栋", "楼号", "楼幢", "building"), required=True),
    Column("room", "房号/room", ("房号", "房间号", "室号", "room", "roomno", "room_no"), required=True),
    Column("built_area", "建筑面积/built area", ("建筑面积", "面积", "builtarea", "built_area", "area")),
    Column("usable_area", "套内面积/usable area", ("套内面积", "使用面积", "usablearea", "usable_area")),
    Column("layout", "户型/layout", ("户型", "layout")),
    Column("orientation", "朝向/orientation", ("朝向", "orientation")),
    Column("decoration", "装修/decoration", ("装修", "装修情况", "decoration")),
    Column("total_price", "总价(万元)/total price", ("总价", "总价万元", "totalprice", "total_price", "price")),
    Column("status", "状态/status", ("状态", "销售状态", "status")),
]
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}

# Shown in the import page's help and used by the template download.
COLUMN_HELP = {
    "building": gettext_lazy("The building's name exactly as in the project, e.g. 3幢."),
    "room": gettext_lazy("The room number, e.g. 1203."),
    "layout": gettext_lazy("Bedrooms, living rooms and bathrooms, e.g. 3室2厅2卫."),
    "total_price": gettext_lazy("In 10k CNY; the unit price is derived."),
    "status": gettext_lazy("Optional: 可售, 已预订, 已售 or 下架."),
}
# The fields an import may change, and the listing field → column that reports its errors.
IMPORT_FIELDS = [
    "built_area",
    "usable_area",
    "rooms",
    "halls",
    "baths",
    "orientation",
    "decoration",
    "total_price",
    "unit_price",
    "status",
]
FIELD_COLUMN = {
    "built_area": "built_area",
    "usable_area": "usable_area",
    "rooms": "layout",
    "halls": "layout",
    "baths": "layout",
    "orientation": "orientation",
    "decoration": "decoration",
    "total_price": "total_price",
    "status": "status",
}

# Values as people type them in Chinese price lists (first entry: what the template writes).
ORIENTATION_WORDS: dict[str, tuple[str, ...]] = {
    Orientation.SOUTH: ("南", "朝南", "南向"),
    Orientation.SOUTH_NORTH: ("南北通透", "南北", "南北向"),
    Orientation.EAST: ("东", "朝东", "东向"),
    Orientation.WEST: ("西", "朝西", "西向"),
    Orientation.NORTH: ("北", "朝北", "北向"),
    Orientation.EAST_WEST: ("东西", "东西向", "东西通透"),
    Orientation.SOUTHEAST: ("东南", "东南向"),
    Orientation.SOUTHWEST: ("西南", "西南向"),
}
DECORATION_WORDS: dict[str, tuple[str, ...]] = {
    Decoration.SHELL: ("毛坯", "毛坯房", "清水"),
    Decoration.SIMPLE: ("简装", "简装修", "简单装修"),
    Decoration.FINE: ("精装", "精装修"),
    Decoration.LUXURY: ("豪装", "豪华装修", "豪华精装"),
}
STATUS_WORDS: dict[str, tuple[str, ...]] = {
    ListingStatus.AVAILABLE: ("可售", "在售", "待售", "未售"),
    ListingStatus.RESERVED: ("已预订", "预订", "预定", "已认购", "认购", "锁定"),
    ListingStatus.SOLD: ("已售", "售出", "已签约", "签约"),
    ListingStatus.OFF_MARKET: ("下架", "停售", "不可售", "销控"),
}

_SPACES = re.compile(r"\s+")
_BRACKETS = re.compile(r"\(.*?\)")
_LAYOUT = re.compile(r"^(\d{1,2})[室房](\d{1,2})厅(?:\d{1,2}厨)?(\d{1,2})卫$")
_LAYOUT_DIGITS = re.compile(r"^(\d{1,2})[-/](\d{1,2})[-/](\d{1,2})$")
_NUMBER_UNITS = ("万元", "万", "平方米", "平米", "㎡", "m²", "m2")
TWO_PLACES = Decimal("0.01")


_text = import_workbook.text


def _key(value) -> str:
    return _SPACES.sub("", _text(value)).lower()


def _header_key(value) -> str:
    return _BRACKETS.sub("", _key(value))


def _column_for(header) -> Column | None:
    """``总价(万元)/total price`` → the total-price column; each part separated by "/" may match."""
    parts = [_header_key(part) for part in _text(header).split("/")]
    for column in COLUMNS:
        aliases = {_header_key(alias) for alias in column.aliases}
        if any(part in aliases for part in parts if part):
            return column
    return None


def _choice_lookup(words: dict[str, tuple[str, ...]], choices) -> dict[str, str]:
    """Chinese words, codes and the labels in the active language all name a choice."""
    lookup: dict[str, str] = {}
    for value, label in choices.choices:
        lookup[_key(value)] = value
        lookup[_key(label)] = value
    for value, aliases in words.items():
        for alias in aliases:
            lookup[_key(alias)] = str(value)
    return lookup


def choice_word(words: dict[str, tuple[str, ...]], value: str) -> str:
    """The Chinese word the template writes for a stored choice."""
    return words.get(value, (value,))[0]


@dataclass(frozen=True)
class RowError:
    row: int
    column: str
    message: str


class PriceListRejected(ValidationFailed):
    """The file was refused; ``errors`` lists every (row, column, message) found."""

    def __init__(self, errors: list[RowError], message=None):
        super().__init__(
            "price_import.invalid",
            message
            or _("%(count)s problems were found in the price list; nothing was imported.") % {"count": len(errors)},
        )
        self.errors = errors


@dataclass
class ImportResult:
    filename: str
    rows: int
    changed: int
    changes: list[ListingChange] = field(default_factory=list)

    @property
    def unchanged(self) -> int:
        return self.rows - self.changed


def _refuse(message, *, row: int = 0, column: str = "") -> PriceListRejected:
    return PriceListRejected([RowError(row, column, str(message))], message)


def read_workbook_rows(file) -> list[tuple[int, tuple]]:
    """(row number, values) of the first sheet, blank rows left out; refuses what is not an XLSX
    and whatever exceeds the bounds of ``import_workbook`` (size, unpacked size, rows, columns, time)."""
    try:
        return import_workbook.read_rows(file, max_data_rows=MAX_ROWS)
    except import_workbook.WorkbookRefused as exc:
        raise _refuse(str(exc)) from None


class _Row:
    """One data row being checked: its values by column key and the errors found so far."""

    def __init__(self, number: int, values: tuple, positions: dict[str, int], headers: dict[str, str]):
        self.number = number
        self.values = {key: (values[index] if index < len(values) else None) for key, index in positions.items()}
        self.headers = headers
        self.errors: list[RowError] = []

    def error(self, key: str, message) -> None:
        self.errors.append(RowError(self.number, self.headers.get(key, "—"), str(message)))

    def has(self, key: str) -> bool:
        return key in self.values and _text(self.values[key]) != ""

    def text(self, key: str) -> str:
        return _text(self.values.get(key))

    def number_(self, key: str) -> Decimal | None:
        raw = self.values.get(key)
        if isinstance(raw, bool):
            self.error(key, _("Enter a number."))
            return None
        text = _text(raw).replace(",", "")
        for unit in _NUMBER_UNITS:
            text = text.removesuffix(unit)
        try:
            number = Decimal(text)
        except InvalidOperation:
            self.error(key, _("Enter a number."))
            return None
        if not number.is_finite() or number <= 0:
            self.error(key, _("Enter a number greater than 0."))
            return None
        return number.quantize(TWO_PLACES, rounding=ROUND_HALF_UP)


def _header(rows: list[tuple[int, tuple]]) -> tuple[dict[str, int], dict[str, str], list[RowError]]:
    if not rows:
        raise _refuse(_("The price list is empty."))
    number, values = rows[0]
    positions: dict[str, int] = {}
    headers: dict[str, str] = {}
    errors: list[RowError] = []
    for index, value in enumerate(values):
        column = _column_for(value) if _text(value) else None
        if column is None:
            continue  # extra columns (notes, floor …) are ignored
        if column.key in positions:
            errors.append(RowError(number, _text(value), _("This column appears twice.")))
            continue
        positions[column.key] = index
        headers[column.key] = _text(value)
    for column in COLUMNS:
        if column.required and column.key not in positions:
            errors.append(RowError(number, column.header, _("This column is missing.")))
    return positions, headers, errors


def _snapshot(unit: Listing) -> dict:
    return audit._clean(audit.model_snapshot(unit, IMPORT_FIELDS))


def _apply_row(row: _Row, unit: Listing, lookups: dict[str, dict[str, str]]) -> None:
    """Set the row's values on the (unsaved) unit, recording an error per bad cell."""
    for key in ("built_area", "usable_area", "total_price"):
        if row.has(key):
            number = row.number_(key)
            if number is not None:
                setattr(unit, key, number)
    if row.has("layout"):
        layout = _key(row.values["layout"])
        match = _LAYOUT.match(layout) or _LAYOUT_DIGITS.match(layout)
        if match is None:
            row.error("layout", _("Write the layout like 3室2厅2卫."))
        else:
            unit.rooms, unit.halls, unit.baths = (int(part) for part in match.groups())
    for key in ("orientation", "decoration", "status"):
        if row.has(key):
            value = lookups[key].get(_key(row.values[key]))
            if value is None:
                row.error(key, _("“%(value)s” is not a known value.") % {"value": row.text(key)})
            else:
                setattr(unit, key, value)


_FIELD_NAMES = [f.name for f in Listing._meta.concrete_fields]


def _check_unit(row: _Row, unit: Listing, before_status: str) -> None:
    """The listing rules (validate_listing, field limits, the status table), reported on the right column."""
    if unit.status != before_status and unit.status not in STATUS_TRANSITIONS[ListingStatus(before_status)]:
        row.error(
            "status",
            _("A listing cannot go from “%(from)s” to “%(to)s”.")
            % {"from": ListingStatus(before_status).label, "to": ListingStatus(unit.status).label},
        )
    problems: dict[str, list[str]] = {}
    try:
        validate_listing(unit)
    except ApplicationError as exc:
        problems.update(exc.fields)
    try:
        unit.clean_fields(exclude=[name for name in _FIELD_NAMES if name not in FIELD_COLUMN])
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            problems.setdefault(name, list(messages))
    for name, messages in problems.items():
        key = FIELD_COLUMN.get(name, "")
        if key == "usable_area" and key not in row.headers:
            key = "built_area"  # a new built area below the stored usable area
        for message in messages:
            row.error(key, message)


def _safe_filename(filename: str) -> str:
    return os.path.basename((filename or "").replace("\\", "/")).strip()[:150] or "price-list.xlsx"


Progress = Callable[[int, int], None]


@dataclass
class PriceList:
    """A workbook that passed the bounds and the header check: its data rows, not yet validated."""

    filename: str
    rows: list[tuple[int, tuple]]
    positions: dict[str, int]
    headers: dict[str, str]


@dataclass
class _Planned:
    """A unit a row changes: the new values on it, the diff, and what it held when it was read."""

    row: int
    unit: Listing
    changed: dict
    before: dict


def _require_importer(actor, project: Project) -> None:
    require(actor, IMPORT)
    _require_managed_project(actor, project)


def price_list_read(*, actor, project: Project, file, filename: str) -> PriceList:
    """Check who imports and the workbook itself: its bounds, format and header. Writes nothing."""
    _require_importer(actor, project)
    filename = _safe_filename(filename)
    if not filename.lower().endswith((".xlsx", ".xlsm")):
        raise _refuse(str(import_workbook.not_a_workbook()))
    rows = read_workbook_rows(file)
    positions, headers, errors = _header(rows)
    if errors:
        raise PriceListRejected(errors)
    if len(rows) < 2:
        raise _refuse(_("The price list has no rows below the header."))
    return PriceList(filename=filename, rows=rows[1:], positions=positions, headers=headers)


def _plan(*, project: Project, price_list: PriceList, progress: Progress | None) -> list[_Planned]:
    """Validate every row against the units as they are now (read-only queries, no transaction)."""
    positions, headers = price_list.positions, price_list.headers
    buildings = {_key(name): pk for pk, name in Building.objects.filter(project=project).values_list("pk", "name")}
    units = {
        (unit.building_id, _key(unit.room_no)): unit
        for unit in Listing.objects.filter(project=project, building__isnull=False).defer(
            "search_text", "facility_notes"
        )
    }
    lookups = {
        "orientation": _choice_lookup(ORIENTATION_WORDS, Orientation),
        "decoration": _choice_lookup(DECORATION_WORDS, Decoration),
        "status": _choice_lookup(STATUS_WORDS, ListingStatus),
    }
    seen: dict[tuple[int, str], int] = {}
    planned: list[_Planned] = []
    errors: list[RowError] = []
    total = len(price_list.rows)
    for done, (number, values) in enumerate(price_list.rows, start=1):
        row = _Row(number, values, positions, headers)
        building_id = buildings.get(_key(row.values["building"]))
        if not row.has("building"):
            row.error("building", _("Required."))
        elif building_id is None:
            row.error(
                "building", _("There is no building “%(name)s” in this project.") % {"name": row.text("building")}
            )
        unit = None
        if not row.has("room"):
            row.error("room", _("Required."))
        elif building_id is not None:
            key = (building_id, _key(row.values["room"]))
            unit = units.get(key)
            if unit is None:
                row.error(
                    "room",
                    _("Building “%(building)s” has no room “%(room)s”.")
                    % {"building": row.text("building"), "room": row.text("room")},
                )
            elif key in seen:
                row.error("room", _("This room is already in row %(row)s.") % {"row": seen[key]})
                unit = None
            else:
                seen[key] = number
        if unit is not None:
            before = _snapshot(unit)
            _apply_row(row, unit, lookups)
            if not row.errors:
                _check_unit(row, unit, before["status"])
            if not row.errors:
                unit.unit_price = Listing.compute_unit_price(unit.total_price, unit.built_area)
                after = _snapshot(unit)
                changed = {
                    name: {"before": before[name], "after": after[name]}
                    for name in IMPORT_FIELDS
                    if before[name] != after[name]
                }
                if changed:
                    planned.append(_Planned(row=number, unit=unit, changed=changed, before=before))
        errors.extend(row.errors)
        if progress is not None and (done % PROGRESS_EVERY == 0 or done == total):
            progress(done, total)
    if errors:
        raise PriceListRejected(errors)
    return planned


def price_list_apply(
    *, actor, project: Project, price_list: PriceList, progress: Progress | None = None
) -> ImportResult:
    """Validate a read price list, then write all of it in one short transaction, or nothing."""
    _require_importer(actor, project)
    planned = _plan(project=project, price_list=price_list, progress=progress)
    return _write(
        actor=actor, project=project, filename=price_list.filename, rows=len(price_list.rows), planned=planned
    )


def price_list_import(
    *, actor, project: Project, file, filename: str, progress: Progress | None = None
) -> ImportResult:
    """Update a project's units from a price list; validate every row first, write all or nothing.

    Not atomic on purpose (issue #9): reading and validating take no lock; only ``_write`` does.
    """
    price_list = price_list_read(actor=actor, project=project, file=file, filename=filename)
    return price_list_apply(actor=actor, project=project, price_list=price_list, progress=progress)


def _update_units(units: list[Listing], now) -> None:
    """One parameterised UPDATE per unit through the driver's ``executemany``.

    ``bulk_update`` builds a CASE expression per field and row, which takes Django tens of seconds
    for a 5,000-row price list; the values are already validated, so they go straight to the driver.
    """
    if not units:
        return
    fields = [Listing._meta.get_field(name) for name in [*IMPORT_FIELDS, "updated_at"]]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in fields)
    statement = f"UPDATE {quote(Listing._meta.db_table)} SET {assignments} WHERE {quote('id')} = %s"  # noqa: S608
    for unit in units:
        unit.updated_at = now
    rows = [
        [*(field.get_db_prep_save(getattr(unit, field.attname), connection) for field in fields), unit.pk]
        for unit in units
    ]
    with connection.cursor() as cursor:
        for start in range(0, len(rows), 1000):
            cursor.executemany(statement, rows[start : start + 1000])


def _locked_current(project: Project, planned: list[_Planned]) -> dict[int, dict]:
    """The planned units as they are now, row-locked until the transaction ends (in chunks: SQLite
    caps the parameters of one query)."""
    ids = [item.unit.pk for item in planned]
    current: dict[int, dict] = {}
    for start in range(0, len(ids), 500):
        chunk = Listing.objects.select_for_update().filter(project=project, pk__in=ids[start : start + 500])
        for unit in chunk.only("pk", *IMPORT_FIELDS):
            current[unit.pk] = _snapshot(unit)
    return current


def _write(*, actor, project: Project, filename: str, rows: int, planned: list[_Planned]) -> ImportResult:
    """The import's only transaction: lock the units, re-check them, write the changes and the audit event.

    Validation ran without locks, so a unit may have changed since (a sale, another import); such a
    row is refused rather than overwritten with values checked against the old state.
    """
    with transaction.atomic():
        _require_importer(actor, project)  # a role may have been taken away while a job waited
        current = _locked_current(project, planned)
        stale = [
            RowError(
                item.row,
                "—",
                _("This unit was changed by someone else while the price list was being checked; upload it again."),
            )
            for item in planned
            if current.get(item.unit.pk) != item.before
        ]
        if stale:
            raise PriceListRejected(stale)
        now = timezone.now()
        reason = f"{REASON_PREFIX} {filename}"
        _update_units([item.unit for item in planned], now)
        changes = ListingChange.objects.bulk_create(
            [
                ListingChange(listing=item.unit, changes=item.changed, reason=reason, changed_by=actor)
                for item in planned
            ],
            batch_size=500,
        )
        audit.record(
            actor=actor,
            action="listings.project.price_list_imported",
            target=project,
            reason=reason,
            after={
                "file": filename,
                "rows": rows,
                "changed": len(planned),
                "units": [item.unit.pk for item in planned],
            },
        )
    return ImportResult(filename=filename, rows=rows, changed=len(planned), changes=changes)
