"""The API root at /api/v1: authentication, the one error shape, pagination.

Bearer personal access tokens for integrations, the browser session (with CSRF on unsafe
methods) for the UI. Every operation requires one of them unless it says ``auth=None``;
the schema and the Swagger page at /api/v1/docs are public (they describe the API, they
hold no data).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import Annotated, Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import Field, NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import PaginationBase
from ninja.parser import Parser
from ninja.security import HttpBearer, SessionAuth
from ninja.utils import check_csrf
from pydantic import AfterValidator

from .errors import ApplicationError, PermissionDeniedError, from_validation_error

logger = logging.getLogger("django.request")

MAX_PAGE_SIZE = 200
MAX_PAGE = 100_000

# Every number that reaches the database is bounded by what its column holds (issue #9): an
# unbounded integer overflows SQLite's INTEGER (OverflowError) or PostgreSQL's column (DataError),
# both 500s. Primary and foreign keys are ``bigint`` (DEFAULT_AUTO_FIELD = BigAutoField).
MAX_ID = 2**63 - 1
MAX_INT32 = 2**31 - 1  # PositiveIntegerField / IntegerField: PostgreSQL ``integer``

# Every id in a path, a query filter or a body: out of range is a 422, an unknown id a 404.
Id = Annotated[int, Field(ge=1, le=MAX_ID, description="A record id")]

# Dates and moments within years 1900–2999: at the ends of Python's calendar (0001-01-01, 9999-12-31)
# a day's end or a time-zone shift overflows (OverflowError: date value out of range).
MIN_YEAR, MAX_YEAR = 1900, 2999


def _in_calendar(value: dt.date) -> dt.date:
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"Enter a date between the years {MIN_YEAR} and {MAX_YEAR}.")
    return value


Day = Annotated[dt.date, AfterValidator(_in_calendar), Field(description=f"Years {MIN_YEAR}–{MAX_YEAR}")]
Moment = Annotated[dt.datetime, AfterValidator(_in_calendar), Field(description=f"Years {MIN_YEAR}–{MAX_YEAR}")]

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


class BodyNotAnObject(ValueError):
    """A JSON body that is not an object (a string, a list, a number, ``null``)."""


class BodyHasNulCharacter(ValueError):
    """A JSON string holding U+0000: no text column can store it (PostgreSQL refuses it outright)."""


def _has_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(key) or _has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_has_nul(item) for item in value)
    return False


class ObjectBodyParser(Parser):
    """Only a JSON object is a body (issue #9).

    django-ninja validates a body schema through attribute access, so a string, a list or a
    number passed as a whole schema "validates": ``"hello world"`` gave ``title`` the value
    of ``str.title()``, and ``[]`` became a schema of defaults. Refusing anything but an object
    here covers every operation with a body, however optional its fields are.
    """

    def parse_querydict(self, data, list_fields, request):
        result = super().parse_querydict(data, list_fields, request)
        for key, value in result.items():
            if _has_nul(key) or _has_nul(value):
                message = _("The request holds a NUL character, which text cannot contain.")
                raise NinjaValidationError([{"loc": ["query", key], "msg": message}])
        return result

    def parse_body(self, request):
        data = super().parse_body(request)
        if not isinstance(data, dict):
            raise BodyNotAnObject
        if _has_nul(data):
            raise BodyHasNulCharacter
        return data


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
    parser=ObjectBodyParser(),
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
    if isinstance(exc.__cause__, BodyNotAnObject):
        # django-ninja turns any parser error into "400 cannot parse"; this one parsed fine but
        # is the wrong type, which is a validation error like any other.
        message = _("The request body must be a JSON object.")
        return _error(request, 422, "validation_error", message, {"__all__": [message]})
    if isinstance(exc.__cause__, BodyHasNulCharacter):
        message = _("The request body holds a NUL character, which text cannot contain.")
        return _error(request, 422, "validation_error", message, {"__all__": [message]})
    return _error(request, exc.status_code, _HTTP_ERROR_CODES.get(exc.status_code, "http_error"), str(exc))


@api.exception_handler(Exception)
def on_unexpected_error(request, exc: Exception):
    """The last net: a bug is logged with its traceback and answered in the error shape, never as an
    HTML page (django-ninja re-raises to Django's HTML 500 unless DEBUG)."""
    logger.error(
        "Internal Server Error: %s",
        request.path,
        exc_info=(type(exc), exc, exc.__traceback__),
        extra={"status_code": 500, "request": request},
    )
    response = _error(request, 500, "server_error", _("Something went wrong on our side. Please try again later."))
    # Logged above with the traceback; Django's handler would log the 500 again without it.
    response._has_been_logged = True
    return response


class ErrorBody(Schema):
    code: str = Field(..., description="Stable machine-readable code, e.g. `not_authenticated`")
    message: str = Field(..., description="For people, in the caller's language")
    fields: dict[str, list[str]] = Field(..., description="Per-field messages (empty when not about a field)")


class ErrorOut(Schema):
    error: ErrorBody


# Declared so the schema tells clients what each operation can answer (issue #9: schemathesis
# checks every status against the schema). Every authenticated operation: no or bad credentials,
# missing permission or CSRF token.
AUTH_ERRORS: dict[int, Any] = {401: ErrorOut, 403: ErrorOut}
# Any path or query parameter out of its bounds.
INPUT_ERRORS: dict[int, Any] = {422: ErrorOut}
# Any operation with a JSON body: 400 when it is not JSON, 422 when it is not the schema.
BODY_ERRORS: dict[int, Any] = {400: ErrorOut, 422: ErrorOut}


class Paginated(PaginationBase):
    """``?page=&page_size=`` → ``{"count", "page", "page_size", "items"}`` (page_size ≤ 200)."""

    class Input(Schema):
        page: int = Field(1, ge=1, le=MAX_PAGE, description=f"1-based page number, at most {MAX_PAGE}")
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
