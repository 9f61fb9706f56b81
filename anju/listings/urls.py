"""URLs of the listings app; each views module lists its own patterns."""

from .views import board, imports, listing_detail, listing_forms, listing_list, matching, resources, stale

app_name = "listings"

urlpatterns = [
    *listing_list.urlpatterns,
    *listing_forms.urlpatterns,
    *listing_detail.urlpatterns,
    *board.urlpatterns,
    *imports.urlpatterns,
    *stale.urlpatterns,
    *resources.urlpatterns,
    *matching.urlpatterns,
]
