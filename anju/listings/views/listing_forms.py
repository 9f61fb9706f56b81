"""Collecting and editing listings: the forms, status changes, contact reveal, photos and their files.

Every page loads the listing through ``visible_to`` (no role: 404); changing it needs the listing in
the user's ``manage`` reach (403 otherwise). Writes go through the services only; a refused
operation is shown on the form, field by field.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.http import FileResponse, Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import posted
from anju.core.scoping import get_scoped_or_404, in_scope

from ..choices import ListingKind, PhotoKind
from ..forms.listings import ListingEditForm, ListingForm, PhotoDeleteForm, PhotoMoveForm, PhotoUploadForm, StatusForm
from ..models import Listing, ListingPhoto
from ..services import listings as services
from ..services import photos as photo_services
from ._common import managed_listing

ADD = "listings.add_listing"
CHANGE = "listings.change_listing"
REVEAL = "listings.reveal_listing_contact"


def _page(request, template: str, listing: Listing | None, **context):
    return render(request, template, {"listing": listing, **context})


# --- create and edit ------------------------------------------------------------------------------


@login_required
@permission_required(ADD, raise_exception=True)
def listing_create(request):
    form = ListingForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            listing = services.listing_create(actor=request.user, kind=ListingKind.RESALE, **form.values())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request, _("The listing “%(title)s” was saved; you are its collector.") % {"title": listing}
            )
            return redirect("listings:listing-detail", pk=listing.pk)
    return _page(request, "listings/listing_form.html", None, form=form)


@login_required
@permission_required(CHANGE, raise_exception=True)
def listing_edit(request, pk: int):
    listing = managed_listing(request, pk, "project", "building")
    form = ListingEditForm(posted(request), listing=listing)
    if request.method == "POST" and form.is_valid():
        try:
            listing, change = services.listing_update(
                actor=request.user, listing=listing, reason=form.cleaned_data["reason"], **form.values()
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            count = len(change.changes) if change else 0
            if count:
                text = ngettext("Saved: %(count)s field changed.", "Saved: %(count)s fields changed.", count)
                messages.success(request, text % {"count": count})
            else:
                messages.info(request, _("Nothing was changed, so nothing was recorded."))
            if change and "total_price" in change.changes:
                _announce_matching_customers(request, listing)
            return redirect("listings:listing-detail", pk=listing.pk)
    return _page(request, "listings/listing_form.html", listing, form=form)


def _announce_matching_customers(request, listing) -> None:
    """After a re-price, point the agent at the customers in their scope whom the new price now suits."""
    if not request.user.has_perm("customers.view_customer"):
        return
    from anju.listings.selectors.matching import customers_for_listing

    found = len(customers_for_listing(listing, request.user, limit=50))
    if found:
        text = ngettext(
            "At the new price %(count)s of your customers matches this listing: see “Matching customers”.",
            "At the new price %(count)s of your customers match this listing: see “Matching customers”.",
            found,
        )
        messages.info(request, text % {"count": found})


@login_required
@permission_required(CHANGE, raise_exception=True)
def listing_status(request, pk: int):
    listing = managed_listing(request, pk, "project", "building")
    form = StatusForm(posted(request), listing=listing)
    if request.method == "POST" and form.is_valid():
        try:
            listing = services.listing_change_status(
                actor=request.user,
                listing=listing,
                to_status=form.cleaned_data["to_status"],
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The listing is now “%(status)s”.") % {"status": listing.get_status_display()})
            return redirect("listings:listing-detail", pk=listing.pk)
    return _page(request, "listings/listing_status.html", listing, form=form)


# --- the owner / developer contact --------------------------------------------------------------------


@login_required
@permission_required(REVEAL, raise_exception=True)
@require_POST
def listing_reveal(request, pk: int):
    """An HTMX fragment: the full number, or the refusal shown inline next to the masked value.

    Refusals come back with status 200 to HTMX (which does not swap 4xx bodies) and with their own
    status otherwise.
    """
    listing = get_scoped_or_404(Listing.objects.all(), request.user, pk=pk)
    reason = (request.POST.get("reason") or "").strip()[:200]
    # The parameters of includes/reveal.html, as listings/partials/_detail_people.html passes them.
    context = {
        "url": reverse("listings:listing-reveal", args=[listing.pk]),
        "target_id": "listing-contact",
        "field": "contact",
        "masked": listing.contact_phone_masked,
        "can_reveal": in_scope(request.user, listing, "manage"),  # the permission is required above
        "placeholder": _("Why you need it, e.g. booking a viewing"),
        "reason": reason,
    }
    status = 200
    try:
        context["value"] = services.listing_reveal_contact(actor=request.user, listing=listing, reason=reason)
    except ApplicationError as exc:
        context["error"], status = str(exc.message), exc.status
    if request.htmx:
        status = 200
    response = render(request, "includes/reveal.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


# --- photos and floor plans ---------------------------------------------------------------------------


def _action(request) -> str:
    return request.POST.get("action", "") if request.method == "POST" else ""


def _upload(request, listing: Listing, form: PhotoUploadForm) -> bool:
    if not form.is_valid():
        return False
    saved, refused = 0, []
    for file in form.cleaned_data["files"]:
        try:
            photo_services.photo_upload(
                actor=request.user,
                listing=listing,
                file=file,
                kind=form.cleaned_data["kind"],
                caption=form.cleaned_data["caption"],
            )
        except ApplicationError as exc:
            refused.append(str(exc.message))
        else:
            saved += 1
    for message in refused:
        form.add_error("files", message)
    if saved:
        messages.success(
            request,
            ngettext("%(count)s image was uploaded.", "%(count)s images were uploaded.", saved) % {"count": saved},
        )
    return not refused


@login_required
@permission_required(CHANGE, raise_exception=True)
def listing_photos(request, pk: int):
    """Upload (several at once), reorder and delete the photos and floor plans of a listing."""
    listing = managed_listing(request, pk, "project", "building")
    action = _action(request)
    upload_form = PhotoUploadForm(request.POST, request.FILES) if action == "upload" else PhotoUploadForm()
    delete_form = PhotoDeleteForm(request.POST) if action == "delete" else None
    if action == "upload" and _upload(request, listing, upload_form):
        return redirect("listings:listing-photos", pk=listing.pk)
    if action == "delete" and delete_form.is_valid():
        photo = ListingPhoto.objects.filter(listing=listing, pk=delete_form.cleaned_data["photo"]).first()
        if photo is None:
            raise Http404
        try:
            photo_services.photo_delete(actor=request.user, photo=photo, reason=delete_form.cleaned_data["reason"])
        except ApplicationError as exc:
            apply_error(delete_form, exc)
        else:
            messages.success(request, _("The image was deleted; the reason is in the listing's history."))
            return redirect("listings:listing-photos", pk=listing.pk)
    if action == "move":
        move = PhotoMoveForm(request.POST)
        url = reverse("listings:listing-photos", args=[listing.pk])
        if move.is_valid():
            photo = ListingPhoto.objects.filter(listing=listing, pk=move.cleaned_data["photo"]).first()
            if photo is None:
                raise Http404
            photo_services.photo_move(actor=request.user, photo=photo, offset=move.cleaned_data["offset"])
            url += f"#photo-{photo.pk}"
        return redirect(url)
    photos = list(listing.photos.all())
    groups = [
        (kind, [photo for photo in photos if photo.kind == kind]) for kind in (PhotoKind.PHOTO, PhotoKind.FLOOR_PLAN)
    ]
    failed_delete = delete_form.data.get("photo") if delete_form is not None and delete_form.errors else None
    return _page(
        request,
        "listings/listing_photos.html",
        listing,
        upload_form=upload_form,
        delete_form=delete_form,
        failed_delete=str(failed_delete or ""),
        groups=groups,
        moves=[("-1", "arrow-up", _("Move earlier")), ("1", "arrow-down", _("Move later"))],
        max_upload_mb=settings.ANJU_MAX_UPLOAD_MB,
    )


@login_required
def photo_file(request, pk: int, variant: str):
    """The image or its thumbnail, for signed-in users with a role only (media are never public)."""
    if variant not in ("image", "thumb"):
        raise Http404
    photo = ListingPhoto.objects.filter(
        pk=pk, listing__in=Listing.objects.visible_to(request.user).values("pk")
    ).first()
    if photo is None:
        raise Http404
    field = photo.image if variant == "image" else photo.thumbnail
    if not field:
        raise Http404
    try:
        handle = field.open("rb")
    except FileNotFoundError:
        raise Http404 from None
    response = FileResponse(handle, content_type=photo_services.content_type(field.name))
    response["Cache-Control"] = "private, max-age=86400"
    return response
