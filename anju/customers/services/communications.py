"""Communication log and customer feedback: 一次传递、多次确认 (R2.2.1) and questions by channel
with time to first response (R2.3.3)."""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import audit
from anju.core.errors import Conflict, ValidationFailed
from anju.core.notifications import notify
from anju.core.permissions import require
from anju.core.scoping import require_in_scope
from anju.core.services import validated_save
from anju.org.choices import UserStatus

from ..choices import Channel, FeedbackCategory
from ..models import Communication, Customer, Feedback, Visit
from .ownership import protection_extend

CHANGE = "customers.change_customer"
# Clocks of phones and servers differ a little; a contact "in the future" beyond this is a typo.
CLOCK_SKEW = dt.timedelta(minutes=5)


def _required(field: str, value: str, message: str) -> str:
    value = (value or "").strip()
    if not value:
        raise ValidationFailed(f"{field}_required", message, {field: [_("Required.")]})
    return value


def _not_in_future(field: str, value: dt.datetime | None, now: dt.datetime) -> dt.datetime:
    if value is None:
        return now
    if value > now + CLOCK_SKEW:
        message = _("The time cannot be in the future.")
        raise ValidationFailed("time_in_future", message, {field: [message]})
    return value


def _choice(field: str, value: str, choices) -> str:
    if value not in choices.values:
        message = _("Choose one of the offered values.")
        raise ValidationFailed(f"bad_{field}", message, {field: [message]})
    return value


def _locked_customer(customer: Customer) -> Customer:
    return Customer.objects.select_for_update(of=("self",)).select_related("owner", "branch").get(pk=customer.pk)


@transaction.atomic
def communication_create(
    *,
    actor,
    customer: Customer,
    channel: str,
    summary: str,
    occurred_at: dt.datetime | None = None,
    visit: Visit | None = None,
    info_core: str = "",
    info_auxiliary: str = "",
    info_supplementary: str = "",
    materials: str = "",
    customer_confirmed: bool = False,
    next_step: str = "",
    audited: bool = True,
) -> Communication:
    """Write one communication row for a customer in the actor's scope, under the customer's row lock.

    ``audited=False`` only for a caller whose own audit event names the communication (follow-up
    completion), so each contact is audited once.
    """
    require(actor, CHANGE)
    require_in_scope(actor, customer)
    customer = _locked_customer(customer)  # nested in a caller's lock: the same row, already held
    occurred_at = _not_in_future("occurred_at", occurred_at, timezone.now())
    if visit is not None and visit.customer_id != customer.pk:
        message = _("This visit belongs to another customer.")
        raise ValidationFailed("communication.visit_mismatch", message, {"visit": [message]})
    communication = Communication(
        customer=customer,
        channel=_choice("channel", channel, Channel),
        occurred_at=occurred_at,
        summary=_required("summary", summary, _("Write a short summary of the conversation.")),
        info_core=info_core.strip(),
        info_auxiliary=info_auxiliary.strip(),
        info_supplementary=info_supplementary.strip(),
        materials=materials.strip(),
        customer_confirmed=customer_confirmed,
        next_step=next_step.strip(),
        visit=visit,
        recorded_by=actor,
    )
    validated_save(communication)
    if audited:
        # The conversation text stays on the record; the audit row says what happened, not what was said.
        audit.record(
            actor=actor,
            action="customers.communication.recorded",
            target=customer,
            after={
                "communication": communication.pk,
                "channel": communication.channel,
                "occurred_at": occurred_at.isoformat(),
                "customer_confirmed": customer_confirmed,
                "visit": visit.pk if visit else None,
            },
        )
    return communication


@transaction.atomic
def communication_record(
    *,
    actor,
    customer: Customer,
    channel: str,
    summary: str,
    info_core: str = "",
    info_auxiliary: str = "",
    info_supplementary: str = "",
    materials: str = "",
    customer_confirmed: bool = False,
    next_step: str = "",
    occurred_at: dt.datetime | None = None,
    visit: Visit | None = None,
) -> Communication:
    """Log one contact (R2.2.1); the owner's own contact restarts the protection period."""
    communication = communication_create(
        actor=actor,
        customer=customer,
        channel=channel,
        summary=summary,
        occurred_at=occurred_at,
        visit=visit,
        info_core=info_core,
        info_auxiliary=info_auxiliary,
        info_supplementary=info_supplementary,
        materials=materials,
        customer_confirmed=customer_confirmed,
        next_step=next_step,
    )
    customer = communication.customer  # the copy loaded under the row lock
    if customer.owner_id == actor.pk:
        protection_extend(customer, at=communication.occurred_at)
    return communication


# --- feedback and questions (R2.3.3) -----------------------------------------------------------


@transaction.atomic
def feedback_record(
    *,
    actor,
    customer: Customer,
    channel: str,
    category: str,
    content: str,
    received_at: dt.datetime | None = None,
    handler=None,
) -> Feedback:
    """Record a question or feedback; it goes to the handler (the customer's owner unless named)."""
    require(actor, CHANGE)
    require_in_scope(actor, customer)
    customer = _locked_customer(customer)
    if handler is not None:
        require_in_scope(actor, handler)
        if handler.status != UserStatus.ACTIVE or not handler.has_perm(CHANGE):
            message = _("The handler must be an active employee who may work on customers.")
            raise ValidationFailed("feedback.bad_handler", message, {"handler": [message]})
    handler = handler or customer.owner or actor
    feedback = Feedback(
        customer=customer,
        channel=_choice("channel", channel, Channel),
        category=_choice("category", category, FeedbackCategory),
        content=_required("content", content, _("Write what the customer said or asked.")),
        received_at=_not_in_future("received_at", received_at, timezone.now()),
        handler=handler,
        recorded_by=actor,
    )
    validated_save(feedback)
    audit.record(
        actor=actor,
        action="customers.feedback.recorded",
        target=customer,
        after={
            "feedback": feedback.pk,
            "channel": feedback.channel,
            "category": feedback.category,
            "handler": handler.pk,
            "received_at": feedback.received_at.isoformat(),
        },
    )
    if handler.pk != actor.pk:
        url = reverse("customers:feedback-respond", args=[feedback.pk])
        title = _("New %(category)s from %(name)s") % {"category": feedback.get_category_display(), "name": customer}
        notify(user=handler, title=title, body=feedback.content[:200], url=url)
    return feedback


@transaction.atomic
def feedback_respond(*, actor, feedback: Feedback, response: str, resolved: bool = False) -> Feedback:
    """Answer feedback; the first answer stops the response clock, ``resolved`` closes it."""
    require(actor, CHANGE)
    require_in_scope(actor, feedback)
    feedback = Feedback.objects.select_for_update().get(pk=feedback.pk)
    if feedback.resolved_at is not None:
        raise Conflict("feedback.resolved", _("This feedback is already resolved; record new feedback instead."))
    text = _required("response", response, _("Write the answer given to the customer."))
    now = timezone.now()
    first = feedback.first_response_at is None
    stamp = f"[{timezone.localtime(now):%Y-%m-%d %H:%M} {actor}]"
    feedback.response = f"{feedback.response}\n\n{stamp}\n{text}".strip()
    if first:
        feedback.first_response_at = now
    if resolved:
        feedback.resolved_at = now
    feedback.save(update_fields=["response", "first_response_at", "resolved_at"])
    audit.record(
        actor=actor,
        action="customers.feedback.responded",
        target=feedback.customer,
        after={
            "feedback": feedback.pk,
            "first_response": first,
            "resolved": resolved,
            "response_seconds": feedback.response_seconds,
        },
    )
    return feedback
