"""The one export service: every list's CSV / XLSX file is audited here and streamed from here.

Rows come from a scoped selector (``restrict``); personal values in them are the models' masked
forms (``anju.core.masking``) — an export never carries a full phone or ID number. Files use
constant memory, keep text as text (no formulas) and format dates.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import tempfile
from collections.abc import Callable, Iterable

from django.core.serializers.json import DjangoJSONEncoder
from django.http import FileResponse, StreamingHttpResponse
from django.utils import timezone

from . import audit

XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def local_time(value: dt.datetime) -> dt.datetime:
    """Shown in Asia/Shanghai; spreadsheets have no time zones, so the value is made naive."""
    if timezone.is_aware(value):
        value = timezone.localtime(value)
    return value.replace(tzinfo=None, microsecond=0)


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
        written = WriteOnlyCell(sheet, value=local_time(value) if isinstance(value, dt.datetime) else value)
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


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """Plain text for a CSV cell; a leading formula character is escaped so Excel never evaluates it."""
    if isinstance(value, dt.datetime):
        value = local_time(value).strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, sort_keys=True, cls=DjangoJSONEncoder)
    # Names and search terms are typed by people: defuse "=HYPERLINK(…)".
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


class _Echo:
    """A file-like object whose ``write`` returns the line, so csv.writer can feed a generator."""

    def write(self, value):
        return value


def csv_response(name: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    """Stream a UTF-8 CSV with a BOM (so Excel shows Chinese correctly) as a download."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff"
        yield writer.writerow(header)
        for row in rows:
            yield writer.writerow([csv_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="anju-{name}-{stamp}.csv"'
    return response


def export_file(
    *,
    actor,
    action: str,
    queryset,
    header: list[str],
    rows: Callable[[object], Iterable[list]],
    name: str,
    filters: dict,
    file_format: str | None = None,
    sheet_title: str = "",
):
    """Record the export (filters, row count, format) in the audit trail, then stream the file.

    ``rows(queryset)`` yields one list per record. ``file_format`` is "csv" or "xlsx"; ``None``
    for lists that only offer CSV (the audit event then names no format).
    """
    after = {"filters": filters, "rows": queryset.count()}
    if file_format is not None:
        after = {"format": file_format, **after}
    audit.record(actor=actor, action=action, after=after)
    if file_format == "xlsx":
        return xlsx_response(header, rows(queryset), sheet_title=sheet_title or name, filename_stem=f"anju-{name}")
    return csv_response(name, header, rows(queryset))
