from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("org", "0004_remove_reveal_phone_permission"),
    ]

    operations = [
        migrations.AddField(
            model_name="apitoken",
            name="issued_with_two_factor",
            field=models.BooleanField(default=False, verbose_name="issued with two-factor sign-in"),
        ),
    ]
