"""Grant the listing permissions to the built-in roles (R1.1.2: agents collect listings and use company resources)."""

from django.db import migrations

VIEW = ["view_listing", "view_project", "view_building", "view_resource"]
AGENT = [*VIEW, "add_listing", "change_listing", "reveal_listing_contact", "export_listing"]
GRANTS = {
    "sales_agent": AGENT,
    "customer_service": VIEW,
    "team_lead": AGENT,
    "branch_manager": [*AGENT, "manage_projects", "import_price_list", "manage_resource"],
    "legal": VIEW,
    "finance": VIEW,
    "qa": VIEW,
    "administrator": [*AGENT, "manage_projects", "import_price_list", "manage_resource"],
    "auditor": VIEW,
}


def grant(apps, schema_editor):
    from importlib import import_module

    import_module("anju.org.migrations.0002_seed_roles").ensure_permissions(apps)
    Role = apps.get_model("org", "Role")
    Permission = apps.get_model("auth", "Permission")
    for code, codenames in GRANTS.items():
        role = Role.objects.filter(code=code).first()
        if role is None:
            continue
        role.permissions.add(*Permission.objects.filter(content_type__app_label="listings", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("listings", "0001_initial"), ("org", "0002_seed_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
