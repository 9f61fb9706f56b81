"""ChoiceLabelsMixin: the cached ``get_FOO_display`` answers like Django's, in the active language."""

from django.utils import translation

from anju.customers.models import Customer
from anju.listings.models import Listing


def test_labels_follow_the_active_language_and_unknown_values_fall_back():
    listing = Listing(status="sold", orientation="south")
    with translation.override("zh-hans"):
        assert listing.get_status_display() == "已售"
        assert listing.get_orientation_display() == "朝南"
    with translation.override("en"):
        assert listing.get_status_display() == "Sold"
    listing.status = "not-a-status"
    assert listing.get_status_display() == "not-a-status"


def test_every_value_matches_djangos_own_label():
    for model in (Listing, Customer):
        for field in model._meta.get_fields():
            if getattr(field, "choices", None) and field.concrete:
                for value, label in field.flatchoices:
                    instance = model(**{field.attname: value})
                    assert getattr(instance, f"get_{field.name}_display")() == str(label)
