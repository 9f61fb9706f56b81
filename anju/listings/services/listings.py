"""Listing writes: create, edit with a mandatory reason and a field-level change log, manual
status changes, monthly re-verification, reveal of the owner contact (R3.1.1–R3.1.3)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.crypto import blind_index
from anju.core.errors import Conflict, PermissionDeniedError, ValidationFailed
from anju.core.masking import mask_phone, normalise_phone
from anju.core.permissions import require
from anju.core.reveal import reveal
from anju.core.scoping import in_scope, require_in_scope
from anju.core.services import validated_save
from anju.core.text import require_reason

from ..choices import STATUS_TRANSITIONS, ListingKind, ListingStatus, VerificationOutcome
from ..models import Listing, ListingChange, ListingVerification
from ..search import rebuild_grams
from ._common import require_managed

# Fields a person may set on a listing (status, collector and the verification stamp have their own services).
EDITABLE = [
    "title",
    "city",
    "district",
    "community",
    "address",
    "building_no",
    "unit_no",
    "room_no",
    "floor",
    "total_floors",
    "built_area",
    "usable_area",
    "rooms",
    "halls",
    "baths",
    "orientation",
    "decoration",
    "right_type",
    "right_term_years",
    "certificate_status",
    "mortgaged",
    "seized",
    "near_school",
    "school_names",
    "near_transit",
    "near_hospital",
    "near_commerce",
    "facility_notes",
    "total_price",
    "contact_name",
    "contact_phone",
    "tags",
]
DECIMALS = {"built_area", "usable_area", "total_price"}


def _decimal(name: str, value):
    if value in (None, ""):
        return None
    try:
        # Two places, as stored: "498" and "498.00" are the same price and must log as the same value.
        return Decimal(str(value)).quantize(Decimal("0.01"))
    except (InvalidOperation, ValueError):
        raise ValidationFailed("listing.bad_number", _("Enter a number."), {name: [_("Enter a number.")]}) from None


def validate_listing(listing: Listing) -> None:
    """The rules the standard's listing record needs, with one clear message per field."""
    errors: dict[str, list[str]] = {}
    if listing.built_area is not None and listing.built_area <= 0:
        errors["built_area"] = [_("The built area must be greater than 0 ㎡.")]
    if listing.usable_area is not None and listing.built_area is not None:
        if listing.usable_area <= 0:
            errors["usable_area"] = [_("The usable area must be greater than 0 ㎡.")]
        elif listing.usable_area > listing.built_area:
            errors["usable_area"] = [_("The usable area cannot exceed the built area.")]
    if listing.total_price is not None and listing.total_price <= 0:
        errors["total_price"] = [_("The price must be greater than 0.")]
    if listing.floor is not None and listing.total_floors is not None and listing.floor > listing.total_floors:
        errors["floor"] = [
            _("The floor cannot be above the building's total floors (%(total)s).") % {"total": listing.total_floors}
        ]
    if listing.floor == 0:
        errors["floor"] = [_("There is no floor 0; use 1 for the ground floor and negative numbers for basements.")]
    if listing.contact_phone:
        digits = normalise_phone(listing.contact_phone)
        if not (len(digits) == 11 and digits.startswith("1")) and not (7 <= len(digits) <= 12):
            errors["contact_phone"] = [_("Enter a mobile or landline number.")]
    if errors:
        first = next(iter(errors.values()))[0]
        raise ValidationFailed("listing.invalid", first, errors)


def _prepare(listing: Listing) -> None:
    for name in DECIMALS:
        setattr(listing, name, _decimal(name, getattr(listing, name)))
    if listing.contact_phone:
        listing.contact_phone = normalise_phone(listing.contact_phone)
    listing.contact_phone_index = (
        blind_index(listing.contact_phone, purpose="listing.contact_phone") if listing.contact_phone else ""
    )
    if isinstance(listing.tags, str):
        listing.tags = [tag.strip() for tag in listing.tags.replace("，", ",").split(",") if tag.strip()]
    validate_listing(listing)
    listing.unit_price = Listing.compute_unit_price(listing.total_price, listing.built_area)


