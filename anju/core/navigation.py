"""The sidebar, built from the entries apps register (``anju.core.registry``) and the user's permissions."""

from __future__ import annotations

from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from .registry import NavItem, nav_items, register_nav

register_nav(
    NavItem(_("Home"), "home", "house", order=0),
    NavItem(_("Audit trail"), "audit-list", "journal-check", "core.browse_audit", _("Security"), order=910),
)


def items_for(user) -> list[dict]:
    """Sidebar entries the user may open, grouped in order of first appearance."""
    if not user.is_authenticated:
        return []
    granted = user.get_all_permissions()
    visible = []
    for item in nav_items():
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
