"""The one data-scope policy (DESIGN.md §1, R1.1.3): who may reach which records, for what.

Every business model uses ``ScopedQuerySet`` and declares two things next to its fields:

* ``scope_paths`` — lookups from the model to the owning user, the team and the branch, e.g.
  ``{"owner": "owner", "team": "team", "branch": "branch"}``;
* ``scope_actions`` — the actions that exist on the model and the rule each one follows, e.g.
  ``{"view": AnyRole(), "manage": RoleScope()}``. Without a declaration a model has one
  action, ``view``, following ``RoleScope()``.

``Model.objects.restrict(user, action)`` is the only way views, the API, selectors, exports,
services and tasks load scoped records; ``visible_to(user)`` is the ``view`` shorthand. The
role's data scope (its widest one) still decides the reach:

* own    — rows whose owner is the user
* team   — rows of the user's team
* branch — rows of the user's branch and every branch below it
* all    — everything

The rules only say how that scope applies to an action (see ``RoleScope``, ``AnyRole``,
``Owner`` and ``HomeBranch``). A user with no role, an inactive user, or a rule without the path it needs
reaches nothing: deny by default. Out of scope is "not found" (``get_scoped_or_404``,
``require_in_scope``), never "forbidden". A feature that needs another reach declares an
action here; it never filters records by its own rule.

The policy needs three things of the user model, and no app: ``roles`` (each with a
``data_scope``), ``team`` and ``branch``, whose model keeps a materialised ``path``.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import PermissionDenied
from django.db import models
from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from .errors import ApplicationError


class Scope(models.TextChoices):
    OWN = "own", gettext_lazy("Own records")
    TEAM = "team", pgettext_lazy("data scope", "Team")
    BRANCH = "branch", gettext_lazy("Branch and sub-branches")
    ALL = "all", gettext_lazy("Everything")


SCOPE_RANK = {Scope.OWN: 1, Scope.TEAM: 2, Scope.BRANCH: 3, Scope.ALL: 4}

# What a rule returns: a condition, ``EVERYTHING`` (no filter) or ``None`` (nothing).
EVERYTHING = Q()


def scope_of(user) -> Scope | None:
    """The widest scope among the user's roles (cached on the user object for the request)."""
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    cached = getattr(user, "_anju_scope", "unset")
    if cached != "unset":
        return cached
    if user.is_superuser:
        scope = Scope.ALL
    else:
        # The same query tells whether a role requires two-factor sign-in, which the middleware
        # asks on every request: answering both at once keeps that from costing a query per page.
        rows = list(user.roles.values_list("data_scope", "requires_two_factor"))
        user._anju_requires_two_factor = any(required for _scope, required in rows)
        scopes = [Scope(value) for value, _required in rows]
        scope = max(scopes, key=SCOPE_RANK.__getitem__) if scopes else None
    user._anju_scope = scope
    return scope


def subtree_branch_ids(user) -> list[int]:
    """Ids of the user's branch and every branch below it (cached on the user for the request)."""
    cached = getattr(user, "_anju_subtree_ids", None)
    if cached is None:
        branch = user.branch
        cached = (
            []
            if branch is None
            else list(type(branch)._default_manager.filter(path__startswith=branch.path).values_list("pk", flat=True))
        )
        user._anju_subtree_ids = cached
    return cached


def _ids_q(lookup: str, ids: list[int]) -> Q | None:
    # An id list, not a join on the branch path: "branch_id IN (…) OR owner_id = me" can use the
    # indexes of the scoped table, while an OR across two joined tables forces a full scan.
    return Q(**{f"{lookup or 'pk'}__in": ids}) if ids else None


def _either(first: Q | None, second: Q | None) -> Q | None:
    if first is None or second is None:
        return first if second is None else second
    return first | second


# --- rules ------------------------------------------------------------------------------------


class Rule:
    """How far an action reaches for a user with a given scope."""

    def condition(self, user, scope: Scope, paths: dict[str, str]) -> Q | None:
        raise NotImplementedError

    def required_paths(self) -> set[str]:
        """Path names the rule cannot work without (checked at start-up)."""
        return set()


class RoleScope(Rule):
    """The role's own / team / branch / all scope over the model's paths.

    A wider scope always includes what the user owns. ``participants`` are further lookups to a
    user that also reach the record (e.g. the agent a visitor was assigned to), whatever the scope.
    """

    def __init__(self, *, participants: tuple[str, ...] = ()):
        self.participants = participants

    def condition(self, user, scope, paths):
        if scope == Scope.ALL:
            return EVERYTHING
        condition: Q | None = None
        if scope == Scope.OWN and "owner" in paths:
            condition = Q(**{paths["owner"]: user.pk})
        elif scope == Scope.TEAM and "team" in paths and user.team_id:
            condition = Q(**{paths["team"]: user.team_id})
        elif scope == Scope.BRANCH and "branch" in paths:
            condition = _ids_q(paths["branch"], subtree_branch_ids(user))
        if scope != Scope.OWN and "owner" in paths:
            condition = _either(condition, Q(**{paths["owner"]: user.pk}))
        for lookup in self.participants:
            condition = _either(condition, Q(**{lookup: user.pk}))
        return condition


