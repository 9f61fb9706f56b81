from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    name = "anju.customers"
    label = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        """Plug into the shared kernel (DESIGN.md §9): API, sidebar, home page."""
        from anju.core.api import api
        from anju.core.registry import NavItem, register_home_panel, register_nav

        from . import home
        from .api import router

        api.add_router("/", router)
        section = _("Customers")
        register_nav(
            NavItem(
                _("Reception desk"), "customers:reception-home", "door-open", "customers.view_visit", section, order=100
            ),
            NavItem(
                _("Customers"),
                "customers:customer-list",
                "person-lines-fill",
                "customers.view_customer",
                section,
                order=110,
            ),
            NavItem(_("Public pool"), "customers:pool-list", "people", "customers.add_customer", section, order=120),
            NavItem(
                _("My follow-ups"),
                "customers:followup-list",
                "calendar-check",
                "customers.change_customer",
                section,
                order=130,
            ),
            NavItem(
                _("Team follow-ups"),
                "customers:followup-team",
                "alarm",
                "customers.transfer_customer",
                section,
                order=140,
            ),
            NavItem(
                _("Feedback"),
                "customers:feedback-list",
                "chat-left-text",
                "customers.view_customer",
                section,
                order=150,
            ),
        )
        register_home_panel(home.agent_home, roles={"sales_agent"})
        register_home_panel(home.lead_home, roles={"team_lead"})
        register_home_panel(home.manager_home, roles={"branch_manager"})
        register_home_panel(home.cs_home, roles={"customer_service"})
