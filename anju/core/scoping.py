"""The one data-scope mechanism (DESIGN.md §1, R1.1.3).

Every business model uses ``ScopedQuerySet`` and declares how it hangs on the
organisation in ``scope_paths`` — lookups from the model to the owning user, the team and
the branch. ``Model.objects.visible_to(user)`` then applies the user's widest scope:

* own    — rows whose owner is the user
* team   — rows of the user's team
* branch — rows of the user's branch and every branch below it
* all    — everything

A user with no role, an inactive user or a model without a path for the scope sees
nothing: deny by default. Views turn a miss into a 404 (``get_visible_or_404``).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Scope(models.TextChoices):
    OWN = "own", _("Own records")
    TEAM = "team", pgettext_lazy("data scope", "Team")
    BRANCH = "branch", _("Branch and sub-branches")
    ALL = "all", _("Everything")


SCOPE_RANK = {Scope.OWN: 1, Scope.TEAM: 2, Scope.BRANCH: 3, Scope.ALL: 4}


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
        from anju.org.models import Branch

        branch = user.branch
        cached = (
            []
            if branch is None
            else list(Branch.objects.filter(path__startswith=branch.path).values_list("pk", flat=True))
        )
        user._anju_subtree_ids = cached
    return cached


def _branch_subtree_q(path_lookup: str, user) -> Q | None:
    # An id list, not a join on the branch path: "branch_id IN (…) OR owner_id = me" can use the
    # indexes of the scoped table, while an OR across two joined tables forces a full scan.
    ids = subtree_branch_ids(user)
    if not ids:
        return None
    return Q(**{f"{path_lookup or 'pk'}__in": ids})


class ScopedQuerySet(models.QuerySet):
    """QuerySet with ``visible_to(user)``; models set ``scope_paths`` (owner/team/branch)."""

    def visible_to(self, user) -> ScopedQuerySet:
        scope = scope_of(user)
        if scope is None:
            return self.none()
        if scope == Scope.ALL:
            return self.all()
        paths: dict[str, str] = getattr(self.model, "scope_paths", {})
        condition: Q | None = None
        if scope == Scope.OWN and "owner" in paths:
            condition = Q(**{paths["owner"]: user.pk})
        elif scope == Scope.TEAM and "team" in paths and user.team_id:
            condition = Q(**{paths["team"]: user.team_id})
        elif scope == Scope.BRANCH and "branch" in paths:
            condition = _branch_subtree_q(paths["branch"], user)
        # A wider scope always includes what the user owns.
        if scope != Scope.OWN and "owner" in paths:
            own = Q(**{paths["owner"]: user.pk})
            condition = own if condition is None else condition | own
        if condition is None:
            return self.none()
        return self.filter(condition)


def get_visible_or_404(queryset, user, **lookup):
    """Fetch one object inside the user's scope; anything else is a 404, never a 403."""
    try:
        return queryset.visible_to(user).get(**lookup)
    except queryset.model.DoesNotExist:
        raise Http404 from None
