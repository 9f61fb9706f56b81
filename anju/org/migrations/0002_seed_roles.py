"""Seed the nine roles of R1.1.1 with their permissions and data scopes.

The role table is editable afterwards; this migration only creates what is missing, so
re-running it never overwrites an administrator's changes. Later apps grant their own
permissions to these roles in their own migrations.
"""

from django.db import migrations
from django.utils.translation import gettext_noop

VIEW_ORG = ["org.view_user", "org.view_team"]
ROLES = [
    # code, name (an msgid of RoleCode), description (marked for the catalogue); both translated on display, scope, permissions
    ("sales_agent", "Sales agent", gettext_noop("Own customers, showings, signing and follow-ups."), "own", VIEW_ORG),
    (
        "customer_service",
        "Customer-service rep",
        gettext_noop("Feedback, complaints and surveys for the branch."),
        "branch",
        VIEW_ORG,
    ),
    ("team_lead", "Team lead", gettext_noop("Supervises one team's agents."), "team", VIEW_ORG),
    (
        "branch_manager",
        "Branch manager",
        gettext_noop("Runs a sales office or store and the branches below it."),
        "branch",
        [*VIEW_ORG, "org.view_branch"],
    ),
    ("legal", "Legal reviewer", gettext_noop("Contract review and compliance."), "branch", VIEW_ORG),
    ("finance", "Finance", gettext_noop("Payments and vouchers."), "branch", VIEW_ORG),
    (
        "qa",
        "QA supervisor",
        gettext_noop("Service supervision and rectification across the company."),
        "all",
        [*VIEW_ORG, "org.view_branch"],
    ),
    (
        "administrator",
        "Administrator",
        gettext_noop("Organisation, users, roles and security."),
        "all",
        [
            *VIEW_ORG,
            "org.view_branch",
            "org.manage_users",
            "org.manage_roles",
            "org.unlock_login",
            "core.browse_audit",
        ],
    ),
    (
        "auditor",
        "Auditor",
        gettext_noop("Read-only access to everything, including the audit trail."),
        "all",
        [
            *VIEW_ORG,
            "org.view_branch",
            "core.browse_audit",
        ],
    ),
]


def ensure_permissions(apps):
    """Permissions are normally created after all migrations; roles need them now."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    for app_config in global_apps.get_app_configs():
        create_permissions(app_config, verbosity=0, apps=apps)


def seed_roles(apps, schema_editor):
    ensure_permissions(apps)
    Role = apps.get_model("org", "Role")
    Permission = apps.get_model("auth", "Permission")
    for code, name, description, scope, perms in ROLES:
        role, created = Role.objects.get_or_create(
            code=code, defaults={"name": name, "description": description, "data_scope": scope, "is_system": True}
        )
        if not created:
            continue
        for dotted in perms:
            app_label, codename = dotted.split(".")
            role.permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0001_initial"),
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(seed_roles, migrations.RunPython.noop)]
