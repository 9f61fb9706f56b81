"""Grant the customer permissions to the built-in roles (R1.1.2: what a sales agent may do)."""

from django.db import migrations

AGENT = [
    "view_customer", "add_customer", "change_customer", "reveal_customer_contact", "export_customer",
    "view_visit", "add_visit",
]
GRANTS = {
    "sales_agent": AGENT,
    "customer_service": ["view_customer", "change_customer", "reveal_customer_contact", "view_visit", "add_visit"],
    "team_lead": [*AGENT, "transfer_customer"],
    "branch_manager": [*AGENT, "transfer_customer", "manage_customer_settings"],
    "legal": ["view_customer"],
    "finance": ["view_customer"],
    "qa": ["view_customer", "view_visit"],
    "administrator": [*AGENT, "transfer_customer", "manage_customer_settings"],
    "auditor": ["view_customer", "view_visit"],
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
        role.permissions.add(*Permission.objects.filter(content_type__app_label="customers", codename__in=codenames))


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial"), ("org", "0002_seed_roles")]

    operations = [migrations.RunPython(grant, migrations.RunPython.noop)]
