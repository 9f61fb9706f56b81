"""Move the reveal log to core (issue #8): one log, and one hourly limit, for every kind of reveal.

Copies each ``customers.RevealLog`` row into ``core.RevealLog`` (target ``customers.customer``, the
same field, reason, user and time), then drops the customers table. Reversing copies the customer
rows back and removes them from core, so migrating forward again does not count them twice.
"""

from django.db import migrations

TARGET_TYPE = "customers.customer"
BATCH = 1000


def copy_to_core(apps, schema_editor):
    Old = apps.get_model("customers", "RevealLog")
    New = apps.get_model("core", "RevealLog")
    batch = []
    for row in Old.objects.order_by("pk").iterator(chunk_size=BATCH):
        batch.append(
            New(
                target_type=TARGET_TYPE,
                target_id=str(row.customer_id),
                field=row.field,
                reason=row.reason,
                revealed_by_id=row.revealed_by_id,
                revealed_at=row.revealed_at,
            )
        )
        if len(batch) >= BATCH:
            New.objects.bulk_create(batch)
            batch = []
    New.objects.bulk_create(batch)


def copy_back(apps, schema_editor):
    Old = apps.get_model("customers", "RevealLog")
    New = apps.get_model("core", "RevealLog")
    Customer = apps.get_model("customers", "Customer")
    rows = list(New.objects.filter(target_type=TARGET_TYPE).order_by("pk"))
    for start in range(0, len(rows), BATCH):
        batch = rows[start : start + BATCH]
        ids = {int(row.target_id) for row in batch}
        existing = set(Customer.objects.filter(pk__in=ids).values_list("pk", flat=True))
        for row in batch:
            if int(row.target_id) not in existing:
                continue  # the old log was tied to the customer (CASCADE); a removed customer has none
            old = Old.objects.create(
                customer_id=int(row.target_id), field=row.field[:20], reason=row.reason, revealed_by_id=row.revealed_by_id
            )
            # revealed_at was auto_now_add there: put the original time back.
            Old.objects.filter(pk=old.pk).update(revealed_at=row.revealed_at)
    New.objects.filter(target_type=TARGET_TYPE).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_customer_name_grams"),
        ("core", "0004_reveal_log"),
    ]

    operations = [
        migrations.RunPython(copy_to_core, copy_back),
        migrations.DeleteModel(name="RevealLog"),
    ]
