from django.db import models
from django.utils.translation import gettext_lazy as _


class BranchKind(models.TextChoices):
    REGION = "region", _("Region")
    SALES_OFFICE = "sales_office", _("Sales office")
    STORE = "store", _("Brokerage store")


class UserStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUSPENDED = "suspended", _("Suspended")
    LEFT = "left", _("Left")


# Allowed status transitions (DESIGN.md §5): a user who left does not come back.
USER_STATUS_TRANSITIONS = {
    UserStatus.ACTIVE: {UserStatus.SUSPENDED, UserStatus.LEFT},
    UserStatus.SUSPENDED: {UserStatus.ACTIVE, UserStatus.LEFT},
    UserStatus.LEFT: set(),
}


class RoleCode(models.TextChoices):
    """The roles of R1.1.1; each is seeded by a migration and editable by administrators."""

    SALES_AGENT = "sales_agent", _("Sales agent")
    CUSTOMER_SERVICE = "customer_service", _("Customer-service rep")
    TEAM_LEAD = "team_lead", _("Team lead")
    BRANCH_MANAGER = "branch_manager", _("Branch manager")
    LEGAL = "legal", _("Legal reviewer")
    FINANCE = "finance", _("Finance")
    QA = "qa", _("QA supervisor")
    ADMINISTRATOR = "administrator", _("Administrator")
    AUDITOR = "auditor", _("Auditor")
