"""Customer files: registration (first responder, collision check), edits, stage, consent,
needs, and revealing protected data (R2.4.1, R3.2.1, R5.2.2, R6.1.1)."""

from __future__ import annotations

import datetime as dt
import functools

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import ApplicationError, Conflict, PermissionDeniedError, ValidationFailed
from anju.core.models import AuditEvent
from anju.core.permissions import require
from anju.core.reveal import reveal
from anju.core.scoping import require_in_scope
from anju.core.services import validated_save
from anju.core.text import require_reason

from ..choices import STAGE_TRANSITIONS, ConsentKind, OwnershipChangeKind, Stage
from ..models import Consent, Customer, CustomerNeeds, NeedsRevision, OwnershipChange, Tag
from ..rules import clean_id_number, clean_mobile, id_number_index, phone_index, protection_end
from ..search import rebuild_name_grams, set_search_name

CUSTOMER_FIELDS = [
    "name",
    "phone",
    "gender",
    "source",
    "stage",
    "lost_reason",
    "budget_min",
    "budget_max",
    "value_tier",
    "household_notes",
    "owner",
    "team",
    "branch",
    "protected_until",
]
EDITABLE = {"name", "gender", "source", "budget_min", "budget_max", "value_tier", "household_notes"}


class Collision(Conflict):
    """The number is already on file (撞单). Raised inside a service's transaction, it names nobody:
    only ``collision_answer`` — audited and rate-limited after that transaction — names the owner."""

    def __init__(self, existing: Customer):
        in_pool = existing.in_pool or existing.owner_id is None
        super().__init__(
            "customer.in_pool" if in_pool else "customer.duplicate",
            _("This phone number is already registered."),
            {"phone": [_("Already registered.")]},
        )
        self.customer_id = existing.pk


def duplicate_error(existing: Customer) -> Collision:
    """The collision (撞单) refusal as raised inside a transaction: it names no owner (issue #9 defect 6)."""
    return Collision(existing)


def _named_answer(existing: Customer) -> Conflict:
    """The collision answer the standard needs: who follows the customer, by display name only."""
    if existing.in_pool or existing.owner_id is None:
        return Conflict(
            "customer.in_pool",
            _("This phone number belongs to a customer in the public pool of %(branch)s; claim them from the pool.")
            % {"branch": existing.branch},
            {"phone": [_("Already registered (public pool).")]},
        )
    return Conflict(
        "customer.duplicate",
        _("This phone number is already registered; the customer is followed by %(owner)s.")
        % {"owner": existing.owner},
        {"phone": [_("Already registered by %(owner)s.") % {"owner": existing.owner}]},
    )


COLLISION_CHECKED = "customers.customer.collision_checked"
COLLISION_LIMITED = "customers.customer.collision_limited"
COLLISION_LIMITED_CODE = "customer.collision_rate_limited"


def recent_collision_count(actor, *, now: dt.datetime | None = None) -> int:
    """How many collision answers naming an owner ``actor`` received in the last hour (on the audit trail)."""
    since = (now or timezone.now()) - dt.timedelta(hours=1)
    return AuditEvent.objects.filter(actor=actor, action=COLLISION_CHECKED, occurred_at__gte=since).count()


