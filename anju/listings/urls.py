"""URLs of the listings app (namespace ``listings``); order matters where patterns overlap."""

from django.urls import path

from .views import board, imports, listing_detail, listing_forms, listing_list, matching, resources, stale

app_name = "listings"

urlpatterns = [
    path("", listing_list.listing_list, name="listing-list"),
    path("export/", listing_list.listing_export, name="listing-export"),
    path("new/", listing_forms.listing_create, name="listing-create"),
    path("<int:pk>/edit/", listing_forms.listing_edit, name="listing-edit"),
    path("<int:pk>/status/", listing_forms.listing_status, name="listing-status"),
    path("<int:pk>/photos/", listing_forms.listing_photos, name="listing-photos"),
    path("<int:pk>/reveal/", listing_forms.listing_reveal, name="listing-reveal"),
    path("photos/<int:pk>/<str:variant>/", listing_forms.photo_file, name="photo-file"),
    path("<int:pk>/", listing_detail.listing_detail, name="listing-detail"),
    path("projects/", board.project_list, name="project-list"),
    path("projects/new/", board.project_create, name="project-create"),
    path("projects/<int:pk>/", board.project_detail, name="project-detail"),
    path("projects/<int:pk>/edit/", board.project_edit, name="project-edit"),
    path("projects/<int:pk>/buildings/new/", board.building_create, name="building-create"),
    path("buildings/<int:pk>/board/", board.building_board, name="building-board"),
    path("projects/<int:pk>/import/", imports.price_import, name="price-import"),
    path("projects/<int:pk>/import/template.xlsx", imports.price_template, name="price-template"),
    path("projects/<int:pk>/import/<int:job_id>/", imports.price_import_job, name="price-import-job"),
    path("<int:pk>/reverify/", stale.listing_reverify, name="listing-reverify"),
    path("stale/", stale.stale_queue, name="stale-queue"),
    path("settings/<int:branch_id>/", stale.listing_settings, name="listing-settings"),
    path("resources/", resources.resource_list, name="resource-list"),
    path("resources/new/", resources.resource_upload, name="resource-upload"),
    path("resources/<int:pk>/download/", resources.resource_download, name="resource-download"),
    path("resources/<int:pk>/retire/", resources.resource_retire, name="resource-retire"),
    path("match/customer/<int:pk>/", matching.customer_matches, name="customer-matches"),
    path("match/customer/<int:pk>/recommend/<int:listing_id>/", matching.recommend, name="recommend"),
]
