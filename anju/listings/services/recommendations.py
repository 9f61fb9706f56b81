"""Recommending a listing to a customer: one click writes the communication log (R2.2.1, R3.2.2)."""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import ApplicationError, Conflict
from anju.core.permissions import require

from ..choices import ListingStatus, Orientation
from ..models import Listing
from ..selectors.matching import plain_number

CHANGE_CUSTOMER = "customers.change_customer"
VIEW_LISTING = "listings.view_listing"


def recommendation_texts(listing: Listing) -> dict[str, str]:
    """The summary, core information and materials of a recommendation, in the actor's language."""
    facts = {
        "title": listing.title,
        "price": plain_number(listing.total_price),
        "unit_price": f"{listing.unit_price:,}",
        "area": plain_number(listing.built_area),
        "layout": listing.layout,
        "floor": listing.floor,
        "total": listing.total_floors,
        "orientation": Orientation(listing.orientation).label if listing.orientation in Orientation.values else "",
        "decoration": listing.get_decoration_display(),
        "district": listing.district,
        "community": listing.community,
    }
    summary = _("Recommended listing: %(title)s, total price %(price)s ×10k CNY") % facts
    core = _(
        "%(district)s %(community)s; total price %(price)s ×10k CNY (%(unit_price)s CNY/㎡); "
        "built area %(area)s㎡; %(layout)s; floor %(floor)s of %(total)s; faces %(orientation)s; %(decoration)s"
    )
    return {"summary": summary, "info_core": core % facts, "materials": _("Listing details / floor plan")}


@transaction.atomic
def listing_recommend(*, actor, customer, listing: Listing, channel: str = "face_to_face", note: str = ""):
    """Recommend an available listing to a customer: a Communication on the customer's log (which,
    as any contact by the owner, restarts their protection) and a ``listings.listing.recommended``
    audit event."""
    from anju.customers.services.communications import communication_record

    require(actor, CHANGE_CUSTOMER, VIEW_LISTING)
    listing = Listing.objects.visible_to(actor).filter(pk=listing.pk).first()
    if listing is None:
        raise ApplicationError("not_found", _("Not found."), status=404)
    if listing.status != ListingStatus.AVAILABLE:
        raise Conflict(
            "listing.not_available",
            _("“%(title)s” is %(status)s and cannot be recommended.")
            % {"title": listing.title, "status": listing.get_status_display()},
        )
    texts = recommendation_texts(listing)
    note = (note or "").strip()
    communication = communication_record(
        actor=actor,
        customer=customer,
        channel=channel,
        summary=f"{texts['summary']}\n{note}" if note else texts["summary"],
        info_core=texts["info_core"],
        materials=texts["materials"],
    )
    audit.record(
        actor=actor,
        action="listings.listing.recommended",
        target=customer,
        after={
            "listing": listing.pk,
            "title": listing.title,
            "total_price": listing.total_price,
            "communication": communication.pk,
            "channel": communication.channel,
        },
    )
    return communication
