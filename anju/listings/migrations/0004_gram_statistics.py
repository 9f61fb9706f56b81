"""PostgreSQL only: a finer statistics target for ``listings_searchgram.gram``.

With the default target (100) a rare bigram is estimated at ~3,000 rows when it has 20, and
the planner walks the whole active-listings index probing each row for the gram (1.1 s at
200,000 listings). With 2,000 most-common values kept, rare grams are estimated close to
their real count and the plan starts from the gram (30 ms). bench/README.md "Listings search".
"""

from django.db import migrations

GRAM_STATISTICS = 2000


def raise_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite keeps no per-column statistics target
    table = apps.get_model("listings", "SearchGram")._meta.db_table
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN gram SET STATISTICS {GRAM_STATISTICS}")


def reset_statistics(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    table = apps.get_model("listings", "SearchGram")._meta.db_table
    schema_editor.execute(f"ALTER TABLE {table} ALTER COLUMN gram SET STATISTICS -1")


class Migration(migrations.Migration):
    dependencies = [("listings", "0003_listing_is_active")]

    operations = [migrations.RunPython(raise_statistics, reset_statistics, elidable=False)]
