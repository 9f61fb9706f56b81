from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from anju.core.api import api
from anju.core.views import errors
from anju.org import urls as org_urls

urlpatterns = [
    path("", include("anju.core.urls")),
    path("", include(org_urls.account_urlpatterns)),
    path("org/", include("anju.org.urls")),
    path("customers/", include("anju.customers.urls")),
    path("listings/", include("anju.listings.urls")),
    path("api/v1/", api.urls),
    path("i18n/", include("django.conf.urls.i18n")),
    path("django-admin/", admin.site.urls),
]

handler400 = "anju.core.views.errors.bad_request"
handler403 = "anju.core.views.errors.permission_denied"
handler404 = "anju.core.views.errors.page_not_found"
handler500 = "anju.core.views.errors.server_error"

if settings.DEBUG:
    urlpatterns += [path("__errors__/<int:code>/", errors.preview)]
