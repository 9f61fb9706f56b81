"""The sidebar, built from the user's permissions (each app adds its entries here)."""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


@dataclass(frozen=True)
class NavItem:
    label: str | Promise
    url_name: str
    icon: str
    permission: str | None = None
    section: str | Promise = ""


NAV_ITEMS: list[NavItem] = [
    NavItem(_("Home"), "home", "house"),
    NavItem(_("Reception desk"), "customers:reception-home", "door-open", "customers.view_visit", _("Customers")),
    NavItem(_("Customers"), "customers:customer-list", "person-lines-fill", "customers.view_customer", _("Customers")),
    NavItem(_("Public pool"), "customers:pool-list", "people", "customers.add_customer", _("Customers")),
    NavItem(
        _("My follow-ups"), "customers:followup-list", "calendar-check", "customers.change_customer", _("Customers")
    ),
    NavItem(_("Team follow-ups"), "customers:followup-team", "alarm", "customers.transfer_customer", _("Customers")),
    NavItem(_("Feedback"), "customers:feedback-list", "chat-left-text", "customers.view_customer", _("Customers")),
    NavItem(_("Listings"), "listings:listing-list", "houses", "listings.view_listing", _("Listings")),
    NavItem(_("Projects"), "listings:project-list", "buildings", "listings.view_project", _("Listings")),
    NavItem(
        _("Listings to re-verify"), "listings:stale-queue", "patch-check", "listings.change_listing", _("Listings")
    ),
    NavItem(_("Company resources"), "listings:resource-list", "folder2-open", "listings.view_resource", _("Listings")),
    NavItem(_("Users"), "org:user-list", "people", "org.view_user", _("Organisation")),
    NavItem(_("Teams"), "org:team-list", "diagram-3", "org.view_team", _("Organisation")),
    NavItem(_("Branches"), "org:branch-list", "building", "org.view_branch", _("Organisation")),
    NavItem(_("Roles"), "org:role-list", "person-badge", "org.manage_roles", _("Organisation")),
    NavItem(_("Login lockouts"), "org:lockout-list", "shield-lock", "org.unlock_login", _("Security")),
    NavItem(_("Audit trail"), "audit-list", "journal-check", "core.browse_audit", _("Security")),
    NavItem(_("API tokens"), "account-tokens", "key", None, _("My account")),
    NavItem(_("Change password"), "password-change", "shield-check", None, _("My account")),
    NavItem(_("Two-factor sign-in"), "account-two-factor", "shield-lock", None, _("My account")),
]


def items_for(user) -> list[dict]:
    """Sidebar entries the user may open, grouped in order of first appearance."""
    if not user.is_authenticated:
        return []
    granted = user.get_all_permissions()
    visible = []
    for item in NAV_ITEMS:
        if item.permission and not (user.is_superuser or item.permission in granted):
            continue
        visible.append(
            {
                "label": item.label,
                "url": reverse(item.url_name),
                "icon": item.icon,
                "section": item.section,
                "url_name": item.url_name,
            }
        )
    return visible
