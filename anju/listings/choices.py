"""Enumerations and the status machine of listings (R3.1.1, R3.1.2)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class ListingKind(models.TextChoices):
    NEW_HOME = "new_home", _("New home unit")
    RESALE = "resale", _("Resale")


class ListingStatus(models.TextChoices):
    AVAILABLE = "available", _("Available")
    RESERVED = "reserved", pgettext_lazy("listing status", "Reserved")
    SOLD = "sold", _("Sold")
    OFF_MARKET = "off_market", _("Off market")


# Listings that can still be sold: the list's default, the stale queue, the ``is_active`` column.
ACTIVE_STATUSES: tuple[str, ...] = (ListingStatus.AVAILABLE, ListingStatus.RESERVED)


# Manual status changes (each needs a reason). Deals will move listings too, through the same table.
STATUS_TRANSITIONS: dict[str, set[str]] = {
    ListingStatus.AVAILABLE: {ListingStatus.RESERVED, ListingStatus.SOLD, ListingStatus.OFF_MARKET},
    ListingStatus.RESERVED: {ListingStatus.AVAILABLE, ListingStatus.SOLD, ListingStatus.OFF_MARKET},
    ListingStatus.SOLD: {ListingStatus.AVAILABLE},
    ListingStatus.OFF_MARKET: {ListingStatus.AVAILABLE},
}


class Orientation(models.TextChoices):
    SOUTH = "south", _("South")
    SOUTH_NORTH = "south_north", _("South–north through")
    EAST = "east", _("East")
    WEST = "west", _("West")
    NORTH = "north", _("North")
    EAST_WEST = "east_west", _("East–west")
    SOUTHEAST = "southeast", _("Southeast")
    SOUTHWEST = "southwest", _("Southwest")


class Decoration(models.TextChoices):
    SHELL = "shell", _("Shell (unfinished)")
    SIMPLE = "simple", _("Simple finish")
    FINE = "fine", _("Fine finish")
    LUXURY = "luxury", _("Luxury finish")


class RightType(models.TextChoices):
    COMMODITY = "commodity", _("Commodity housing")
    AFFORDABLE = "affordable", _("Affordable housing")
    COMMERCIAL = "commercial", _("Commercial / office")
    OTHER = "other", _("Other")


class CertificateStatus(models.TextChoices):
    ISSUED = "issued", _("Certificate issued")
    PENDING = "pending", _("Certificate pending")
    PRESALE = "presale", _("Pre-sale permit")


class PhotoKind(models.TextChoices):
    PHOTO = "photo", _("Photo")
    FLOOR_PLAN = "floor_plan", _("Floor plan")


class ResourceKind(models.TextChoices):
    BROCHURE = "brochure", _("Brochure")
    FLOOR_PLAN = "floor_plan", _("Floor plan")
    PRICE_SHEET = "price_sheet", _("Price sheet")
    SALES_TOOL = "sales_tool", _("Sales tool")
    CASE_STUDY = "case_study", _("Case study")


class VerificationOutcome(models.TextChoices):
    CONFIRMED = "confirmed", _("Confirmed unchanged")
    UPDATED = "updated", _("Updated")
