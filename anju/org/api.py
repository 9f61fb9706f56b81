"""/api/v1: token issue, the current user, and scoped branches, teams and users.

No ``from __future__ import annotations`` here: django-ninja reads ``Query[...]`` parameter
annotations at import time and cannot resolve them from strings.
"""

from django.contrib.auth import authenticate, user_logged_in
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from anju.core.api import AUTH_ERRORS, BODY_ERRORS, INPUT_ERRORS, ErrorOut, Id, Paginated, require_perm
from anju.core.errors import ApplicationError
from anju.core.scoping import get_scoped_or_404, scope_of

from . import selectors
from .models import ApiToken, Branch, Team, User
from .schemas import BranchOut, MeOut, TeamOut, TokenIn, TokenInfo, TokenOut, UserOut
from .services import auth as auth_services
from .services import two_factor

router = Router()

# Reading one record: its id out of bounds (422) or outside the caller's scope (404).
READ_ERRORS = {**AUTH_ERRORS, **INPUT_ERRORS, 404: ErrorOut}
LIST_ERRORS = {**AUTH_ERRORS, **INPUT_ERRORS}


@router.post(
    "/auth/token", auth=None, response={201: TokenOut, 401: ErrorOut, **BODY_ERRORS, 429: ErrorOut}, tags=["auth"]
)
def issue_token(request, payload: TokenIn):
    """Exchange a username and password for a personal access token (lockout rules apply).

    The request goes to ``authenticate`` so django-axes counts failures per username + IP
    and answers 429 ``auth.locked_out`` once the limit is reached.
    """
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        raise ApplicationError("auth.invalid_credentials", _("The username or password is not correct."), status=401)
    with_two_factor = two_factor.two_factor_required(user)
    if with_two_factor:
        _second_factor(user, payload.otp)
    # A token exchange is a password login: audited as one, and it clears axes' failure count.
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    token, raw = auth_services.token_create(actor=user, name=payload.name or "API", with_two_factor=with_two_factor)
    return Status(201, {"token": raw, "name": token.name, "expires_at": token.expires_at})


def _second_factor(user, code: str) -> None:
    """A token is a login: roles that require two-factor sign-in need the code here too (R5.1.2)."""
    if not two_factor.has_authenticator(user) and not two_factor.recovery_codes_left(user):
        raise ApplicationError(
            "auth.two_factor_setup_required",
            _("Your role requires two-factor sign-in: set it up by logging in to the web app first."),
            status=401,
        )
    if not code.strip():
        message = _("Your role requires two-factor sign-in: send the code from your authenticator app as “otp”.")
        raise ApplicationError("auth.two_factor_required", message, {"otp": [message]}, status=401)
    try:
        two_factor.verify(user=user, code=code)
    except ApplicationError as exc:
        status = 429 if exc.code == "two_factor.throttled" else 401
        raise ApplicationError("auth.two_factor_invalid", exc.message, {"otp": [exc.message]}, status=status) from None


@router.get("/auth/tokens", response={200: list[TokenInfo], **AUTH_ERRORS}, tags=["auth"])
def list_tokens(request):
    """The caller's own tokens (secrets are never shown again)."""
    return ApiToken.objects.filter(user=request.user).order_by("-created_at")


@router.delete("/auth/tokens/{token_id}", response={204: None, **READ_ERRORS}, tags=["auth"])
def revoke_token(request, token_id: Id):
    """Revoke one of the caller's own tokens."""
    token = get_object_or_404(ApiToken, pk=token_id, user=request.user)
    auth_services.token_revoke(actor=request.user, token=token)
    return Status(204, None)


@router.get("/me", response={200: MeOut, **AUTH_ERRORS}, tags=["org"])
def me(request):
    """The authenticated user, their data scope and permissions."""
    user = User.objects.select_related("branch", "team").prefetch_related("roles").get(pk=request.user.pk)
    user.data_scope = scope_of(request.user)
    user.permissions = sorted(request.user.get_all_permissions())
    return user


class BranchFilters(Schema):
    search: str = Field("", max_length=50)


@router.get("/branches", response={200: list[BranchOut], **LIST_ERRORS}, tags=["org"])
@paginate(Paginated)
def list_branches(request, filters: Query[BranchFilters]):
    """Branches in the caller's scope, in tree order."""
    require_perm(request, "org.view_branch")
    return selectors.branch_list_for(request.user, search=filters.search)


@router.get("/branches/{branch_id}", response={200: BranchOut, **READ_ERRORS}, tags=["org"])
def get_branch(request, branch_id: Id):
    """One branch in the caller's scope (404 outside it)."""
    require_perm(request, "org.view_branch")
    return get_scoped_or_404(Branch.objects, request.user, pk=branch_id)


class TeamFilters(Schema):
    search: str = Field("", max_length=50)
    branch: Id | None = None


@router.get("/teams", response={200: list[TeamOut], **LIST_ERRORS}, tags=["org"])
@paginate(Paginated)
def list_teams(request, filters: Query[TeamFilters]):
    """Teams in the caller's scope."""
    require_perm(request, "org.view_team")
    return selectors.team_list_for(request.user, search=filters.search, branch_id=filters.branch)


@router.get("/teams/{team_id}", response={200: TeamOut, **READ_ERRORS}, tags=["org"])
def get_team(request, team_id: Id):
    """One team in the caller's scope (404 outside it)."""
    require_perm(request, "org.view_team")
    return get_scoped_or_404(Team.objects.select_related("branch", "lead"), request.user, pk=team_id)


class UserFilters(Schema):
    search: str = Field("", max_length=50)
    branch: Id | None = None
    team: Id | None = None
    status: str = Field("", max_length=20)
    role: str = Field("", max_length=40)


@router.get("/users", response={200: list[UserOut], **LIST_ERRORS}, tags=["org"])
@paginate(Paginated)
def list_users(request, filters: Query[UserFilters]):
    """Users in the caller's scope; phones are masked."""
    require_perm(request, "org.view_user")
    return selectors.user_list_for(
        request.user,
        search=filters.search,
        branch_id=filters.branch,
        team_id=filters.team,
        status=filters.status,
        role=filters.role,
    )


@router.get("/users/{user_id}", response={200: UserOut, **READ_ERRORS}, tags=["org"])
def get_user(request, user_id: Id):
    """One user in the caller's scope (404 outside it); the phone is masked."""
    require_perm(request, "org.view_user")
    queryset = User.objects.select_related("branch", "team").prefetch_related("roles")
    return get_scoped_or_404(queryset, request.user, pk=user_id)
