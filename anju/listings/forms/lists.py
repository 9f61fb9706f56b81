"""The filter form of the listing list and its export (it only collects input)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label

from ..choices import Decoration, ListingStatus, Orientation
from ..models import Listing, Project
from ..selectors.listings import ALL_STATUSES, DEFAULT_SORT, LISTING_SORT_CHOICES

ROOM_CHOICES = [("", _("Any")), ("1", "1"), ("2", "2"), ("3", "3"), ("4+", "4+")]


def _number(label, placeholder, *, decimal: bool = True, **kwargs) -> forms.Field:
    attrs = {"inputmode": "decimal" if decimal else "numeric", "placeholder": placeholder, "aria-label": label}
    if decimal:
        return forms.DecimalField(
            label=label,
            required=False,
            min_value=0,
            max_digits=10,
            decimal_places=2,
            widget=forms.NumberInput(attrs={**attrs, "step": "any"}),
            **kwargs,
        )
    return forms.IntegerField(label=label, required=False, widget=forms.NumberInput(attrs=attrs), **kwargs)


class ListingFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": _("Community, address or title"), "type": "search"}),
    )
    district = forms.CharField(
        label=field_label(Listing, "district"),
        required=False,
        max_length=30,
        widget=forms.TextInput(attrs={"list": "districts"}),
    )
    project = forms.ModelChoiceField(
        label=field_label(Listing, "project"),
        queryset=Project.objects.none(),
        required=False,
        empty_label=_("All projects"),
    )
    price_min = _number(_("Price from (10k CNY)"), _("min"))
    price_max = _number(_("Price to (10k CNY)"), _("max"))
    area_min = _number(_("Area from (㎡)"), _("min"))
    area_max = _number(_("Area to (㎡)"), _("max"))
    rooms = forms.ChoiceField(label=field_label(Listing, "rooms"), required=False, choices=ROOM_CHOICES)
    floor_min = _number(_("Floor from"), _("min"), decimal=False, min_value=-5, max_value=200)
    floor_max = _number(_("Floor to"), _("max"), decimal=False, min_value=-5, max_value=200)
    orientation = forms.ChoiceField(
        label=field_label(Listing, "orientation"),
        required=False,
        choices=[("", _("Any orientation")), *Orientation.choices],
    )
    decoration = forms.ChoiceField(
        label=field_label(Listing, "decoration"),
        required=False,
        choices=[("", _("Any decoration")), *Decoration.choices],
    )
    status = forms.ChoiceField(
        label=field_label(Listing, "status"),
        required=False,
        choices=[("", _("Available and reserved")), *ListingStatus.choices, (ALL_STATUSES, _("All statuses"))],
    )
    tag = forms.CharField(label=_("Tag"), required=False, max_length=30)
    mine = forms.BooleanField(label=_("Only my listings"), required=False)
    sort = forms.ChoiceField(label=_("Sort by"), required=False, choices=LISTING_SORT_CHOICES)

    RANGES = (("price_min", "price_max"), ("area_min", "area_max"), ("floor_min", "floor_max"))
    # Shown on phones only after "More filters" unless one of them is in use.
    MORE = ("area_min", "area_max", "floor_min", "floor_max", "orientation", "decoration", "mine")

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = Project.objects.visible_to(viewer).only("pk", "name").order_by("name")
        self.fields["mine"].widget.attrs["class"] = "form-check-input"

    def clean(self):
        data = super().clean()
        for low, high in self.RANGES:
            if data.get(low) is not None and data.get(high) is not None and data[high] < data[low]:
                # Dropping the upper bound keeps the rest of the search useful.
                self.add_error(high, _("The upper bound is below the lower bound."))
        return data

    def uses_more_filters(self) -> bool:
        return self.is_bound and any(self.data.get(name) for name in self.MORE)

    def selector_filters(self) -> dict:
        """Keyword arguments for ``selectors.listing_list_for``; invalid fields are ignored."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "search": (data.get("q") or "").strip(),
            "district": (data.get("district") or "").strip(),
            "project_id": data["project"].pk if data.get("project") else None,
            "price_min": data.get("price_min"),
            "price_max": data.get("price_max"),
            "area_min": data.get("area_min"),
            "area_max": data.get("area_max"),
            "rooms": data.get("rooms") or None,
            "floor_min": data.get("floor_min"),
            "floor_max": data.get("floor_max"),
            "orientation": data.get("orientation") or "",
            "decoration": data.get("decoration") or "",
            "status": data.get("status") or "",
            "tag": (data.get("tag") or "").strip(),
            "mine": bool(data.get("mine")),
            "sort": data.get("sort") or DEFAULT_SORT,
        }
