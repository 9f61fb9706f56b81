"""Request context for audit and logs, and ``Vary: HX-Request`` for HTMX partials."""

from __future__ import annotations

import re

from django.conf import settings

from . import context

_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]{8,64}$")


def client_ip(request) -> str | None:
    """REMOTE_ADDR, or the first X-Forwarded-For hop when ANJU_TRUST_PROXY says a proxy sets it."""
    if getattr(settings, "ANJU_TRUST_PROXY", False):
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[0].strip() or None
    return request.META.get("REMOTE_ADDR") or None


class RequestContextMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.headers.get("X-Request-ID", "")
        request_id = incoming if _REQUEST_ID.match(incoming) else context.new_request_id()
        source = "api" if request.path.startswith("/api/") else "web"
        with context.use_context(
            request_id=request_id,
            ip=client_ip(request),
            source=source,
            user_agent=request.headers.get("User-Agent", "")[:200],
        ):
            request.request_id = request_id
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class HtmxVaryMiddleware:
    """A page and its HTMX partial share a URL, so caches must key on HX-Request."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        from django.utils.cache import patch_vary_headers

        patch_vary_headers(response, ("HX-Request",))
        return response