@transaction.atomic
def collision_answer(*, actor, collision: Collision) -> ApplicationError:
    """Audit one collision answer and apply the hourly limit (issue #9 defect 6, R6.1.1, R5.2.2).

    Returns the error to raise: the answer naming the owner, or — past
    ``settings.ANJU_COLLISION_LIMIT_PER_HOUR`` answers in the last hour — a 429 that names nobody.
    Runs in its own transaction after the refused write rolled back, so the audit event stays.
    """
    # Serialise one user's answers (as core.reveal does): two requests at once cannot both take the last slot.
    list(get_user_model()._default_manager.select_for_update().filter(pk=actor.pk).values_list("pk", flat=True))
    existing = Customer.objects.select_related("owner", "branch").filter(pk=collision.customer_id).first()
    if existing is None:  # deleted meanwhile: nobody left to name
        return collision
    limit = settings.ANJU_COLLISION_LIMIT_PER_HOUR
    after = {"matched_on": "phone", "phone": existing.phone, "code": collision.code}  # the audit masks the phone
    if recent_collision_count(actor) >= limit:
        audit.record(actor=actor, action=COLLISION_LIMITED, target=existing, after={**after, "limit": limit})
        return ApplicationError(
            COLLISION_LIMITED_CODE,
            _(
                "%(limit)s numbers you entered in the last hour were already registered; "
                "try again later or ask your team lead."
            )
            % {"limit": limit},
            status=429,
        )
    audit.record(actor=actor, action=COLLISION_CHECKED, target=existing, after=after)
    return _named_answer(existing)


def answers_collisions(service):
    """Run ``service`` (atomic) and turn a ``Collision`` it raised into the audited, rate-limited answer.

    The answer is written after the service's transaction rolled back, so a refused registration
    leaves its audit event behind. Inside a caller's transaction (the reception desk) the event
    goes with that transaction: the desk's callers answer without naming anyone (``desk_error``).
    """

    @functools.wraps(service)
    def wrapper(*, actor, **kwargs):
        try:
            return service(actor=actor, **kwargs)
        except Collision as collision:
            raise collision_answer(actor=actor, collision=collision) from None

    return wrapper


def desk_error(error: ApplicationError) -> ApplicationError:
    """What the reception desk is told of a refusal: a collision there names no owner (issue #9 defect 6).

    The desk routes known numbers itself; a collision only reaches it when another registration of
    the same number committed at the same moment, and registering the visit again routes it.
    """
    if error.code in ("customer.duplicate", "customer.in_pool", COLLISION_LIMITED_CODE):
        message = _("This phone number was registered at the same moment; register the visit again.")
        return Conflict("visit.retry", message, {"phone": [message]})
    return error


def _check_budget(customer: Customer) -> None:
    if (
        customer.budget_min is not None
        and customer.budget_max is not None
        and customer.budget_min > customer.budget_max
    ):
        message = _("The lower bound is above the upper bound.")
        raise ValidationFailed("customer.bad_budget", message, {"budget_min": [message]})


def _set_tags(customer: Customer, names: list[str]) -> None:
    cleaned = sorted({name.strip()[:30] for name in names if name and name.strip()})
    tags = [Tag.objects.get_or_create(name=name)[0] for name in cleaned]
    customer.tags.set(tags)


