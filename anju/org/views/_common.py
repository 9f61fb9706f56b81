"""Helpers shared by the organisation pages: HTMX partials, paging and CSV streaming."""

from __future__ import annotations

import csv
from collections.abc import Iterable

from django.core.paginator import Page, Paginator
from django.http import StreamingHttpResponse
from django.utils import timezone

PAGE_SIZE = 50


def wants_partial(request) -> bool:
    """An HTMX request for the table only (a history restore needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def page_of(request, queryset) -> Page:
    return Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """Plain text for a CSV cell; a leading formula character is escaped so Excel never evaluates it."""
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
            yield writer.writerow([_cell(value) for value in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="anju-{name}-{stamp}.csv"'
    return response


def posted(request):
    """The form data of a POST (even an empty one: unticking every box is an answer), else None."""
    return request.POST if request.method == "POST" else None
