"""Declare ``customers.manage_rotation`` and grant it to team leads and branch managers (R6.1.1, issue #9).

Skipping another agent's turn, reassigning a visitor and acting on another agent's visitor are
decisions about the fairness of the reception rotation; only the people who run the rotation (the
team lead, the branch manager / 案场经理) hold them. Roles are found by their code, so an installation
that renamed a built-in role still gets the grant; a role that was deleted is left alone.
"""

from django.db import migrations

CODENAME = "manage_rotation"
GRANTED_TO = ["team_lead", "branch_manager"]


def grant(apps, schema_editor):
    from importlib import import_module

    import_module("anju.org.migrations.0002_seed_roles").ensure_permissions(apps)
    Role = apps.get_model("org", "Role")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.get(content_type__app_label="customers", codename=CODENAME)
    for role in Role.objects.filter(code__in=GRANTED_TO):
        role.permissions.add(permission)


def revoke(apps, schema_editor):
    Role = apps.get_model("org", "Role")
    Permission = apps.get_model("auth", "Permission")
    permission = Permission.objects.filter(content_type__app_label="customers", codename=CODENAME).first()
    if permission is not None:
        for role in Role.objects.filter(permissions=permission):
            role.permissions.remove(permission)


class Migration(migrations.Migration):
    dependencies = [("customers", "0006_move_reveal_log_to_core"), ("org", "0002_seed_roles")]

    operations = [
        migrations.AlterModelOptions(
            name="visit",
            options={
                "ordering": ["-arrived_at"],
                "permissions": [
                    (
                        "manage_rotation",
                        "Can manage the reception rotation (skip turns, reassign, act on others' visitors)",
                    )
                ],
                "verbose_name": "visit",
                "verbose_name_plural": "visits",
            },
        ),
        migrations.RunPython(grant, revoke),
    ]