@answers_collisions
@transaction.atomic
def customer_register(
    *,
    actor,
    name: str,
    phone: str,
    source: str,
    consent_channel: str,
    gender: str = "unknown",
    budget_min: int | None = None,
    budget_max: int | None = None,
    value_tier: str = "C",
    tags: list[str] | tuple = (),
    household_notes: str = "",
    id_number: str = "",
    id_number_consent: bool = False,
    registered_at: dt.datetime | None = None,
) -> Customer:
    """Register a customer; the registering agent becomes the first-responder owner (R6.1.1).

    A phone number already on file is refused naming its owner (撞单) — also when two agents
    submit at once: the unique blind index lets exactly one insert win. That answer is audited
    and rate-limited per user (``collision_answer``, issue #9 defect 6).
    """
    require(actor, "customers.add_customer")
    if actor.branch_id is None:
        raise ValidationFailed("customer.no_branch", _("Your account has no branch; ask an administrator."))
    digits = clean_mobile(phone)
    index = phone_index(digits)
    # of=("self",): PostgreSQL cannot lock the nullable side of the owner join.
    existing = (
        Customer.objects.select_for_update(of=("self",))
        .select_related("owner", "branch")
        .filter(phone_index=index)
        .first()
    )
    if existing is not None:
        raise duplicate_error(existing)
    if id_number and not id_number_consent:
        raise ValidationFailed(
            "customer.id_consent_required",
            _("Record the customer's separate consent before storing an ID-card number."),
            {"id_number": [_("Separate consent is required.")]},
        )
    now = timezone.now()
    customer = Customer(
        name=name.strip(),
        phone=digits,
        phone_index=index,
        phone_last4=digits[-4:],
        gender=gender,
        source=source,
        budget_min=budget_min,
        budget_max=budget_max,
        value_tier=value_tier,
        household_notes=household_notes,
        owner=actor,
        team=actor.team,
        branch=actor.branch,
        created_by=actor,
        protected_until=protection_end(actor.branch, start=now),
        last_contact_at=registered_at or now,
    )
    _check_budget(customer)
    set_search_name(customer)
    if id_number:
        customer.id_number = clean_id_number(id_number)
        customer.id_number_index = id_number_index(customer.id_number)
    try:
        with transaction.atomic():
            # The phone's uniqueness is left to the database so a racing insert fails there.
            validated_save(customer, exclude=["phone_index"])
    except IntegrityError:
        # Lost the race: another registration of the same number committed first.
        existing = Customer.objects.select_related("owner", "branch").filter(phone_index=index).first()
        if existing is None:
            raise
        raise duplicate_error(existing) from None
    rebuild_name_grams(customer, created=True)  # the name search index (R2.4.1)
    _set_tags(customer, list(tags))
    version = settings.ANJU_PRIVACY_POLICY_VERSION
    Consent.objects.create(
        customer=customer,
        kind=ConsentKind.PERSONAL_INFO,
        purpose=_("Property consultation and follow-up"),
        policy_version=version,
        channel=consent_channel,
        granted_at=now,
        recorded_by=actor,
    )
    if customer.id_number:
        Consent.objects.create(
            customer=customer,
            kind=ConsentKind.ID_NUMBER,
            purpose=_("Identity check for reservation and contract"),
            policy_version=version,
            channel=consent_channel,
            granted_at=now,
            recorded_by=actor,
        )
    OwnershipChange.objects.create(
        customer=customer, kind=OwnershipChangeKind.REGISTERED, to_owner=actor, changed_by=actor
    )
    audit.record(
        actor=actor,
        action="customers.customer.registered",
        target=customer,
        after={
            **audit.model_snapshot(customer, CUSTOMER_FIELDS),
            "id_number": customer.id_number,
            "tags": sorted(customer.tags.values_list("name", flat=True)),
        },
    )
    return customer


def _locked(customer: Customer) -> Customer:
    return Customer.objects.select_for_update().get(pk=customer.pk)


@answers_collisions
@transaction.atomic
def customer_update(
    *, actor, customer: Customer, tags: list[str] | None = None, phone: str | None = None, **changes
) -> Customer:
    """Edit the file; a new phone number is checked for collisions like a registration (audited, rate-limited)."""
    require(actor, "customers.change_customer")
    require_in_scope(actor, customer)
    customer = _locked(customer)
    before = {
        **audit.model_snapshot(customer, CUSTOMER_FIELDS),
        "tags": sorted(customer.tags.values_list("name", flat=True)),
    }
    for name, value in changes.items():
        if name not in EDITABLE:
            raise ValueError(f"customer field {name!r} cannot be changed here")
        setattr(customer, name, value.strip() if isinstance(value, str) else value)
    _check_budget(customer)
    renamed = set_search_name(customer)
    if phone is not None and phone.strip():
        digits = clean_mobile(phone)
        if digits != customer.phone:
            index = phone_index(digits)
            existing = Customer.objects.select_related("owner", "branch").filter(phone_index=index).first()
            if existing is not None:
                raise duplicate_error(existing)
            customer.phone, customer.phone_index, customer.phone_last4 = digits, index, digits[-4:]
    try:
        with transaction.atomic():
            validated_save(customer, exclude=["phone_index"])
    except IntegrityError:
        raise duplicate_error(Customer.objects.get(phone_index=customer.phone_index)) from None
    if renamed:
        rebuild_name_grams(customer)  # the list's name search follows a rename
    if tags is not None:
        _set_tags(customer, tags)
    after = {
        **audit.model_snapshot(customer, CUSTOMER_FIELDS),
        "tags": sorted(customer.tags.values_list("name", flat=True)),
    }
    before, after = audit.diff(before, after)
    if after:
        audit.record(actor=actor, action="customers.customer.updated", target=customer, before=before, after=after)
    return customer


