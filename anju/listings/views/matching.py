"""Matching on the customer page: the listings that fit a customer's needs, with reasons, and the
one-click recommendation into the communication log (R3.2.2, R4.1.1)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from anju.core.errors import ApplicationError
from anju.core.http import wants_partial
from anju.core.scoping import get_scoped_or_404
from anju.customers.choices import Channel
from anju.customers.models import Customer

from ..choices import Orientation
from ..models import Listing
from ..selectors.matching import Wanted, listings_for_customer, plain_number, recommended_at
from ..services.recommendations import listing_recommend

VIEW_CUSTOMER = "customers.view_customer"
CHANGE_CUSTOMER = "customers.change_customer"
VIEW_LISTING = "listings.view_listing"
ON_CUSTOMER_PAGE = 10
ON_FULL_PAGE = 20


def key_facts(listing: Listing) -> list[str]:
    """The short facts shown under a matched listing's title."""
    facts = [
        f"{listing.district} · {listing.community}",
        _("%(price)s ×10k CNY") % {"price": plain_number(listing.total_price)},
        _("%(unit_price)s CNY/㎡") % {"unit_price": f"{listing.unit_price:,}"},
        f"{plain_number(listing.built_area)}㎡",
        listing.layout,
        _("floor %(floor)s/%(total)s") % {"floor": listing.floor, "total": listing.total_floors},
    ]
    if listing.orientation in Orientation.values:
        facts.append(str(Orientation(listing.orientation).label))
    return facts


def _blocker(customer: Customer) -> str:
    wanted = Wanted.of(customer)
    if not wanted.buys:
        return _("The customer wants to rent; the listings here are for sale.")
    if wanted.is_empty:
        return _("Record the customer's needs or budget to see matching listings.")
    return ""


def _channels():
    return [(value, label) for value, label in Channel.choices if value != Channel.FACE_TO_FACE]


@login_required
@permission_required([VIEW_CUSTOMER, VIEW_LISTING], raise_exception=True)
@require_GET
def customer_matches(request, pk: int):
    """The ranked listings for a customer: an HTMX section of the customer page, or a page of its own."""
    customer = get_scoped_or_404(
        Customer.objects.select_related("needs").defer("phone", "id_number"), request.user, pk=pk
    )
    partial = wants_partial(request)
    limit = ON_CUSTOMER_PAGE if partial else ON_FULL_PAGE
    blocker = _blocker(customer)
    matches = [] if blocker else listings_for_customer(customer, request.user, limit=limit)
    can_recommend = request.user.has_perm(CHANGE_CUSTOMER)
    done = recommended_at(customer) if matches and can_recommend else {}
    rows = [
        {"match": match, "facts": key_facts(match.listing), "recommended_at": done.get(match.listing.pk)}
        for match in matches
    ]
    context = {
        "customer": customer,
        "rows": rows,
        "blocker": blocker,
        "can_recommend": can_recommend,
        "channels": _channels(),
        "full_url": reverse("listings:customer-matches", args=[customer.pk]) if partial else "",
        "needs_url": reverse("customers:customer-needs", args=[customer.pk]) if can_recommend else "",
        "list_url": reverse("customers:customer-list"),
        "here": _("Matching listings"),
    }
    template = "listings/matching/_customer_matches.html" if partial else "listings/matching/customer_matches.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


@login_required
@permission_required([CHANGE_CUSTOMER, VIEW_LISTING], raise_exception=True)
@require_POST
def recommend(request, pk: int, listing_id: int):
    """Record that a listing was recommended to the customer (HTMX: the button becomes "Recommended ✓")."""
    customer = get_scoped_or_404(Customer.objects.defer("phone", "id_number"), request.user, pk=pk)
    listing = get_scoped_or_404(Listing.objects.defer("contact_phone"), request.user, pk=listing_id)
    channel = request.POST.get("channel") or Channel.FACE_TO_FACE
    context = {"customer": customer, "listing": listing, "channels": _channels()}
    try:
        listing_recommend(
            actor=request.user, customer=customer, listing=listing, channel=channel, note=request.POST.get("note", "")
        )
    except ApplicationError as exc:
        if not request.htmx:
            messages.error(request, exc.message)
            return redirect("customers:customer-detail", pk=customer.pk)
        context["error"] = exc.message
    else:
        if not request.htmx:
            done = _("The recommendation of “%(title)s” was recorded in the communication log.")
            messages.success(request, done % {"title": listing.title})
            return redirect("customers:customer-detail", pk=customer.pk)
        context["recommended_at"] = timezone.now()
        context["just_recommended"] = True
    # HTMX swaps only 2xx bodies: a refusal is shown in place of the button with status 200.
    return render(request, "listings/matching/_recommend.html", context)
