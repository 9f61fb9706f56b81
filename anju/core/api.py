"""The API root at /api/v1: authentication, the one error shape, pagination.

Bearer personal access tokens for integrations, the browser session (with CSRF) for the
UI. Every router registered here requires one of them unless it says otherwise.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.pagination import PaginationBase
from ninja.security import HttpBearer, SessionAuth

from .errors import ApplicationError, from_validation_error


class BearerToken(HttpBearer):
    openapi_description = "Personal access token from POST /api/v1/auth/token: `Authorization: Bearer anju_…`"

    def authenticate(self, request, token: str):
        from anju.org.auth_services import token_authenticate

        user = token_authenticate(token)
        if user is not None:
            request.user = user
        return user


class Session(SessionAuth):
    """The browser's login session; unsafe methods need the CSRF token."""

    def authenticate(self, request, key):
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and user.is_active:
            return user
        return None


api = NinjaAPI(
    title="Anju API",
    version="1.0.0",
    description="Anju (安居) REST API. All data is scoped to the caller's roles; personal data is masked.",
    auth=[BearerToken(), Session()],
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)


def _error(request, status: int, code: str, message: str, fields: dict | None = None):
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
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
        location = [str(part) for part in error.get("loc", []) if part not in ("body", "query", "path", "payload")]
        fields.setdefault(".".join(location) or "__all__", []).append(error.get("msg", ""))
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


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    return _error(request, exc.status_code, "http_error", str(exc))


class ErrorBody(Schema):
    code: str
    message: str
    fields: dict[str, list[str]]


class ErrorOut(Schema):
    error: ErrorBody


class Paginated(PaginationBase):
    """``?page=&page_size=`` → ``{"count", "page", "page_size", "items"}`` (page_size ≤ 200)."""

    class Input(Schema):
        page: int = 1
        page_size: int = 50

    class Output(Schema):
        count: int
        page: int
        page_size: int
        items: list[Any]

    def paginate_queryset(self, queryset, pagination: Input, request, **params):
        if pagination.page < 1 or not 1 <= pagination.page_size <= 200:
            raise ApplicationError(
                "pagination.invalid", _("page must be ≥ 1 and page_size between 1 and 200."),
                {"page_size": [_("Between 1 and 200.")]}, status=422,
            )
        offset = (pagination.page - 1) * pagination.page_size
        return {
            "count": self._items_count(queryset),
            "page": pagination.page,
            "page_size": pagination.page_size,
            "items": list(queryset[offset: offset + pagination.page_size]),
        }


def require_perm(request, perm: str) -> None:
    if not request.user.has_perm(perm):
        raise PermissionDenied


from anju.org.api import router as org_router  # noqa: E402

api.add_router("/", org_router)
