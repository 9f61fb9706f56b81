"""Forms of the follow-up, communication, feedback and branch-rules pages.

They only collect input; the services validate and write.
"""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin
from anju.org.choices import UserStatus
from anju.org.models import User

from .choices import Channel, FeedbackCategory, FollowUpOutcome
from .models import BranchCustomerSettings, Communication, Feedback, FollowUpRule, FollowUpTask, Visit

BLANK = [("", "—")]


def _label(model, name: str):
    """The model field's verbose name, so forms and models share one translation."""
    return capfirst(model._meta.get_field(name).verbose_name)


def _datetime_input() -> forms.DateTimeInput:
    return forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")


def _now_local() -> str:
    return timezone.localtime().strftime("%Y-%m-%dT%H:%M")


def _text(rows: int = 3, **attrs) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows, **attrs})


class FollowUpCompleteForm(BootstrapFormMixin, forms.Form):
    outcome = forms.ChoiceField(label=_label(FollowUpTask, "outcome"), choices=[*BLANK, *FollowUpOutcome.choices])
    method = forms.ChoiceField(label=_label(FollowUpTask, "method"), choices=Channel.choices, initial=Channel.PHONE)
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
    channel = forms.ChoiceField(label=_label(Communication, "channel"), choices=Channel.choices)
    occurred_at = forms.DateTimeField(label=_label(Communication, "occurred_at"), widget=_datetime_input())
    summary = forms.CharField(label=_label(Communication, "summary"), widget=_text())
    info_core = forms.CharField(
        label=_label(Communication, "info_core"),
        required=False,
        widget=_text(2),
        help_text=_("Price, payment terms, delivery date — what the customer must understand."),
    )
    info_auxiliary = forms.CharField(label=_label(Communication, "info_auxiliary"), required=False, widget=_text(2))
    info_supplementary = forms.CharField(
        label=_label(Communication, "info_supplementary"), required=False, widget=_text(2)
    )
    materials = forms.CharField(
        label=_label(Communication, "materials"),
        required=False,
        max_length=300,
        help_text=_("Brochures, floor plans, price lists …"),
    )
    customer_confirmed = forms.BooleanField(label=_label(Communication, "customer_confirmed"), required=False)
    next_step = forms.CharField(label=_label(Communication, "next_step"), required=False, max_length=300)
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
    channel = forms.ChoiceField(label=_label(Feedback, "channel"), choices=Channel.choices)
    category = forms.ChoiceField(label=_label(Feedback, "category"), choices=FeedbackCategory.choices)
    content = forms.CharField(label=_label(Feedback, "content"), widget=_text(4))
    received_at = forms.DateTimeField(label=_label(Feedback, "received_at"), widget=_datetime_input())
    handler = forms.ModelChoiceField(
        label=_label(Feedback, "handler"),
        queryset=User.objects.none(),
        required=False,
        empty_label=_("The customer's owner"),
    )

    def __init__(self, *args, viewer, **kwargs):
        kwargs.setdefault("initial", {}).setdefault("received_at", _now_local())
        super().__init__(*args, **kwargs)
        self.fields["handler"].queryset = handler_choices(viewer)


class FeedbackRespondForm(BootstrapFormMixin, forms.Form):
    response = forms.CharField(label=_label(Feedback, "response"), widget=_text(4))
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
        label=_label(Feedback, "category"), choices=[("", _("All")), *FeedbackCategory.choices], required=False
    )
    q = forms.CharField(label=_("Customer name"), required=False, max_length=50)

    def value(self, name: str, default: str = "") -> str:
        if not self.is_bound or not self.is_valid():
            return default
        return self.cleaned_data.get(name) or default


class BranchSettingsForm(BootstrapFormMixin, forms.Form):
    protection_days = forms.IntegerField(
        label=_label(BranchCustomerSettings, "protection_days"),
        min_value=1,
        max_value=365,
        help_text=_("A customer without a recorded follow-up for this long goes to the public pool."),
    )
    pool_claim_cap = forms.IntegerField(
        label=_label(BranchCustomerSettings, "pool_claim_cap"),
        min_value=1,
        max_value=1000,
        help_text=_("How many customers claimed from the pool one agent may hold."),
    )
    reception_sla_minutes = forms.IntegerField(
        label=_label(BranchCustomerSettings, "reception_sla_minutes"),
        min_value=1,
        max_value=240,
        help_text=_("Visitors waiting longer are flagged on the reception desk."),
    )


class FollowUpRuleForm(BootstrapFormMixin, forms.Form):
    title = forms.CharField(label=_label(FollowUpRule, "title"), max_length=60, required=False)
    due_after_hours = forms.IntegerField(label=_label(FollowUpRule, "due_after_hours"), min_value=1, required=False)
    is_active = forms.BooleanField(label=_label(FollowUpRule, "is_active"), required=False, initial=True)

    def clean(self):
        data = super().clean()
        if data.get("DELETE"):
            return data
        # A row left blank is no step; a half-filled one is a mistake.
        if bool(data.get("title")) != bool(data.get("due_after_hours")):
            raise forms.ValidationError(gettext("Give the step a title and a number of hours, or remove it."))
        return data


class _RuleFormSet(forms.BaseFormSet):
    def add_fields(self, form, index):
        super().add_fields(form, index)
        if "DELETE" in form.fields:
            form.fields["DELETE"].widget.attrs["class"] = "form-check-input"


FollowUpRuleFormSet = forms.formset_factory(
    FollowUpRuleForm, formset=_RuleFormSet, extra=1, can_delete=True, max_num=10, validate_max=True
)


def rule_initial(rules) -> list[dict]:
    """Rules as form rows, default titles shown in the user's language."""
    return [
        {"title": gettext(rule.title), "due_after_hours": rule.due_after_hours, "is_active": rule.is_active}
        for rule in rules
    ]


def rules_from(formset) -> list[dict]:
    """The rows the manager kept (not deleted, not left blank)."""
    rows = []
    for form in formset.forms:
        data = form.cleaned_data
        if not data or data.get("DELETE") or not data.get("title"):
            continue
        rows.append(
            {"title": data["title"], "due_after_hours": data["due_after_hours"], "is_active": data["is_active"]}
        )
    return rows