@transaction.atomic
def customer_change_stage(*, actor, customer: Customer, to_stage: str, lost_reason: str = "") -> Customer:
    """Move the customer along the lifecycle; "lost" needs a reason."""
    require(actor, "customers.change_customer")
    require_in_scope(actor, customer)
    if to_stage not in Stage.values:
        raise ValidationFailed(
            "customer.bad_stage", _("Choose a stage from the list."), {"to_stage": [_("Unknown stage.")]}
        )
    customer = _locked(customer)
    current, target = Stage(customer.stage), Stage(to_stage)
    if target not in STAGE_TRANSITIONS[current]:
        raise Conflict(
            "customer.bad_stage_change",
            _("A customer cannot go from “%(from)s” to “%(to)s”.") % {"from": current.label, "to": target.label},
        )
    if target == Stage.LOST:
        lost_reason = require_reason(lost_reason, code="customer.lost_reason_required", field="lost_reason")
    customer.stage = target
    customer.lost_reason = lost_reason if target == Stage.LOST else ""
    customer.save(update_fields=["stage", "lost_reason", "updated_at"])
    audit.record(
        actor=actor,
        action="customers.customer.stage_changed",
        target=customer,
        before={"stage": current.value},
        after={"stage": target.value},
        reason=customer.lost_reason,
    )
    return customer


# --- consent (PIPL) ---------------------------------------------------------------------------


@transaction.atomic
def consent_record(*, actor, customer: Customer, kind: str, channel: str, purpose: str = "") -> Consent:
    """Record a consent with the current privacy-policy version."""
    require(actor, "customers.change_customer")
    require_in_scope(actor, customer)
    if kind not in ConsentKind.values:
        raise ValidationFailed("consent.bad_kind", _("Choose what the consent is for."), {"kind": [_("Unknown kind.")]})
    consent = Consent(
        customer=customer,
        kind=kind,
        channel=channel,
        granted_at=timezone.now(),
        recorded_by=actor,
        purpose=purpose.strip() or str(ConsentKind(kind).label),
        policy_version=settings.ANJU_PRIVACY_POLICY_VERSION,
    )
    validated_save(consent)
    audit.record(
        actor=actor,
        action="customers.consent.granted",
        target=customer,
        after={"kind": kind, "channel": channel, "policy_version": consent.policy_version},
    )
    return consent


@transaction.atomic
def consent_withdraw(*, actor, consent: Consent, reason: str = "") -> Consent:
    """Withdraw a consent; withdrawing the ID consent erases the stored ID number (minimum necessary)."""
    require(actor, "customers.change_customer")
    require_in_scope(actor, consent.customer)
    consent = Consent.objects.select_for_update().get(pk=consent.pk)
    if consent.withdrawn_at is not None:
        raise Conflict("consent.already_withdrawn", _("This consent was already withdrawn."))
    consent.withdrawn_at = timezone.now()
    consent.save(update_fields=["withdrawn_at"])
    if consent.kind == ConsentKind.ID_NUMBER:
        Customer.objects.filter(pk=consent.customer_id).update(id_number="", id_number_index="")
    audit.record(
        actor=actor,
        action="customers.consent.withdrawn",
        target=consent.customer,
        after={"kind": consent.kind},
        reason=reason,
    )
    return consent


def _has_active_consent(customer: Customer, kind: str) -> bool:
    return customer.consents.filter(kind=kind, withdrawn_at__isnull=True).exists()


