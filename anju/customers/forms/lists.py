"""The filter form of the customer list and its export (it only collects input)."""

from __future__ import annotations

from django import forms
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label
from anju.core.scoping import Scope, scope_of
from anju.org.forms import TeamChoiceField, visible_teams
from anju.org.models import Role, User

from ..choices import Source, Stage, ValueTier
from ..models import Customer, Tag
from ..selectors import CUSTOMER_SORT_CHOICES, DEFAULT_SORT


def sales_staff_visible_to(viewer):
    """Users in the viewer's scope whose roles let them own customers (any status: leavers still own some)."""
    can_own = Role.objects.filter(
        users=OuterRef("pk"), permissions__content_type__app_label="customers", permissions__codename="add_customer"
    )
    # Only what an <option> shows: a company-wide list has ~2,000 owners, and loading every
    # column would decrypt each one's phone for nothing.
    return (
        User.objects.visible_to(viewer)
        .filter(Exists(can_own))
        .only("pk", "display_name", "username")
        .order_by("display_name", "username")
    )


class CustomerFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=50,
        widget=forms.TextInput(
            attrs={"placeholder": _("Name, last four digits or full mobile number"), "type": "search"}
        ),
    )
    stage = forms.ChoiceField(
        label=field_label(Customer, "stage"), required=False, choices=[("", _("All stages")), *Stage.choices]
    )
    source = forms.ChoiceField(
        label=field_label(Customer, "source"), required=False, choices=[("", _("All sources")), *Source.choices]
    )
    value_tier = forms.ChoiceField(
        label=field_label(Customer, "value_tier"), required=False, choices=[("", _("All tiers")), *ValueTier.choices]
    )
    owner = forms.ModelChoiceField(
        label=field_label(Customer, "owner"), queryset=User.objects.none(), required=False, empty_label=_("All owners")
    )
    team = TeamChoiceField(
        label=field_label(Customer, "team"), queryset=None, required=False, empty_label=_("All teams")
    )
    tag = forms.ModelChoiceField(
        label=_("Tag"), queryset=Tag.objects.all(), to_field_name="name", required=False, empty_label=_("All tags")
    )
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=CUSTOMER_SORT_CHOICES)

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        if scope_of(viewer) == Scope.OWN:
            # An agent sees only their own customers: owner and team filters would offer nothing.
            del self.fields["owner"]
            del self.fields["team"]
        else:
            self.fields["owner"].queryset = sales_staff_visible_to(viewer)
            self.fields["team"].queryset = visible_teams(viewer, active_only=False)

    def selector_filters(self) -> dict:
        """Keyword arguments for ``selectors.customer_list_for``; invalid fields are ignored."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "search": (data.get("q") or "").strip(),
            "stage": data.get("stage") or "",
            "source": data.get("source") or "",
            "owner_id": data["owner"].pk if data.get("owner") else None,
            "team_id": data["team"].pk if data.get("team") else None,
            "tag": data["tag"].name if data.get("tag") else "",
            "value_tier": data.get("value_tier") or "",
            "sort": data.get("sort") or DEFAULT_SORT,
        }