class AnyRole(Rule):
    """Every record, for anyone who holds a role (company resources such as listings, R1.1.2)."""

    def condition(self, user, scope, paths):
        return EVERYTHING


class Owner(Rule):
    """Only the user's own records, whatever the role's scope (a personal inbox)."""

    def required_paths(self) -> set[str]:
        return {"owner"}

    def condition(self, user, scope, paths):
        return Q(**{paths["owner"]: user.pk})


class HomeBranch(Rule):
    """Records of the user's own branch (``subtree``: and the branches below it), through the
    ``branch`` path — the reach of work that belongs to a place, like a sales office's desk or pool.

    With ``widen`` the role's scope adds its branches (a branch scope: the whole subtree; all:
    everything); without it the home branch is the limit whatever the role (claiming from a pool).
    """

    def __init__(self, *, subtree: bool, widen: bool):
        self.subtree, self.widen = subtree, widen

    def required_paths(self) -> set[str]:
        return {"branch"}

    def condition(self, user, scope, paths):
        if self.widen and scope == Scope.ALL:
            return EVERYTHING
        if not user.branch_id:
            return None
        if self.subtree or (self.widen and scope == Scope.BRANCH):
            return _ids_q(paths["branch"], subtree_branch_ids(user))
        return Q(**{paths["branch"] or "pk": user.branch_id})


DEFAULT_ACTIONS: dict[str, Rule] = {"view": RoleScope()}


def actions_of(model) -> dict[str, Rule]:
    return getattr(model, "scope_actions", DEFAULT_ACTIONS)


# --- reading ----------------------------------------------------------------------------------


class ScopedQuerySet(models.QuerySet):
    """QuerySet with ``restrict(user, action)``; models declare ``scope_paths`` and ``scope_actions``."""

    def restrict(self, user, action: str = "view") -> ScopedQuerySet:
        """Only the records ``user`` may reach for ``action`` (deny by default)."""
        try:
            rule = actions_of(self.model)[action]
        except KeyError:
            raise LookupError(f"{self.model.__name__} declares no scope action {action!r}") from None
        scope = scope_of(user)
        if scope is None:
            return self.none()
        condition = rule.condition(user, scope, getattr(self.model, "scope_paths", {}))
        if condition is None:
            return self.none()
        return self.filter(condition) if condition else self.all()

    def visible_to(self, user) -> ScopedQuerySet:
        """The ``view`` shorthand."""
        return self.restrict(user, "view")


def in_scope(user, obj, action: str = "view") -> bool:
    """Whether ``obj`` lies inside the user's reach for ``action``."""
    return type(obj)._default_manager.restrict(user, action).filter(pk=obj.pk).exists()


def require_in_scope(actor, obj, action: str = "view") -> None:
    """Services act only on records inside the actor's reach (R1.1.3); outside is "not found"."""
    if obj is not None and not in_scope(actor, obj, action):
        raise ApplicationError("not_found", _("Not found."), status=404)


def get_scoped_or_404(queryset, user, action: str = "view", **lookup):
    """Fetch one object inside the user's reach for ``action``; anything else is a 404, never a 403."""
    try:
        return queryset.restrict(user, action).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404 from None


def get_for_action_or_403(queryset, user, action: str, **lookup):
    """For records everyone with a role sees (listings, projects): fetch one inside ``view`` (else
    404), then refuse with 403 unless it is also inside ``action`` — the page exists, it is not theirs."""
    found = get_scoped_or_404(queryset, user, **lookup)
    if not in_scope(user, found, action):
        raise PermissionDenied
    return found


# --- declarations are checked at start-up ----------------------------------------------------


@checks.register()
def check_scope_declarations(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Every scoped model has paths, a ``view`` action, and the paths its rules need."""
    from django.apps import apps

    problems = []
    for model in apps.get_models():
        if not issubclass(type(model._default_manager.all()), ScopedQuerySet):
            continue
        paths = getattr(model, "scope_paths", None)
        actions = actions_of(model)
        if not paths:
            problems.append(checks.Error(f"{model.__name__} is scoped but declares no scope_paths", id="anju.E001"))
        if "view" not in actions:
            problems.append(checks.Error(f"{model.__name__} declares no 'view' scope action", id="anju.E002"))
        for action, rule in actions.items():
            missing = rule.required_paths() - set(paths or {})
            if missing:
                problems.append(
                    checks.Error(f"{model.__name__}.{action} needs the scope paths {sorted(missing)}", id="anju.E003")
                )
    return problems