@transaction.atomic
def customer_set_id_number(*, actor, customer: Customer, id_number: str) -> Customer:
    """Store an ID-card number — only after a separate, unwithdrawn ID consent."""
    require(actor, "customers.change_customer")
    require_in_scope(actor, customer)
    customer = _locked(customer)
    if not _has_active_consent(customer, ConsentKind.ID_NUMBER):
        raise ValidationFailed(
            "customer.id_consent_required",
            _("Record the customer's separate consent before storing an ID-card number."),
            {"id_number": [_("Separate consent is required.")]},
        )
    value = clean_id_number(id_number)
    before = customer.id_number
    customer.id_number, customer.id_number_index = value, id_number_index(value)
    customer.save(update_fields=["id_number", "id_number_index", "updated_at"])
    audit.record(
        actor=actor,
        action="customers.customer.id_number_set",
        target=customer,
        before={"id_number": before},
        after={"id_number": value},
    )
    return customer


# --- needs (R2.3.1) ---------------------------------------------------------------------------

NEEDS_FIELDS = [
    "purpose",
    "usage",
    "districts",
    "environment",
    "community",
    "needs_school",
    "needs_hospital",
    "needs_transit",
    "needs_commerce",
    "rooms_min",
    "rooms_max",
    "floor_min",
    "floor_max",
    "orientation",
    "area_min",
    "area_max",
    "price_min",
    "price_max",
    "payment",
    "notes",
]
RANGES = [("rooms_min", "rooms_max"), ("floor_min", "floor_max"), ("area_min", "area_max"), ("price_min", "price_max")]


@transaction.atomic
def needs_update(*, actor, customer: Customer, **values) -> CustomerNeeds:
    """Save the needs questionnaire; each change is kept as a revision (changing needs, R2.4.1)."""
    require(actor, "customers.change_customer")
    require_in_scope(actor, customer)
    _locked(customer)
    needs = CustomerNeeds.objects.filter(customer=customer).first() or CustomerNeeds(
        customer=customer, updated_by=actor
    )
    before = audit.model_snapshot(needs, NEEDS_FIELDS) if needs.pk else {}
    for name, value in values.items():
        if name not in NEEDS_FIELDS:
            raise ValueError(f"needs field {name!r} does not exist")
        setattr(needs, name, value)
    errors = {
        low: [_("The lower bound is above the upper bound.")]
        for low, high in RANGES
        if getattr(needs, low) is not None
        and getattr(needs, high) is not None
        and getattr(needs, low) > getattr(needs, high)
    }
    if errors:
        raise ValidationFailed("needs.bad_range", _("A range is reversed."), errors)
    needs.updated_by = actor
    validated_save(needs)
    after = audit.model_snapshot(needs, NEEDS_FIELDS)
    changed_before, changed_after = audit.diff(before, after)
    if changed_after:
        NeedsRevision.objects.create(customer=customer, before=changed_before, after=changed_after, changed_by=actor)
        audit.record(
            actor=actor, action="customers.needs.updated", target=customer, before=changed_before, after=changed_after
        )
    return needs


# --- revealing protected data (R5.2.2) ------------------------------------------------------


@transaction.atomic
def customer_reveal(*, actor, customer: Customer, field: str, reason: str) -> str:
    """Return the full phone or ID number: the permission and the scope here, the rest in ``core.reveal``."""
    if not actor.has_perm("customers.reveal_customer_contact"):
        raise PermissionDeniedError("customer.reveal_denied", _("You may not see full contact details."))
    require_in_scope(actor, customer)
    if field not in ("phone", "id_number"):
        raise ValidationFailed("customer.reveal_field", _("Only the phone or the ID-card number can be revealed."))
    return reveal(
        actor=actor,
        target=customer,
        field=field,
        value=getattr(customer, field),
        reason=reason,
        action="customers.customer.revealed",
        audit_after={"field": field},
    )
