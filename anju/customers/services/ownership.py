"""Ownership and protection: transfer, protection extension, lapse to the public pool, claim
(首问负责制 and 公海, R6.1.1)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import Conflict, ValidationFailed
from anju.core.notifications import notify
from anju.core.permissions import require
from anju.core.scoping import in_scope, require_in_scope
from anju.core.text import require_reason
from anju.org.choices import UserStatus
from anju.org.models import User

from ..choices import OwnershipChangeKind
from ..models import Customer, OwnershipChange
from ..rules import protection_end, settings_for


def _locked(customer: Customer) -> Customer:
    # of=("self",): PostgreSQL cannot lock the nullable side of the owner join.
    return Customer.objects.select_for_update(of=("self",)).select_related("owner", "branch").get(pk=customer.pk)


def _customer_url(customer: Customer) -> str:
    return reverse("customers:customer-detail", args=[customer.pk])


@transaction.atomic
def customer_transfer(*, actor, customer: Customer, to_owner: User, reason: str) -> Customer:
    """Hand a customer to another agent — team leads and managers only, with a reason (R6.1.1)."""
    require(actor, "customers.transfer_customer")
    require_in_scope(actor, customer)
    require_in_scope(actor, to_owner)
    reason = require_reason(reason, code="customer.transfer_reason_required")
    if (
        to_owner.status != UserStatus.ACTIVE
        or not to_owner.has_perm("customers.add_customer")
        or not to_owner.branch_id
    ):
        raise ValidationFailed(
            "customer.transfer_target",
            _("The new owner must be an active sales employee."),
            {"to_owner": [_("Choose an active sales employee.")]},
        )
    customer = _locked(customer)
    previous = customer.owner
    if previous is not None and previous.pk == to_owner.pk:
        raise Conflict(
            "customer.transfer_same_owner", _("The customer is already followed by %(owner)s.") % {"owner": to_owner}
        )
    customer.owner, customer.team, customer.branch = to_owner, to_owner.team, to_owner.branch
    customer.in_pool, customer.pool_since = False, None
    customer.acquired_via = OwnershipChangeKind.TRANSFERRED
    customer.protected_until = protection_end(to_owner.branch)
    customer.save()
    OwnershipChange.objects.create(
        customer=customer,
        kind=OwnershipChangeKind.TRANSFERRED,
        from_owner=previous,
        to_owner=to_owner,
        reason=reason,
        changed_by=actor,
    )
    audit.record(
        actor=actor,
        action="customers.customer.transferred",
        target=customer,
        before={"owner": previous.pk if previous else None},
        after={"owner": to_owner.pk},
        reason=reason,
    )
    url = _customer_url(customer)
    notify(
        user=to_owner,
        title=_("Customer %(name)s was transferred to you") % {"name": customer.name},
        body=reason,
        url=url,
    )
    if previous is not None:
        notify(
            user=previous,
            title=_("Customer %(name)s was transferred to %(owner)s") % {"name": customer.name, "owner": to_owner},
            body=reason,
            url=url,
        )
    return customer


def protection_extend(customer: Customer, *, at: dt.datetime | None = None) -> None:
    """A recorded follow-up or contact restarts the protection period (never shortens it)."""
    if customer.owner_id is None or customer.in_pool:
        return
    new_end = protection_end(customer.branch, start=at)
    if customer.protected_until is None or new_end > customer.protected_until:
        # Compared again in SQL: a stale copy must not shorten what a concurrent extension wrote.
        extended = (
            Customer.objects.filter(pk=customer.pk, in_pool=False, owner__isnull=False)
            .filter(Q(protected_until__isnull=True) | Q(protected_until__lt=new_end))
            .update(protected_until=new_end, last_contact_at=at or timezone.now())
        )
        if extended:
            customer.protected_until = new_end


def pool_release_lapsed(*, now: dt.datetime | None = None, batch_size: int = 500) -> int:
    """Move customers whose protection has lapsed to their branch's public pool; notify the former owners.

    Idempotent and safe on two hosts at once: each customer is re-checked under a row lock,
    and rows another worker holds are skipped (SKIP LOCKED where the database has it).
    """
    now = now or timezone.now()
    moved = 0
    due_ids = list(
        Customer.objects.filter(in_pool=False, owner__isnull=False, protected_until__lt=now)
        .order_by("protected_until")
        .values_list("pk", flat=True)[:batch_size]
    )
    for pk in due_ids:
        with transaction.atomic():
            customer = (
                Customer.objects.select_for_update(skip_locked=True, of=("self",))
                .select_related("owner")
                .filter(pk=pk, in_pool=False, owner__isnull=False, protected_until__lt=now)
                .first()
            )
            if customer is None:
                continue
            former = customer.owner
            customer.in_pool, customer.pool_since = True, now
            customer.owner, customer.team = None, None
            customer.save(update_fields=["in_pool", "pool_since", "owner", "team", "updated_at"])
            OwnershipChange.objects.create(
                customer=customer,
                kind=OwnershipChangeKind.LAPSED,
                from_owner=former,
                reason=_("No recorded follow-up within the protection period"),
            )
            audit.record(
                actor=None,
                actor_name="system",
                action="customers.customer.pool_lapsed",
                target=customer,
                before={"owner": former.pk},
                after={"in_pool": True},
            )
            notify(
                user=former,
                title=_("Customer %(name)s moved to the public pool") % {"name": customer.name},
                body=_("The protection period ended without a recorded follow-up."),
                url=_customer_url(customer),
            )
            moved += 1
    return moved


def holding_count(agent: User) -> int:
    """How many customers the agent currently holds that were claimed from the pool."""
    return Customer.objects.filter(owner=agent, acquired_via=OwnershipChangeKind.CLAIMED, in_pool=False).count()


@transaction.atomic
def pool_claim(*, actor, customer: Customer) -> Customer:
    """Claim a customer from one's branch pool, up to the branch's holding cap; first claim wins."""
    require(actor, "customers.add_customer")
    customer = _locked(customer)
    if not customer.in_pool:
        raise Conflict("customer.not_in_pool", _("This customer is no longer in the public pool."))
    if not in_scope(actor, customer, "claim"):
        raise Conflict("customer.pool_other_branch", _("You can only claim customers from your own branch's pool."))
    cap = settings_for(customer.branch).pool_claim_cap
    if holding_count(actor) >= cap:
        raise Conflict(
            "customer.pool_cap", _("You already hold %(cap)s customers claimed from the pool.") % {"cap": cap}
        )
    customer.owner, customer.team, customer.branch = actor, actor.team, actor.branch
    customer.in_pool, customer.pool_since = False, None
    customer.acquired_via = OwnershipChangeKind.CLAIMED
    customer.protected_until = protection_end(actor.branch)
    customer.save()
    OwnershipChange.objects.create(
        customer=customer, kind=OwnershipChangeKind.CLAIMED, to_owner=actor, changed_by=actor
    )
    audit.record(actor=actor, action="customers.customer.claimed", target=customer, after={"owner": actor.pk})
    return customer


@transaction.atomic
def pool_release(*, actor, customer: Customer, reason: str) -> Customer:
    """The owner (or a lead) gives a customer back to the pool, with a reason."""
    require(actor, "customers.change_customer")
    require_in_scope(actor, customer)
    reason = require_reason(reason, code="customer.release_reason_required")
    customer = _locked(customer)
    if customer.in_pool:
        raise Conflict("customer.already_in_pool", _("This customer is already in the public pool."))
    former = customer.owner
    customer.in_pool, customer.pool_since, customer.owner, customer.team = True, timezone.now(), None, None
    customer.save()
    OwnershipChange.objects.create(
        customer=customer, kind=OwnershipChangeKind.RELEASED, from_owner=former, reason=reason, changed_by=actor
    )
    audit.record(
        actor=actor,
        action="customers.customer.released",
        target=customer,
        before={"owner": former.pk if former else None},
        after={"in_pool": True},
        reason=reason,
    )
    return customer
