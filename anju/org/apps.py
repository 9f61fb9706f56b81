from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    name = "anju.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        """Plug into the shared kernel (DESIGN.md §9): signals, API, credentials, sidebar, home page."""
        from anju.core.api import api, register_credentials
        from anju.core.registry import NavItem, register_home_panel, register_home_role, register_nav

        from . import home, signals  # noqa: F401
        from .api import router
        from .services.auth import token_authenticate
        from .services.two_factor import is_verified, two_factor_required

        api.add_router("/", router)
        # A session still waiting for its second factor is not a credential (bearer tokens are).
        register_credentials(
            token_user=token_authenticate,
            session_usable=lambda user: is_verified(user) or not two_factor_required(user),
        )
        organisation, security, account = _("Organisation"), _("Security"), _("My account")
        register_nav(
            NavItem(_("Users"), "org:user-list", "people", "org.view_user", organisation, order=800),
            NavItem(_("Teams"), "org:team-list", "diagram-3", "org.view_team", organisation, order=810),
            NavItem(_("Branches"), "org:branch-list", "building", "org.view_branch", organisation, order=820),
            NavItem(_("Roles"), "org:role-list", "person-badge", "org.manage_roles", organisation, order=830),
            NavItem(_("Login lockouts"), "org:lockout-list", "shield-lock", "org.unlock_login", security, order=900),
            NavItem(_("API tokens"), "account-tokens", "key", None, account, order=1000),
            NavItem(_("Change password"), "password-change", "shield-check", None, account, order=1010),
            NavItem(_("Two-factor sign-in"), "account-two-factor", "shield-lock", None, account, order=1020),
        )
        register_home_role(home.primary_role)
        register_home_panel(home.account_panel)
        register_home_panel(home.security_panel, roles={"administrator", "auditor"})
        register_home_panel(home.members_panel, roles={"branch_manager", "team_lead"})
