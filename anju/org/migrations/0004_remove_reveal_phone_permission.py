"""Drop ``org.reveal_phone`` (issue #8): nothing checked it. Revealing a number takes the app's own
permission (``customers.reveal_customer_contact``, ``listings.reveal_listing_contact``).

Django never deletes a permission that left ``Meta.permissions``, so the row (and with it every
grant to a role or a user) is removed here.
"""

from django.db import migrations


def delete_permission(apps, schema_editor):
    Permission = apps.get_model("auth", "Permission")
    Permission.objects.filter(
        content_type__app_label="org", content_type__model="user", codename="reveal_phone"
    ).delete()


class Migration(migrations.Migration):

    dependencies = [
        ('org', '0003_role_requires_two_factor'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='user',
            options={'ordering': ['username'], 'permissions': [('manage_users', 'Can manage users, branches and teams'), ('unlock_login', 'Can unlock locked-out logins')], 'verbose_name': 'user', 'verbose_name_plural': 'users'},
        ),
        migrations.RunPython(delete_permission, migrations.RunPython.noop),
    ]
