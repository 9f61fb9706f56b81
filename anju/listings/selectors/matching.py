"""Needs-to-listing matching, both ways, with an explainable score (R3.2.2, R4.1.1).

A customer's needs profile (or, when it names no price, the budget on the customer file) is
compared with a listing criterion by criterion. Each criterion has a weight (budget 30, district
15, layout 15, area 15, floor 5, orientation 5, schools 5, transit 4, hospital 3, shopping 3);
a criterion the customer did not state is neutral: it is left out and the other weights are
renormalised, so a listing that meets everything stated scores 100. Every criterion yields a
sentence saying what matched or what did not and by how much.

The database does the coarse work (available listings, price within ±15 % of the wanted range,
bedrooms within one of it, at most ``CANDIDATES`` most recently updated rows); Python ranks what
is left, so the number of queries never depends on how many listings or customers there are.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import TYPE_CHECKING, NamedTuple

from django.db.models import Q
from django.utils.translation import gettext as _

from anju.core.models import AuditEvent

from ..choices import ListingStatus, Orientation
from ..models import Listing

if TYPE_CHECKING:
    from anju.customers.models import Customer, CustomerNeeds

# How many candidates the database hands to the Python scorer, most recently updated first.
CANDIDATES = 500
PRICE_TOLERANCE = Decimal("0.15")  # the SQL pre-filter: ±15 % around the wanted price range
ROOMS_TOLERANCE = 1
WEIGHTS = {
    "price": 30,
    "district": 15,
    "rooms": 15,
    "area": 15,
    "floor": 5,
    "orientation": 5,
    "school": 5,
    "transit": 4,
    "hospital": 3,
    "commerce": 3,
}
FACILITIES = ("school", "transit", "hospital", "commerce")
# Listing orientations that fully (1.0) or partly (0.5) satisfy a wanted orientation of the needs form.
ORIENTATION_FIT: dict[str, tuple[set[str], set[str]]] = {
    "south": ({"south", "south_north", "southeast", "southwest"}, set()),
    "south_north": ({"south_north"}, {"south", "southeast", "southwest"}),
    "east": ({"east", "east_west", "southeast"}, set()),
    "west": ({"west", "east_west", "southwest"}, set()),
    "north": ({"north", "south_north"}, set()),
}
RECOMMENDED = "listings.listing.recommended"
RECOMMENDATIONS_LOOKED_AT = 200  # the customer's most recent recommendations consulted for the ✓ marks
LISTING_UNUSED = ("contact_phone", "search_text", "facility_notes")
CUSTOMER_UNUSED = ("phone", "id_number", "household_notes", "needs__notes", "needs__environment", "needs__community")


class Reason(NamedTuple):
    """One criterion's verdict: ``credit`` 0–1 of its ``weight``; ``neutral`` when the customer
    stated nothing for it, so it does not count."""

    ok: bool
    text: str
    credit: float = 0.0
    weight: int = 0
    neutral: bool = False


@dataclass
class Match:
    """A ranked listing (for a customer) or customer (for a listing) with its explained score."""

    score: int
    details: list[Reason]
    listing: Listing | None = None
    customer: Customer | None = None
    weight: int = field(default=0, repr=False)  # the weight stated criteria cover (a tie-break)

    @property
    def reasons(self) -> list[tuple[bool, str]]:
        """(ok, text) per criterion, stated ones first; unstated ones read "not set" and are ok."""
        return [(reason.ok, reason.text) for reason in self.details]

    @property
    def misses(self) -> list[str]:
        return [reason.text for reason in self.details if not reason.ok]

    @property
    def badge(self) -> str:
        """The Bootstrap colour of the score badge."""
        return "success" if self.score >= 80 else "warning" if self.score >= 60 else "secondary"


@dataclass
class Wanted:
    """What a customer asks for, normalised from the needs profile and the customer file."""

    purpose: str = "buy"
    price_min: int | None = None
    price_max: int | None = None
    districts: list[str] = field(default_factory=list)
    rooms_min: int | None = None
    rooms_max: int | None = None
    area_min: int | None = None
    area_max: int | None = None
    floor_min: int | None = None
    floor_max: int | None = None
    orientation: str = ""
    school: bool = False
    transit: bool = False
    hospital: bool = False
    commerce: bool = False

    @classmethod
    def of(cls, customer: Customer, needs: CustomerNeeds | None = None) -> Wanted:
        if needs is None:
            needs = _needs_of(customer)
        wanted = cls(price_min=customer.budget_min, price_max=customer.budget_max)
        if needs is None:
            return wanted
        wanted.purpose = needs.purpose
        if needs.price_min is not None or needs.price_max is not None:
            wanted.price_min, wanted.price_max = needs.price_min, needs.price_max
        wanted.districts = [str(name).strip() for name in needs.districts or [] if str(name).strip()]
        for name in ("rooms_min", "rooms_max", "area_min", "area_max", "floor_min", "floor_max", "orientation"):
            setattr(wanted, name, getattr(needs, name))
        wanted.orientation = wanted.orientation or ""
        for name in FACILITIES:
            setattr(wanted, name, bool(getattr(needs, f"needs_{name}")))
        return wanted

    @property
    def is_empty(self) -> bool:
        """Nothing stated that a listing could be ranked by."""
        return not (
            self.price_min is not None
            or self.price_max is not None
            or self.districts
            or self.rooms_min is not None
            or self.rooms_max is not None
            or self.area_min is not None
            or self.area_max is not None
            or self.floor_min is not None
            or self.floor_max is not None
            or self.orientation
            or any(getattr(self, name) for name in FACILITIES)
        )

    @property
    def buys(self) -> bool:
        return self.purpose != "rent"


def _needs_of(customer: Customer) -> CustomerNeeds | None:
    from anju.customers.models import CustomerNeeds

    try:
        return customer.needs
    except CustomerNeeds.DoesNotExist:
        return None


# --- wording ----------------------------------------------------------------------------------------


def plain_number(value) -> str:
    """320.00 → "320", 98.50 → "98.5"; whole numbers stay whole."""
    if value is None:
        return ""
    text = format(Decimal(str(value)).normalize(), "f")
    return text


def _range(low, high) -> str:
    if low is not None and high is not None:
        return plain_number(low) if low == high else f"{plain_number(low)}–{plain_number(high)}"
    if low is not None:
        return _("at least %(value)s") % {"value": plain_number(low)}
    return _("at most %(value)s") % {"value": plain_number(high)}


def _within(value, low, high) -> bool:
    return (low is None or value >= low) and (high is None or value <= high)


# --- the criteria -----------------------------------------------------------------------------------


def _price(listing: Listing, wanted: Wanted) -> Reason:
    low, high = wanted.price_min, wanted.price_max
    if low is None and high is None:
        return Reason(True, _("No budget or price range set"), neutral=True)
    price = Decimal(listing.total_price)
    values = {"price": plain_number(price), "range": _range(low, high)}
    if _within(price, low, high):
        return Reason(True, _("Total price %(price)s ×10k CNY is within the budget %(range)s ×10k CNY") % values, 1)
    if high is not None and price > high:
        over = price - high
        credit = max(0.0, 1 - float(over / high) / float(PRICE_TOLERANCE)) if high else 0.0
        text = _("Total price %(price)s ×10k CNY is %(diff)s ×10k CNY over the budget %(range)s ×10k CNY")
        return Reason(False, text % {**values, "diff": plain_number(over)}, credit)
    under = Decimal(low) - price
    # Cheaper than wanted is a smaller miss than dearer: half the penalty.
    credit = max(0.0, 1 - float(under / low) / float(PRICE_TOLERANCE * 2)) if low else 0.0
    text = _("Total price %(price)s ×10k CNY is %(diff)s ×10k CNY below the budget %(range)s ×10k CNY")
    return Reason(False, text % {**values, "diff": plain_number(under)}, credit)


def _district_key(name: str) -> str:
    name = name.strip()
    return name[:-1] if len(name) > 2 and name[-1] in "区县市" else name


def _district(listing: Listing, wanted: Wanted) -> Reason:
    if not wanted.districts:
        return Reason(True, _("No district preference set"), neutral=True)
    names = "、".join(wanted.districts)
    if _district_key(listing.district) in {_district_key(name) for name in wanted.districts}:
        return Reason(True, _("In %(district)s, a preferred district") % {"district": listing.district}, 1)
    text = _("In %(district)s, not in the preferred districts %(wanted)s")
    return Reason(False, text % {"district": listing.district, "wanted": names}, 0)


def _rooms(listing: Listing, wanted: Wanted) -> Reason:
    low, high = wanted.rooms_min, wanted.rooms_max
    if low is None and high is None:
        return Reason(True, _("No layout preference set"), neutral=True)
    values = {"layout": listing.layout, "range": _range(low, high)}
    if _within(listing.rooms, low, high):
        return Reason(True, _("Layout %(layout)s: bedrooms within the wanted %(range)s") % values, 1)
    above = high is not None and listing.rooms > high
    off = listing.rooms - high if above else low - listing.rooms
    credit = 0.5 if off <= ROOMS_TOLERANCE else 0.0
    if above:
        return Reason(False, _("Layout %(layout)s: more bedrooms than the wanted %(range)s") % values, credit)
    return Reason(False, _("Layout %(layout)s: fewer bedrooms than the wanted %(range)s") % values, credit)


def _area(listing: Listing, wanted: Wanted) -> Reason:
    low, high = wanted.area_min, wanted.area_max
    if low is None and high is None:
        return Reason(True, _("No area preference set"), neutral=True)
    area = Decimal(listing.built_area)
    values = {"area": plain_number(area), "range": _range(low, high)}
    if _within(area, low, high):
        return Reason(True, _("Area %(area)s㎡ is within the wanted %(range)s㎡") % values, 1)
    if high is not None and area > high:
        off, bound = area - high, Decimal(high)
        text = _("Area %(area)s㎡ is %(diff)s㎡ above the wanted %(range)s㎡")
    else:
        off, bound = Decimal(low) - area, Decimal(low)
        text = _("Area %(area)s㎡ is %(diff)s㎡ below the wanted %(range)s㎡")
    credit = max(0.0, 1 - float(off / bound) / 0.2) if bound else 0.0  # nothing left at 20 % off
    return Reason(False, text % {**values, "diff": plain_number(off)}, credit)


def _floor(listing: Listing, wanted: Wanted) -> Reason:
    low, high = wanted.floor_min, wanted.floor_max
    if low is None and high is None:
        return Reason(True, _("No floor preference set"), neutral=True)
    values = {"floor": listing.floor, "total": listing.total_floors, "range": _range(low, high)}
    if _within(listing.floor, low, high):
        return Reason(True, _("Floor %(floor)s of %(total)s is within the wanted floors %(range)s") % values, 1)
    above = high is not None and listing.floor > high
    off = listing.floor - high if above else low - listing.floor
    credit = max(0.0, 1 - off / 4)
    if above:
        return Reason(False, _("Floor %(floor)s of %(total)s is above the wanted floors %(range)s") % values, credit)
    return Reason(False, _("Floor %(floor)s of %(total)s is below the wanted floors %(range)s") % values, credit)


def _orientation(listing: Listing, wanted: Wanted) -> Reason:
    if not wanted.orientation:
        return Reason(True, _("No orientation preference set"), neutral=True)
    full, partial = ORIENTATION_FIT.get(wanted.orientation, ({wanted.orientation}, set()))
    actual = Orientation(listing.orientation).label if listing.orientation in Orientation.values else "—"
    label = Orientation(wanted.orientation).label if wanted.orientation in Orientation.values else wanted.orientation
    values = {"actual": actual, "wanted": label}
    if listing.orientation in full:
        return Reason(True, _("Faces %(actual)s; %(wanted)s wanted") % values, 1)
    credit = 0.5 if listing.orientation in partial else 0.0
    return Reason(False, _("Faces %(actual)s; %(wanted)s wanted") % values, credit)


def _facility(listing: Listing, name: str) -> Reason:
    has = bool(getattr(listing, f"near_{name}"))
    if name == "school":
        if has and listing.school_names:
            return Reason(True, _("Near schools: %(names)s") % {"names": listing.school_names}, 1)
        return Reason(True, _("Near schools"), 1) if has else Reason(False, _("No school nearby on record"), 0)
    if name == "transit":
        return (
            Reason(True, _("Near metro / transit"), 1)
            if has
            else Reason(False, _("No metro or transit nearby on record"), 0)
        )
    if name == "hospital":
        return Reason(True, _("Near a hospital"), 1) if has else Reason(False, _("No hospital nearby on record"), 0)
    return Reason(True, _("Near shopping"), 1) if has else Reason(False, _("No shopping nearby on record"), 0)


def _facility_labels() -> dict[str, str]:
    return {
        "school": _("schools"),
        "transit": _("metro / transit"),
        "hospital": _("hospital"),
        "commerce": _("shopping"),
    }


def evaluate(listing: Listing, wanted: Wanted) -> tuple[int, list[Reason], int]:
    """Score a listing against what a customer wants: (0–100, reasons, weight of the stated criteria).

    A stated criterion contributes ``weight × credit`` (credit 1 for a match, partial credit close
    to the wanted range, 0 far from it); unstated ones are neutral and only listed.
    """
    checks = [
        ("price", _price(listing, wanted)),
        ("district", _district(listing, wanted)),
        ("rooms", _rooms(listing, wanted)),
        ("area", _area(listing, wanted)),
        ("floor", _floor(listing, wanted)),
        ("orientation", _orientation(listing, wanted)),
    ]
    checks += [(name, _facility(listing, name)) for name in FACILITIES if getattr(wanted, name)]
    stated = [(name, reason) for name, reason in checks if not reason.neutral]
    total = sum(WEIGHTS[name] for name, _reason in stated)
    earned = sum(WEIGHTS[name] * reason.credit for name, reason in stated)
    score = round(100 * earned / total) if total else 0
    if score == 100 and any(not reason.ok for _name, reason in stated):
        score = 99  # rounding never turns a miss into a perfect match
    details = [reason._replace(weight=WEIGHTS[name]) for name, reason in stated]
    details += [reason for _name, reason in checks if reason.neutral]
    unrequested = [label for name, label in _facility_labels().items() if not getattr(wanted, name)]
    if len(unrequested) == len(FACILITIES):
        details.append(Reason(True, _("No facility requirements set"), neutral=True))
    elif unrequested:
        details.append(
            Reason(True, _("Not required: %(facilities)s") % {"facilities": "、".join(unrequested)}, neutral=True)
        )
    return score, details, total


# --- customer → listings ----------------------------------------------------------------------------


def _ceil(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_CEILING))


def _floor_int(value: Decimal) -> int:
    return int(value.to_integral_value(rounding=ROUND_FLOOR))


def listing_candidates(wanted: Wanted, viewer):
    """Available listings near the wanted price and bedrooms (the SQL pre-filter), newest first."""
    listings = Listing.objects.visible_to(viewer).filter(status=ListingStatus.AVAILABLE)
    if wanted.price_min is not None:
        listings = listings.filter(total_price__gte=Decimal(wanted.price_min) * (1 - PRICE_TOLERANCE))
    if wanted.price_max is not None:
        listings = listings.filter(total_price__lte=Decimal(wanted.price_max) * (1 + PRICE_TOLERANCE))
    if wanted.rooms_min is not None:
        listings = listings.filter(rooms__gte=wanted.rooms_min - ROOMS_TOLERANCE)
    if wanted.rooms_max is not None:
        listings = listings.filter(rooms__lte=wanted.rooms_max + ROOMS_TOLERANCE)
    return listings.defer(*LISTING_UNUSED).order_by("-updated_at", "-id")


def _ranked(matches: list[Match], limit: int) -> list[Match]:
    # Equal scores: the match that satisfies more of what was asked first; the input order (newest) last.
    return sorted(matches, key=lambda match: (-match.score, -match.weight))[:limit]


def _district_names(wanted: Wanted) -> set[str]:
    """The spellings of the preferred districts as stored ("滨江区" and "滨江")."""
    names = set()
    for name in wanted.districts:
        key = _district_key(name)
        names |= {name, key, f"{key}区"}
    return names


def listings_for_customer(customer: Customer, viewer, *, limit: int = 20) -> list[Match]:
    """The available listings that best fit a customer's needs, best first, each with its reasons.

    Empty when the viewer may not see listings, the customer wants to rent or has stated nothing
    to match on. The newest ``CANDIDATES`` listings in the preferred districts and the newest
    ``CANDIDATES`` overall are scored (two queries, one without a district preference), so a busy
    catalogue elsewhere cannot crowd out the districts the customer asked for. The listings come
    without their owner contact (never shown here; masked everywhere anyway).
    """
    if not viewer.has_perm("listings.view_listing"):
        return []
    wanted = Wanted.of(customer)
    if not wanted.buys or wanted.is_empty:
        return []
    candidates = listing_candidates(wanted, viewer)
    batches = [candidates.filter(district__in=_district_names(wanted))] if wanted.districts else []
    batches.append(candidates)
    matches, seen = [], set()
    for batch in batches:
        for listing in batch[:CANDIDATES]:
            if listing.pk in seen:
                continue
            seen.add(listing.pk)
            score, details, weight = evaluate(listing, wanted)
            matches.append(Match(score=score, details=details, listing=listing, weight=weight))
    return _ranked(matches, limit)


# --- listing → customers ----------------------------------------------------------------------------


def _price_fits(prefix: str, price: Decimal) -> Q:
    """The range stored in ``<prefix>_min/_max`` reaches the price within the tolerance."""
    lowest_max = _ceil(price / (1 + PRICE_TOLERANCE))
    highest_min = _floor_int(price / (1 - PRICE_TOLERANCE))
    return (Q(**{f"{prefix}_max__isnull": True}) | Q(**{f"{prefix}_max__gte": lowest_max})) & (
        Q(**{f"{prefix}_min__isnull": True}) | Q(**{f"{prefix}_min__lte": highest_min})
    )


def customer_candidates(listing: Listing, viewer):
    """Live customers in the viewer's scope whose needs reach the listing's price and bedrooms."""
    from anju.customers.choices import Stage
    from anju.customers.models import Customer, CustomerNeeds

    price = Decimal(listing.total_price)
    needs_price_set = Q(needs__price_min__isnull=False) | Q(needs__price_max__isnull=False)
    # The needs' price range when stated, else the budget on the customer file (as Wanted.of does).
    price_q = (needs_price_set & _price_fits("needs__price", price)) | (~needs_price_set & _price_fits("budget", price))
    rooms_q = (Q(needs__rooms_min__isnull=True) | Q(needs__rooms_min__lte=listing.rooms + ROOMS_TOLERANCE)) & (
        Q(needs__rooms_max__isnull=True) | Q(needs__rooms_max__gte=listing.rooms - ROOMS_TOLERANCE)
    )
    return (
        Customer.objects.visible_to(viewer)
        .filter(in_pool=False, needs__purpose=CustomerNeeds.Purpose.BUY)
        .exclude(stage=Stage.LOST)
        .filter(price_q, rooms_q)
        .select_related("needs")
        .defer(*CUSTOMER_UNUSED)
        .order_by("-updated_at", "-id")
    )


def customers_for_listing(listing: Listing, viewer, *, limit: int = 20) -> list[Match]:
    """The customers in the viewer's scope whose needs this listing meets, best first (R4.1.1).

    For a listing's detail page and after a re-price: live customers (not lost, not in the public
    pool) who want to buy, pre-filtered on price and bedrooms in SQL and ranked by the same score
    as ``listings_for_customer``. Three queries whatever the number of customers; the returned
    customers are fully loaded with their owner.
    """
    from anju.customers.models import Customer

    if not viewer.has_perm("customers.view_customer") or listing.status != ListingStatus.AVAILABLE:
        return []
    matches = []
    for customer in customer_candidates(listing, viewer)[:CANDIDATES]:
        wanted = Wanted.of(customer, customer.needs)
        if wanted.is_empty:
            continue
        score, details, weight = evaluate(listing, wanted)
        matches.append(Match(score=score, details=details, customer=customer, weight=weight))
    top = _ranked(matches, limit)
    if top:
        loaded = Customer.objects.select_related("owner", "team", "branch", "needs").in_bulk(
            [match.customer.pk for match in top]
        )
        for match in top:
            match.customer = loaded.get(match.customer.pk, match.customer)
    return top


# --- recommendations already made ---------------------------------------------------------------


def recommended_at(customer: Customer) -> dict[int, object]:
    """When each listing was last recommended to the customer (from the audit trail; one query)."""
    events = (
        AuditEvent.objects.filter(target_type="customers.customer", target_id=str(customer.pk), action=RECOMMENDED)
        .order_by("-seq")
        .values_list("after", "occurred_at")[:RECOMMENDATIONS_LOOKED_AT]
    )
    found: dict[int, object] = {}
    for after, occurred_at in events:
        listing_id = (after or {}).get("listing")
        if isinstance(listing_id, int):
            found.setdefault(listing_id, occurred_at)
    return found
