"""Error pages that leak nothing: no paths, no stack traces, just what to do next."""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

_PAGES = {
    400: (_("Bad request"), _("The request could not be understood. Please go back and try again.")),
    403: (_("Access denied"), _("You do not have permission to open this page.")),
    404: (_("Not found"), _("The page does not exist, or it is outside the records you may see.")),
    500: (_("Something went wrong"), _("The error was recorded. Please try again in a moment.")),
}


def _render(request, status: int):
    title, message = _PAGES[status]
    context = {"status": status, "title": title, "message": message, "request_id": getattr(request, "request_id", "")}
    return render(request, "errors/error.html", context, status=status)


def bad_request(request, exception=None):
    return _render(request, 400)


def permission_denied(request, exception=None):
    return _render(request, 403)


def page_not_found(request, exception=None):
    return _render(request, 404)


def server_error(request):
    return _render(request, 500)


def preview(request, code: int):
    if code not in _PAGES:
        raise Http404
    return _render(request, code)
