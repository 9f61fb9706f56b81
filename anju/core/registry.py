"""Where apps plug into the shared kernel (DESIGN.md §9): sidebar entries and home-page panels.

``core`` imports no app. Each app registers what it brings from its ``AppConfig.ready()``:

* ``register_nav(NavItem(...), ...)`` — sidebar entries, ordered by ``order`` (sections follow
  the order of their first entry; the bands in use: 0 home, 100 customers, 200 listings, 300
  deals, 400 service, 500 training/quality, 800 organisation, 900 security, 1000 my account);
* ``register_home_role(resolver)`` — who a user is on the home page (their first role by
  precedence), answered by the app that owns roles;
* ``register_home_panel(provider, roles=...)`` — a function ``(user, now) -> dict`` whose keys the
  role's home template shows; ``roles=None`` means every role.

The API routers register themselves on ``anju.core.api.api`` (``api.add_router``) and periodic
jobs with ``@periodic`` in the app's ``tasks`` module.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.utils.functional import Promise


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    icon: str
    permission: str | None = None
    section: str | Promise = ""
    order: int = 0


@dataclass(frozen=True)
class HomePanel:
    provider: Callable[[object, dt.datetime], dict]
    roles: frozenset[str] | None


_nav: dict[str, NavItem] = {}
_panels: list[HomePanel] = []
_home_role: list[Callable[[object], str]] = []


def register_nav(*items: NavItem) -> None:
    """Add sidebar entries (registering the same URL name again replaces the entry)."""
    for item in items:
        _nav[item.url_name] = item


def nav_items() -> list[NavItem]:
    return sorted(_nav.values(), key=lambda item: item.order)


def register_home_role(resolver: Callable[[object], str]) -> None:
    """The one function that names a user's home page (``"none"`` when they have no role)."""
    _home_role[:] = [resolver]


def home_role(user) -> str:
    return _home_role[0](user) if _home_role else "none"


def register_home_panel(provider: Callable[[object, dt.datetime], dict], *, roles: Iterable[str] | None = None) -> None:
    """Add what a home page shows for ``roles`` (every role when None)."""
    _panels.append(HomePanel(provider=provider, roles=None if roles is None else frozenset(roles)))


def home_context(user, role: str, now: dt.datetime) -> dict:
    """Everything the role's home page shows, gathered from the panels registered for it."""
    context: dict = {}
    for panel in _panels:
        if panel.roles is None or role in panel.roles:
            context.update(panel.provider(user, now))
    return context
