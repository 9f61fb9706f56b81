"""Forms of the follow-up, communication and feedback pages. They only collect input; the services validate and write."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label
from anju.org.choices import UserStatus
from anju.org.models import User

from ..choices import Channel, FeedbackCategory, FollowUpOutcome
from ..models import Communication, Feedback, FollowUpTask, Visit

BLANK = [("", "—")]


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _now_local() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


def _text(rows: int = 3, **attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, **attrs})


class FollowUpCompleteForm(BootstrapFormMixin, forms.Form):
    outcome = forms.ChoiceField(label=field_label(FollowUpTask, "outcome"), choices=[*BLANK, *FollowUpOutcome.choices])
    method = forms.ChoiceField(
        label=field_label(FollowUpTask, "method"), choices=Channel.choices, initial=Channel.PHONE
    )
    content = forms.CharField(
        label=_("What was said"),
        required=False,
        widget=_text(),
        help_text=_("Questions answered, information given, what the customer will do next."),
    )
    next_due_at = forms.DateTimeField(
        label=_("Next follow-up"),
        required=False,
        widget=_datetime_input(),
        help_text=_("Optional: plan the next contact now."),
    )


class CommunicationForm(BootstrapFormMixin, forms.Form):
    channel = forms.ChoiceField(label=field_label(Communication, "channel"), choices=Channel.choices)
    occurred_at = forms.DateTimeField(label=field_label(Communication, "occurred_at"), widget=_datetime_input())
    summary = forms.CharField(label=field_label(Communication, "summary"), widget=_text())
    info_core = forms.CharField(
        label=field_label(Communication, "info_core"),
        required=False,
        widget=_text(2),
        help_text=_("Price, payment terms, delivery date — what the customer must understand."),
    )
    info_auxiliary = forms.CharField(
        label=field_label(Communication, "info_auxiliary"), required=False, widget=_text(2)
    )
    info_supplementary = forms.CharField(
        label=field_label(Communication, "info_supplementary"), required=False, widget=_text(2)
    )
    materials = forms.CharField(
        label=field_label(Communication, "materials"),
        required=False,
        max_length=300,
        help_text=_("Brochures, floor plans, price lists …"),
    )
    customer_confirmed = forms.BooleanField(label=field_label(Communication, "customer_confirmed"), required=False)
    next_step = forms.CharField(label=field_label(Communication, "next_step"), required=False, max_length=300)
    visit = forms.ModelChoiceField(label=_("During the visit"), queryset=Visit.objects.none(), required=False)

    def __init__(self, *args, customer, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("occurred_at", _now_local())
        super().__init__(*args, **kwargs)
        # The ten latest visits are enough to pick "the one today"; older contacts are logged without one.
        recent = list(Visit.objects.filter(customer=customer).order_by("-arrived_at").values_list("pk", flat=True)[:10])
        visits = self.fields["visit"]
        visits.queryset = Visit.objects.filter(pk__in=recent).order_by("-arrived_at")
        visits.label_from_instance = lambda visit: timezone.localtime(visit.arrived_at).strftime("%Y-%m-%d %H:%M")
        if not recent:
            del self.fields["visit"]


def handler_choices(viewer):
    """Employees the viewer may hand feedback to: active, in scope and allowed to work on customers."""
    return (
        User.objects.visible_to(viewer)
        .filter(status=UserStatus.ACTIVE, roles__permissions__codename="change_customer")
        .distinct()
        .order_by("display_name")
    )


class FeedbackForm(BootstrapFormMixin, forms.Form):
    channel = forms.ChoiceField(label=field_label(Feedback, "channel"), choices=Channel.choices)
    category = forms.ChoiceField(label=field_label(Feedback, "category"), choices=FeedbackCategory.choices)
    content = forms.CharField(label=field_label(Feedback, "content"), widget=_text(4))
    received_at = forms.DateTimeField(label=field_label(Feedback, "received_at"), widget=_datetime_input())
    handler = forms.ModelChoiceField(
        label=field_label(Feedback, "handler"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("The customer's owner"),
    )

    def __init__(self, *args, viewer, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("received_at", _now_local())
        super().__init__(*args, **kwargs)
        self.fields["handler"].queryset = handler_choices(viewer)


class FeedbackRespondForm(BootstrapFormMixin, forms.Form):
    response = forms.CharField(label=field_label(Feedback, "response"), widget=_text(4))
    resolved = forms.BooleanField(label=_("Resolved: the customer needs nothing more"), required=False)


class FeedbackFilterForm(BootstrapFormMixin, forms.Form):
    STATUS_CHOICES = [
        ("open", _("Open")),
        ("unanswered", _("Not answered yet")),
        ("resolved", _("Resolved")),
        ("all", _("All")),
    ]
    status = forms.ChoiceField(label=_("Status"), choices=STATUS_CHOICES, required=False)
    category = forms.ChoiceField(
        label=field_label(Feedback, "category"), choices=[("", _("All")), *FeedbackCategory.choices], required=False
    )
    q = forms.CharField(label=_("Customer name"), required=False, max_length=50)

    def value(self, name: str, default: str = "") -> str:
        if not self.is_bound or not self.is_valid():
            return default
        return self.cleaned_data.get(name) or default
