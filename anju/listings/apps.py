from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ListingsConfig(AppConfig):
    name = "anju.listings"
    label = "listings"
    verbose_name = _("Listings")

    def ready(self) -> None:
        """Plug into the shared kernel (DESIGN.md §9): API, sidebar, home page."""
        from anju.core.api import api
        from anju.core.registry import NavItem, register_home_panel, register_nav

        from . import home
        from .api import router

        api.add_router("/", router)
        section = _("Listings")
        register_nav(
            NavItem(_("Listings"), "listings:listing-list", "houses", "listings.view_listing", section, order=200),
            NavItem(_("Projects"), "listings:project-list", "buildings", "listings.view_project", section, order=210),
            NavItem(
                _("Listings to re-verify"),
                "listings:stale-queue",
                "patch-check",
                "listings.change_listing",
                section,
                order=220,
            ),
            NavItem(
                _("Company resources"),
                "listings:resource-list",
                "folder2-open",
                "listings.view_resource",
                section,
                order=230,
            ),
        )
        register_home_panel(home.agent_panel, roles={"sales_agent"})
        register_home_panel(home.manager_panel, roles={"branch_manager"})
