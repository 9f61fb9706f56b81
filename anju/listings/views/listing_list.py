"""The listing list (search, filters, sort, HTMX rows) and its masked CSV / XLSX export (R3.1.1, R6.1.2)."""

from __future__ import annotations

from collections.abc import Iterator

from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _

from anju.core.exports import export_file
from anju.core.http import page_of, wants_partial

from ..forms.lists import ListingFilterForm
from ..models import Project
from ..selectors.listings import listing_list_for, mark_stale

VIEW = "listings.view_listing"
EXPORT = "listings.export_listing"


@login_required
@permission_required(VIEW, raise_exception=True)
def listing_list(request):
    form = ListingFilterForm(request.GET or None, viewer=request.user)
    page = page_of(request, listing_list_for(request.user, **form.selector_filters()))
    # The stale threshold is per branch (default 30 days): one query for the whole page.
    page.object_list = mark_stale(list(page.object_list))
    for listing in page.object_list:  # once per row: the phone cards and the table both link it
        listing.detail_url = reverse("listings:listing-detail", args=[listing.pk])
    context = {"form": form, "page_obj": page}
    if wants_partial(request):
        return render(request, "listings/partials/_listing_rows.html", context)
    context["districts"] = (
        Project.objects.visible_to(request.user).order_by("district").values_list("district", flat=True).distinct()
    )
    return render(request, "listings/listing_list.html", context)


def _export_header() -> list[str]:
    return [
        _("ID"),
        _("Title"),
        _("Kind"),
        _("City"),
        _("District"),
        _("Community / project"),
        _("Address"),
        _("Building / unit / room"),
        _("Layout"),
        _("Built area (㎡)"),
        _("Floor"),
        _("Total floors"),
        _("Orientation"),
        _("Decoration"),
        _("Total price (10k CNY)"),
        _("Unit price (CNY/㎡)"),
        _("Status"),
        _("Tags"),
        _("Contact name"),
        _("Contact phone"),
        _("Collector"),
        _("Branch"),
        _("Last verified at"),
        _("Updated at"),
    ]


def _export_rows(listings) -> Iterator[list]:
    """One row per listing; the owner's phone is always masked (revealing is one listing at a time)."""
    for listing in listings.iterator(chunk_size=500):
        yield [
            listing.pk,
            listing.title,
            listing.get_kind_display(),
            listing.city,
            listing.district,
            listing.community,
            listing.address,
            "-".join(part for part in (listing.building_no, listing.unit_no, listing.room_no) if part),
            listing.layout,
            float(listing.built_area),
            listing.floor,
            listing.total_floors,
            listing.get_orientation_display(),
            listing.get_decoration_display(),
            float(listing.total_price),
            listing.unit_price,
            listing.get_status_display(),
            "; ".join(str(tag) for tag in listing.tags or []),
            listing.contact_name,
            listing.contact_phone_masked,
            str(listing.collector),
            str(listing.branch),
            listing.last_verified_at,
            listing.updated_at,
        ]


@login_required
@permission_required([VIEW, EXPORT], raise_exception=True)
def listing_export(request):
    """The list as CSV (default) or XLSX with the page's filters; contact masked, audited."""
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    form = ListingFilterForm(request.GET or None, viewer=request.user)
    filters = form.selector_filters()
    # The export needs the phone (to mask it); the list's deferral of it is undone here.
    listings = (
        listing_list_for(request.user, **filters)
        .defer(None)
        .defer("search_text", "facility_notes", "collector__phone", "collector__password")
    )
    recorded = {key: value for key, value in filters.items() if value not in (None, "", False) and key != "sort"}
    return export_file(
        actor=request.user,
        action="listings.listing.exported",
        queryset=listings,
        header=_export_header(),
        rows=_export_rows,
        name="listings",
        sheet_title=_("Listings"),
        filters=recorded,
        file_format=file_format,
    )