def _snapshot(listing: Listing) -> dict:
    values = audit.model_snapshot(listing, [*EDITABLE, "status", "unit_price"])
    values["contact_phone"] = mask_phone(values.get("contact_phone") or "")
    # Two numbers can share a mask (138****1234); the blind index tells them apart without
    # putting digits in the log, so a changed number always shows up as a change.
    values["contact_phone_ref"] = listing.contact_phone_index[:8]
    return audit._clean(values)  # JSON-ready (decimals as strings), personal data masked


@transaction.atomic
def listing_create(*, actor, kind: str = ListingKind.RESALE, project=None, building=None, **fields) -> Listing:
    """Collect a listing; the collector is responsible for it (谁采集、谁负责)."""
    require(actor, "listings.add_listing")
    if actor.branch_id is None:
        raise ValidationFailed("listing.no_branch", _("Your account has no branch; ask an administrator."))
    unknown = set(fields) - set(EDITABLE)
    if unknown:
        raise ValueError(f"unknown listing fields: {sorted(unknown)}")
    now = timezone.now()
    listing = Listing(
        kind=kind,
        project=project,
        building=building,
        collector=actor,
        team=actor.team,
        branch=actor.branch,
        last_verified_at=now,
        last_verified_by=actor,
        **fields,
    )
    _prepare(listing)
    if (
        building is not None
        and Listing.objects.filter(building=building, floor=listing.floor, unit_no=listing.unit_no).exists()
    ):
        message = _("This building already has unit %(unit)s on floor %(floor)s.") % {
            "unit": listing.unit_no,
            "floor": listing.floor,
        }
        raise ValidationFailed("listing.duplicate_unit", message, {"unit_no": [message]})
    validated_save(listing, exclude=["search_text"])
    rebuild_grams(listing)
    audit.record(actor=actor, action="listings.listing.created", target=listing, after=_snapshot(listing))
    return listing


def _locked(listing: Listing) -> Listing:
    return Listing.objects.select_for_update(of=("self",)).select_related("project").get(pk=listing.pk)


def _require_reason(reason: str) -> str:
    """Every change to a listing needs a real reason (R3.1.2), cleaned by the shared rule (issue #9 defect 5)."""
    return require_reason(reason, code="listing.reason_required")[:200]


def _record_change(
    *, actor, listing: Listing, before: dict, after: dict, reason: str, action: str
) -> ListingChange | None:
    changed = {
        name: {"before": before.get(name), "after": after.get(name)}
        for name in after
        if before.get(name) != after.get(name) and name != "contact_phone_ref"
    }
    if before.get("contact_phone_ref") != after.get("contact_phone_ref") and "contact_phone" not in changed:
        changed["contact_phone"] = {"before": before.get("contact_phone"), "after": after.get("contact_phone")}
    if not changed:
        return None
    change = ListingChange.objects.create(listing=listing, changes=changed, reason=reason, changed_by=actor)
    audit.record(
        actor=actor,
        action=action,
        target=listing,
        reason=reason,
        before={k: v["before"] for k, v in changed.items()},
        after={k: v["after"] for k, v in changed.items()},
    )
    return change


@transaction.atomic
def listing_update(*, actor, listing: Listing, reason: str, **changes) -> tuple[Listing, ListingChange | None]:
    """Edit a listing; a reason is mandatory and the field-level diff goes to the change log (R3.1.2)."""
    require(actor, "listings.change_listing")
    reason = _require_reason(reason)
    require_managed(actor, listing)
    unknown = set(changes) - set(EDITABLE)
    if unknown:
        raise ValueError(f"unknown listing fields: {sorted(unknown)}")
    listing = _locked(listing)
    before = _snapshot(listing)
    for name, value in changes.items():
        if name == "contact_phone" and value in (None, ""):
            continue  # an empty phone field keeps the stored number (it is never shown in full)
        setattr(listing, name, value.strip() if isinstance(value, str) and name != "tags" else value)
    _prepare(listing)
    validated_save(listing, exclude=["search_text"])
    rebuild_grams(listing)
    change = _record_change(
        actor=actor,
        listing=listing,
        before=before,
        after=_snapshot(listing),
        reason=reason,
        action="listings.listing.updated",
    )
    return listing, change


