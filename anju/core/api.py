"""The API root at /api/v1: authentication, the one error shape, pagination.

Bearer personal access tokens for integrations, the browser session (with CSRF on unsafe
methods) for the UI. Every operation requires one of them unless it says ``auth=None``;
the schema and the Swagger page at /api/v1/docs are public (they describe the API, they
hold no data).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import PaginationBase
from ninja.security import HttpBearer, SessionAuth
from ninja.utils import check_csrf

from .errors import ApplicationError, PermissionDeniedError, from_validation_error

MAX_PAGE_SIZE = 200

# How credentials are checked belongs to the app that owns users (org registers both from its
# AppConfig.ready()): a bearer token → its user or None; a session user → whether the session may
# be used (e.g. not while it still waits for its second factor).
_token_user: list[Callable[[str], object | None]] = []
_session_usable: list[Callable[[object], bool]] = []


def register_credentials(
    *, token_user: Callable[[str], object | None], session_usable: Callable[[object], bool]
) -> None:
    _token_user[:] = [token_user]
    _session_usable[:] = [session_usable]


class BearerToken(HttpBearer):
    openapi_description = "Personal access token from POST /api/v1/auth/token: `Authorization: Bearer anju_…`"

    def authenticate(self, request, token: str):
        user = _token_user[0](token) if _token_user else None
        if user is not None:
            request.user = user
        return user


class Session(SessionAuth):
    """The browser's login session; unsafe methods need the CSRF token.

    The CSRF check runs only once a session user is found, so a caller without any
    credentials gets 401 (not a CSRF 403) whatever the method.
    """

    openapi_description = "The browser session of the web UI; POST/PUT/PATCH/DELETE need the CSRF token."

    def __call__(self, request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated or not user.is_active:
            return None
        if not (_session_usable and _session_usable[0](user)):
            return None
        if self.csrf and not getattr(request, "_ninja_csrf_exempt", False) and check_csrf(request):
            raise PermissionDeniedError("csrf_failed", _("The CSRF token is missing or not valid. Reload the page."))
        return user

    def authenticate(self, request, key):  # pragma: no cover - __call__ decides
        return None


api = NinjaAPI(
    title="Anju API",
    version="1.0.0",
    description=(
        "Anju (安居) REST API. All data is scoped to the caller's roles; personal data is masked. "
        'Errors are always `{"error": {"code", "message", "fields"}}`.'
    ),
    auth=[BearerToken(), Session()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _error(request, status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": {"code": code, "message": str(message), "fields": fields or {}}}
    return api.create_response(request, body, status=status)


@api.exception_handler(ApplicationError)
def on_application_error(request, exc: ApplicationError):
    body = exc.as_dict()["error"]
    return _error(request, exc.status, body["code"], body["message"], body["fields"])


@api.exception_handler(DjangoValidationError)
def on_django_validation_error(request, exc: DjangoValidationError):
    return on_application_error(request, from_validation_error(exc))


@api.exception_handler(NinjaValidationError)
def on_validation_error(request, exc: NinjaValidationError):
    fields: dict[str, list[str]] = {}
    for error in exc.errors:
        location = [
            str(part)
            for part in error.get("loc", [])
            if part not in ("body", "query", "path", "payload", "filters", "ninja_pagination")
        ]
        fields.setdefault(".".join(location) or "__all__", []).append(str(error.get("msg", "")))
    return _error(request, 422, "validation_error", _("Some fields are not valid."), fields)


@api.exception_handler(AuthenticationError)
def on_authentication_error(request, exc):
    return _error(request, 401, "not_authenticated", _("Authentication is required."))


@api.exception_handler(PermissionDenied)
def on_permission_denied(request, exc):
    return _error(request, 403, "permission_denied", _("You do not have permission to do this."))


@api.exception_handler(Http404)
def on_not_found(request, exc):
    return _error(request, 404, "not_found", _("Not found."))


_HTTP_ERROR_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    422: "validation_error",
    429: "throttled",
}


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    return _error(request, exc.status_code, _HTTP_ERROR_CODES.get(exc.status_code, "http_error"), str(exc))


class ErrorBody(Schema):
    code: str = Field(..., description="Stable machine-readable code, e.g. `not_authenticated`")
    message: str = Field(..., description="For people, in the caller's language")
    fields: dict[str, list[str]] = Field(..., description="Per-field messages (empty when not about a field)")


class ErrorOut(Schema):
    error: ErrorBody


# Every authenticated operation can answer these; declared so the schema tells clients.
AUTH_ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut}


class Paginated(PaginationBase):
    """``?page=&page_size=`` → ``{"count", "page", "page_size", "items"}`` (page_size ≤ 200)."""

    class Input(Schema):
        page: int = Field(1, ge=1, description="1-based page number")
        page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE, description=f"Rows per page, at most {MAX_PAGE_SIZE}")

    class Output(Schema):
        count: int
        page: int
        page_size: int
        items: list[Any]

    def paginate_queryset(self, queryset, pagination: Input, request, **params):
        offset = (pagination.page - 1) * pagination.page_size
        return {
            "count": self._items_count(queryset),
            "page": pagination.page,
            "page_size": pagination.page_size,
            "items": list(queryset[offset : offset + pagination.page_size]),
        }


def require_perm(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied
