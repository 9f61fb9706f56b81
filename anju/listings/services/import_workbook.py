"""Reading an uploaded price-list workbook within fixed bounds (issue #9, R3.1.1).

An XLSX file is a zip of XML parts, so a 5 MB upload can unpack to gigabytes or describe a
million rows. Before openpyxl touches the file, the archive's declared sizes are checked (Python's
zipfile never inflates an entry past its declared size), the XML parts openpyxl parses whole are
streamed to count their elements, and the first sheet's XML is streamed to count its rows and
columns, blank ones included; no part may declare a DTD. Reading then stops at the same bounds and
at a deadline, so one upload costs at most seconds and bounded memory, whatever it holds.
Nothing here touches the database.
"""

from __future__ import annotations

import time
import unicodedata
import zipfile
from xml.etree.ElementTree import ParseError
from xml.parsers import expat

from django.utils.translation import gettext as _

MAX_BYTES = 10 * 1024 * 1024  # the upload itself
MAX_UNPACKED_BYTES = 48 * 1024 * 1024  # all parts of the archive, unpacked
MAX_PART_BYTES = 16 * 1024 * 1024  # any one part (the sheet XML, the shared strings …), unpacked
MAX_PARTS = 500
MAX_PART_ELEMENTS = 250_000  # XML elements in a part other than a sheet (100,000 distinct texts, the styles …)
MAX_COLUMNS = 50  # columns read; a value further right refuses the file
MAX_CELLS_PER_ROW = 1000  # cell elements in one row, empty formatted ones included
ROW_MARGIN = 500  # physical rows allowed beyond the data limit (blank rows, notes below the table)
PARSE_SECONDS = 20.0  # reading and scanning together (below gunicorn's 30 s request timeout)
CHECK_EVERY = 100  # rows between deadline checks
CHUNK_BYTES = 64 * 1024  # sheet XML scanned per step (the deadline is checked between steps)


class WorkbookRefused(Exception):
    """The upload is not a workbook we read, or exceeds a bound; the message is for the user."""


def text(value) -> str:
    """A cell as text: NFKC (full-width → half-width), trimmed; whole floats lose their ``.0``."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def not_a_workbook() -> WorkbookRefused:
    return WorkbookRefused(
        _("This file is not an Excel workbook (.xlsx). Download the template, fill it in and upload it again.")
    )


def too_many_rows(limit: int) -> WorkbookRefused:
    return WorkbookRefused(
        _("The price list has more than %(limit)s rows; split it into several files.") % {"limit": f"{limit:,}"}
    )


def _too_many_sheet_rows(limit: int) -> WorkbookRefused:
    return WorkbookRefused(
        _(
            "The sheet has more than %(limit)s rows, blank rows included; delete the empty rows below the "
            "price list or split it into several files."
        )
        % {"limit": f"{limit:,}"}
    )


def _too_many_columns() -> WorkbookRefused:
    return WorkbookRefused(
        _("The sheet has values in more than %(limit)s columns; keep only the price-list columns.")
        % {"limit": MAX_COLUMNS}
    )


def _too_large_unpacked() -> WorkbookRefused:
    return WorkbookRefused(
        _(
            "The workbook is too large once unpacked (more than %(part)s MB in one part or %(limit)s MB in all); "
            "save the price list alone in a new workbook."
        )
        % {"part": MAX_PART_BYTES // (1024 * 1024), "limit": MAX_UNPACKED_BYTES // (1024 * 1024)}
    )


def _too_slow() -> WorkbookRefused:
    return WorkbookRefused(
        _("Reading the workbook took longer than %(seconds)s seconds; save the price list alone in a new workbook.")
        % {"seconds": f"{PARSE_SECONDS:g}"}
    )


class Deadline:
    """Seconds left for reading one upload; ``check()`` refuses once they are used up."""

    def __init__(self, seconds: float):
        self.ends = time.monotonic() + seconds

    def check(self) -> None:
        if time.monotonic() > self.ends:
            raise _too_slow()


def file_size(file) -> int:
    """The upload's size in bytes (uploaded files know it; other file objects are measured)."""
    size = getattr(file, "size", None)
    if size is None:
        position = file.tell()
        size = file.seek(0, 2)
        file.seek(position)
    return size


def check_archive(file, deadline: Deadline) -> None:
    """Refuse zip bombs before openpyxl reads anything: from the central directory, too many parts or
    too much unpacked; then, streaming each XML part openpyxl parses whole (shared strings, styles …),
    too many elements, which cost CPU time however small they pack. Worksheets get ``scan_sheet``."""
    try:
        with zipfile.ZipFile(file) as archive:
            parts = archive.infolist()
            if len(parts) > MAX_PARTS:
                raise _too_large_unpacked()
            if any(part.file_size > MAX_PART_BYTES for part in parts):
                raise _too_large_unpacked()
            if sum(part.file_size for part in parts) > MAX_UNPACKED_BYTES:
                raise _too_large_unpacked()
            for part in parts:
                if part.filename.endswith((".xml", ".rels")) and not part.filename.startswith("xl/worksheets/"):
                    with archive.open(part) as stream:
                        _count_elements(stream, deadline)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        raise not_a_workbook() from None
    finally:
        file.seek(0)