@transaction.atomic
def listing_change_status(*, actor, listing: Listing, to_status: str, reason: str) -> Listing:
    """A manual status change (deals change status through the same state table), with a reason."""
    require(actor, "listings.change_listing")
    reason = _require_reason(reason)
    require_managed(actor, listing)
    listing = _locked(listing)
    current, target = ListingStatus(listing.status), ListingStatus(to_status)
    if target not in STATUS_TRANSITIONS[current]:
        raise Conflict(
            "listing.bad_status_change",
            _("A listing cannot go from “%(from)s” to “%(to)s”.") % {"from": current.label, "to": target.label},
        )
    before = _snapshot(listing)
    listing.status = target
    listing.save(update_fields=["status", "updated_at"])
    _record_change(
        actor=actor,
        listing=listing,
        before=before,
        after=_snapshot(listing),
        reason=reason,
        action="listings.listing.status_changed",
    )
    return listing


@transaction.atomic
def listing_reverify(*, actor, listing: Listing, note: str = "", **changes) -> ListingVerification:
    """Re-verify a listing (at least monthly, R3.1.2): confirm it as is, or update fields with the check as reason."""
    require(actor, "listings.change_listing")
    require_managed(actor, listing)
    change = None
    if changes:
        reason = (note or "").strip() or _("Monthly re-verification")
        listing, change = listing_update(actor=actor, listing=listing, reason=reason, **changes)
    listing = _locked(listing)
    now = timezone.now()
    listing.last_verified_at, listing.last_verified_by = now, actor
    listing.save(update_fields=["last_verified_at", "last_verified_by", "updated_at"])
    verification = ListingVerification.objects.create(
        listing=listing,
        outcome=VerificationOutcome.UPDATED if change else VerificationOutcome.CONFIRMED,
        note=(note or "").strip()[:200],
        change=change,
        verified_by=actor,
    )
    audit.record(
        actor=actor,
        action="listings.listing.verified",
        target=listing,
        after={"outcome": verification.outcome},
        reason=verification.note,
    )
    return verification


def verify_due_before(listing_branch, *, now: dt.datetime | None = None) -> dt.datetime:
    """Listings verified before this moment are stale for the branch's interval (default 30 days)."""
    from ..models import BranchListingSettings

    found = BranchListingSettings.objects.filter(branch=listing_branch).first()
    days = found.verify_every_days if found else 30
    return (now or timezone.now()) - dt.timedelta(days=days)


@transaction.atomic
def listing_reveal_contact(*, actor, listing: Listing, reason: str) -> str:
    """The full owner/developer phone: the permission and the managing scope here, the rest in ``core.reveal``."""
    if not actor.has_perm("listings.reveal_listing_contact"):
        raise PermissionDeniedError("listing.reveal_denied", _("You may not see full contact details."))
    require_in_scope(actor, listing)
    # Minimum necessary (R3.1.3): the catalogue is shared, the owner's number is not — only the
    # collector and the leads/managers above them may see it; others go through the collector.
    if not in_scope(actor, listing, "manage"):
        raise PermissionDeniedError(
            "listing.reveal_not_yours",
            _("Only the collector, their team lead or branch manager can see this owner's number; ask %(collector)s.")
            % {"collector": listing.collector},
        )
    return reveal(
        actor=actor,
        target=listing,
        field="contact_phone",
        value=listing.contact_phone,
        reason=reason,
        action="listings.listing.contact_revealed",
    )
