"""Customer name search through a unigram/bigram index (docs/decisions.md "Customer name search
uses the same gram index"): ``Customer.search_name`` (the normalised name) and
``CustomerNameGram``, backfilled for existing customers; on PostgreSQL the gram column gets a
statistics target of 2,000, as ``listings.0004`` does for listing grams.
"""

import django.db.models.deletion
from django.db import migrations, models

BATCH = 2000
GRAM_STATISTICS = 2000


def backfill_name_grams(apps, schema_editor):
    """Fill ``search_name`` and the grams of every existing customer, ``BATCH`` customers at a time."""
    from anju.core.grams import grams_of, normalise

    Customer = apps.get_model("customers", "Customer")
    CustomerNameGram = apps.get_model("customers", "CustomerNameGram")
    customers = Customer.objects.order_by("pk").only("pk", "name", "search_name").iterator(chunk_size=BATCH)
    batch = []

    def flush():
        changed = [customer for customer in batch if customer._new_search_name != customer.search_name]
        for customer in changed:
            customer.search_name = customer._new_search_name
        # bulk_update leaves updated_at alone: a backfill is not an edit of the customer file.
        Customer.objects.bulk_update(changed, ["search_name"], batch_size=500)
        CustomerNameGram.objects.bulk_create(
            [
                CustomerNameGram(customer_id=customer.pk, gram=gram)
                for customer in batch
                for gram in sorted(grams_of(customer._new_search_name))
            ],
            batch_size=5000,
            ignore_conflicts=True,  # re-runnable: grams already there are kept
        )
        batch.clear()

    for customer in customers:
        customer._new_search_name = normalise(customer.name)
        batch.append(customer)
        if len(batch) >= BATCH:
            flush()
    if batch:
        flush()


def raise_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps no per-column statistics target
    table = apps.get_model("customers", "CustomerNameGram")._meta.db_table
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN gram SET STATISTICS {GRAM_STATISTICS}")


def reset_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("customers", "CustomerNameGram")._meta.db_table
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN gram SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [("customers", "0004_list_indexes")]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="search_name",
            field=models.TextField(blank=True, default="", editable=False),
        ),
        migrations.CreateModel(
            name="CustomerNameGram",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("gram", models.CharField(max_length=2)),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE, related_name="+", to="customers.customer"
                    ),
                ),
            ],
            options={
                "indexes": [models.Index(fields=["gram", "customer"], name="customer_name_gram")],
                "constraints": [models.UniqueConstraint(fields=("customer", "gram"), name="customer_name_gram_unique")],
            },
        ),
        migrations.RunPython(backfill_name_grams, migrations.RunPython.noop, elidable=False),
        migrations.RunPython(raise_statistics, reset_statistics, elidable=False),
    ]
