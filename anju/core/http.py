"""What every app's views share: HTMX partials, paging, posted forms."""

from __future__ import annotations

from django.core.paginator import Page, Paginator

PAGE_SIZE = 50


def wants_partial(request) -> bool:
    """An HTMX request for the table only (a history restore needs the whole page)."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


def page_of(request, queryset, per_page: int = PAGE_SIZE) -> Page:
    """The requested page of a list (a page number out of range shows the last page)."""
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def posted(request):
    """The form data of a POST (even an empty one: unticking every box is an answer), else None."""
    return request.POST if request.method == "POST" else None