def _count_elements(stream, deadline: Deadline) -> None:
    count = 0

    def start(name: str, attributes: dict) -> None:
        nonlocal count
        count += 1
        if count > MAX_PART_ELEMENTS:
            raise _too_large_unpacked()

    _stream_xml(stream, start, deadline)


def _stream_xml(stream, start, deadline: Deadline) -> None:
    """Feed ``stream`` to expat with ``start`` as the element handler; no tree, no DTD."""
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = start
    parser.StartDoctypeDeclHandler = _no_doctype  # workbook parts never have one: no entity tricks
    try:
        while chunk := stream.read(CHUNK_BYTES):
            parser.Parse(chunk, False)
            deadline.check()
        parser.Parse(b"", True)
    except (expat.ExpatError, ValueError):
        raise _damaged() from None


def _column_index(reference: str) -> int:
    """``"AB12"`` → 28."""
    index = 0
    for char in reference:
        if not ("A" <= char <= "Z"):
            break
        index = index * 26 + ord(char) - 64
    return index


class _SheetScan:
    """expat callbacks that count rows and cells as the sheet XML streams past; no tree is built."""

    def __init__(self, max_rows: int):
        self.max_rows = max_rows
        self.rows = self.row_number = self.cells = self.column = 0

    def start(self, name: str, attributes: dict) -> None:
        tag = name.rsplit(" ", 1)[-1]
        if tag == "row":
            self.rows += 1
            self.row_number = int(attributes.get("r") or self.row_number + 1)
            if self.rows > self.max_rows or self.row_number > self.max_rows:
                raise _too_many_sheet_rows(self.max_rows)
            self.cells = self.column = 0
        elif tag == "c":
            self.cells += 1
            reference = attributes.get("r")
            self.column = _column_index(reference) if reference else self.column + 1
            if self.cells > MAX_CELLS_PER_ROW:
                raise _too_many_columns()
        elif tag in ("v", "is", "f") and self.column > MAX_COLUMNS:
            raise _too_many_columns()  # a value, not just formatting, beyond the columns we read


def _damaged() -> WorkbookRefused:
    return WorkbookRefused(_("The workbook could not be read: its sheet is damaged."))


def _no_doctype(*args) -> None:
    raise _damaged()


def scan_sheet(stream, *, max_rows: int, deadline: Deadline) -> None:
    """Stream the sheet XML once: refuse more than ``max_rows`` physical rows (blank ones count, and so
    does a row numbered past the limit), values beyond ``MAX_COLUMNS`` and overlong rows."""
    _stream_xml(stream, _SheetScan(max_rows).start, deadline)


def read_rows(file, *, max_data_rows: int, seconds: float | None = None) -> list[tuple[int, tuple]]:
    """(row number, values) of the first sheet's non-blank rows, at most ``max_data_rows`` + the header.

    The bounds hold in this order: the upload's size, the archive's unpacked sizes, a streaming scan
    of the sheet (rows, columns, deadline), then openpyxl's own reading (again counted and timed).
    """
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    deadline = Deadline(PARSE_SECONDS if seconds is None else seconds)
    if file_size(file) > MAX_BYTES:
        raise WorkbookRefused(
            _("The file is larger than %(limit)s MB; split the price list.") % {"limit": MAX_BYTES // (1024 * 1024)}
        )
    check_archive(file, deadline)
    max_sheet_rows = max_data_rows + 1 + ROW_MARGIN
    try:
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError, TypeError, ParseError):
        raise not_a_workbook() from None
    try:
        if not workbook.worksheets:
            raise not_a_workbook()
        sheet = workbook.worksheets[0]
        with workbook._archive.open(sheet._worksheet_path) as stream:
            scan_sheet(stream, max_rows=max_sheet_rows, deadline=deadline)
        sheet.reset_dimensions()  # some writers store a wrong size; read what is really there
        rows = []
        for number, values in enumerate(sheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1):
            if number > max_sheet_rows:
                raise _too_many_sheet_rows(max_sheet_rows)
            if number % CHECK_EVERY == 0:
                deadline.check()
            if not any(text(value) for value in values):
                continue
            rows.append((number, values))
            if len(rows) > max_data_rows + 1:
                raise too_many_rows(max_data_rows)
        return rows
    except (zipfile.BadZipFile, KeyError, ValueError, ParseError) as exc:
        raise WorkbookRefused(_("The workbook could not be read: %(error)s") % {"error": exc}) from None
    finally:
        workbook.close()
