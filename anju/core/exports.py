"""XLSX exports shared by every list: constant memory, text kept as text, dates formatted."""

from __future__ import annotations

import datetime as dt
import tempfile
from collections.abc import Iterable

from django.http import FileResponse
from django.utils import timezone

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def xlsx_response(header: list[str], rows: Iterable[list], *, sheet_title: str, filename_stem: str) -> FileResponse:
    """A write-only workbook spooled to a temporary file, then streamed as an attachment."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(str(sheet_title))
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)

    def header_cell(text: str) -> WriteOnlyCell:
        cell = WriteOnlyCell(sheet, value=str(text))
        cell.font = bold
        return cell

    def cell(value) -> WriteOnlyCell:
        written = WriteOnlyCell(sheet, value=value)
        if isinstance(value, dt.datetime):
            written.number_format = "yyyy-mm-dd hh:mm"
        elif isinstance(value, str):
            written.data_type = "s"  # text stays text: "=…" is never stored as a formula
        return written

    sheet.append([header_cell(text) for text in header])
    for row in rows:
        sheet.append([cell(value) for value in row])
    spool = tempfile.TemporaryFile()  # noqa: SIM115 (FileResponse closes it)
    workbook.save(spool)
    spool.seek(0)
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    return FileResponse(spool, as_attachment=True, filename=f"{filename_stem}-{stamp}.xlsx", content_type=XLSX_TYPE)
