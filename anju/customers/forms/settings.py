"""Forms of the branch customer-rules page: protection, pool cap, reception time limit and the
follow-up plan's steps. They only collect input; ``branch_settings_save`` and the rule service write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label

from ..models import BranchCustomerSettings, FollowUpRule


class BranchSettingsForm(BootstrapFormMixin, forms.Form):
    protection_days = forms.IntegerField(
        label=field_label(BranchCustomerSettings, "protection_days"),
        min_value=1,
        max_value=365,
        help_text=_("A customer without a recorded follow-up for this long goes to the public pool."),
    )
    pool_claim_cap = forms.IntegerField(
        label=field_label(BranchCustomerSettings, "pool_claim_cap"),
        min_value=1,
        max_value=1000,
        help_text=_("How many customers claimed from the pool one agent may hold."),
    )
    reception_sla_minutes = forms.IntegerField(
        label=field_label(BranchCustomerSettings, "reception_sla_minutes"),
        min_value=1,
        max_value=240,
        help_text=_("Visitors waiting longer are flagged on the reception desk."),
    )


class FollowUpRuleForm(BootstrapFormMixin, forms.Form):
    title = forms.CharField(label=field_label(FollowUpRule, "title"), max_length=60, required=False)
    due_after_hours = forms.IntegerField(
        label=field_label(FollowUpRule, "due_after_hours"), min_value=1, required=False
    )
    is_active = forms.BooleanField(label=field_label(FollowUpRule, "is_active"), required=False, initial=True)

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
