"""Enumerations and the lifecycle state machine of customers (R1.4.1, R2.4.1)."""

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Gender(models.TextChoices):
    UNKNOWN = "unknown", _("Not stated")
    MALE = "male", _("Male")
    FEMALE = "female", _("Female")


class Source(models.TextChoices):
    WALK_IN = "walk_in", _("Walk-in")
    PHONE = "phone", _("Phone enquiry")
    ONLINE = "online", _("Online")
    REFERRAL = "referral", _("Referral")
    BROKER = "broker", _("Broker channel")
    EVENT = "event", _("Event")
    OUTBOUND = "outbound", _("Outbound call")
    OTHER = "other", _("Other")


class Stage(models.TextChoices):
    LEAD = "lead", pgettext_lazy("customer stage", "Lead")  # "Lead" alone is the team-lead role
    VISITED = "visited", _("Visited")
    INTENTION = "intention", _("Intention")
    RESERVED = "reserved", _("Reserved")
    SIGNED = "signed", _("Signed")
    HANDED_OVER = "handed_over", _("Handed over")
    AFTER_SALES = "after_sales", _("After-sales")
    LOST = "lost", _("Lost")


# Allowed lifecycle moves (DESIGN.md §5). A lost customer can be revived as a lead or
# visitor; signing and later stages arrive from the deals module but are allowed by hand
# for records migrated from paper.
STAGE_TRANSITIONS: dict[str, set[str]] = {
    Stage.LEAD: {Stage.VISITED, Stage.INTENTION, Stage.LOST},
    Stage.VISITED: {Stage.INTENTION, Stage.RESERVED, Stage.LOST},
    Stage.INTENTION: {Stage.VISITED, Stage.RESERVED, Stage.SIGNED, Stage.LOST},
    Stage.RESERVED: {Stage.INTENTION, Stage.SIGNED, Stage.LOST},
    Stage.SIGNED: {Stage.HANDED_OVER},
    Stage.HANDED_OVER: {Stage.AFTER_SALES},
    Stage.AFTER_SALES: set(),
    Stage.LOST: {Stage.LEAD, Stage.VISITED},
}


class ValueTier(models.TextChoices):
    A = "A", _("A · high value")
    B = "B", _("B · good")
    C = "C", _("C · normal")
    D = "D", _("D · low")


class Channel(models.TextChoices):
    PHONE = "phone", _("Phone")
    FACE_TO_FACE = "face_to_face", _("Face to face")
    ONLINE = "online", _("WeChat / online")
    EMAIL = "email", _("Email")


class ConsentKind(models.TextChoices):
    PERSONAL_INFO = "personal_info", _("Personal information processing")
    ID_NUMBER = "id_number", _("Storing the ID-card number")
    MARKETING = "marketing", _("Marketing messages")


class OwnershipChangeKind(models.TextChoices):
    REGISTERED = "registered", _("Registered (first responder)")
    TRANSFERRED = "transferred", _("Transferred by a manager")
    LAPSED = "lapsed", _("Protection lapsed: moved to the public pool")
    CLAIMED = "claimed", _("Claimed from the public pool")
    RELEASED = "released", _("Released to the public pool")


class FollowUpStatus(models.TextChoices):
    OPEN = "open", _("Open")
    DONE = "done", _("Done")
    CANCELLED = "cancelled", _("Cancelled")


class FollowUpOutcome(models.TextChoices):
    REACHED = "reached", _("Reached, needs confirmed")
    APPOINTMENT = "appointment", _("Appointment made")
    NOT_REACHED = "not_reached", _("Not reached")
    NOT_INTERESTED = "not_interested", _("No longer interested")
    OTHER = "other", _("Other")


class VisitStatus(models.TextChoices):
    WAITING = "waiting", _("Waiting")
    IN_RECEPTION = "in_reception", _("In reception")
    DONE = "done", _("Finished")
    LEFT = "left", _("Left without reception")


class FeedbackCategory(models.TextChoices):
    QUESTION = "question", _("Question")
    PRICE = "price", _("Price and payment")
    LISTING = "listing", _("Listing information")
    SERVICE = "service", _("Service")
    SUGGESTION = "suggestion", _("Suggestion")
    OTHER = "other", _("Other")
