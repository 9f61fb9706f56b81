"""URLs of the customers app; each views module lists its own patterns."""

from .views import customer_detail, customer_list, followups, pool, reception, settings_pages

app_name = "customers"

urlpatterns = [
    *customer_list.urlpatterns,
    *customer_detail.urlpatterns,
    *reception.urlpatterns,
    *followups.urlpatterns,
    *pool.urlpatterns,
    *settings_pages.urlpatterns,
]
