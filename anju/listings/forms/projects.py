"""Forms of the project, building and price-import pages. They collect input; the services validate and write."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label

from ..choices import Decoration, ListingStatus, Orientation
from ..models import Building, Listing, Project
from ..services.projects import PROJECT_FIELDS


def _decimal_field(label, *, required: bool = True, help_text="") -> forms.DecimalField:
    return forms.DecimalField(
        label=label,
        required=required,
        min_value=0,
        max_digits=10,
        decimal_places=2,
        help_text=help_text,
        widget=forms.NumberInput(attrs={"inputmode": "decimal", "step": "0.01", "min": 0}),
    )


class ProjectForm(BootstrapFormMixin, forms.Form):
    name = forms.CharField(label=field_label(Project, "name"), max_length=100)
    city = forms.CharField(label=field_label(Project, "city"), max_length=30)
    district = forms.CharField(label=field_label(Project, "district"), max_length=30)
    address = forms.CharField(label=field_label(Project, "address"), max_length=200)
    developer = forms.CharField(label=field_label(Project, "developer"), max_length=100, required=False)
    branch = forms.ModelChoiceField(label=field_label(Project, "branch"), queryset=None)
    description = forms.CharField(
        label=field_label(Project, "description"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, viewer, project: Project | None = None, **kwargs):
        from anju.org.models import Branch

        if project is not None:
            kwargs.setdefault("initial", {name: getattr(project, name) for name in PROJECT_FIELDS})
        elif viewer.branch_id:
            kwargs.setdefault("initial", {"branch": viewer.branch_id})
        super().__init__(*args, **kwargs)
        self.fields["branch"].queryset = Branch.objects.visible_to(viewer).filter(is_active=True)

    def service_kwargs(self) -> dict:
        return {name: self.cleaned_data[name] for name in PROJECT_FIELDS}


class BuildingForm(BootstrapFormMixin, forms.Form):
    """A building and the defaults every generated unit starts with (prices are refined by the import)."""

    name = forms.CharField(label=field_label(Building, "name"), max_length=30, help_text=_("For example 3幢 or 3号楼."))
    floors = forms.IntegerField(label=field_label(Building, "floors"), min_value=1, max_value=200)
    units_per_floor = forms.IntegerField(label=field_label(Building, "units_per_floor"), min_value=1, max_value=30)
    built_area = _decimal_field(field_label(Listing, "built_area"))
    usable_area = _decimal_field(field_label(Listing, "usable_area"), required=False)
    rooms = forms.IntegerField(label=field_label(Listing, "rooms"), min_value=0, max_value=20, initial=3)
    halls = forms.IntegerField(label=field_label(Listing, "halls"), min_value=0, max_value=10, initial=2)
    baths = forms.IntegerField(label=field_label(Listing, "baths"), min_value=0, max_value=10, initial=1)
    orientation = forms.ChoiceField(
        label=field_label(Listing, "orientation"), choices=Orientation.choices, initial=Orientation.SOUTH
    )
    decoration = forms.ChoiceField(
        label=field_label(Listing, "decoration"), choices=Decoration.choices, initial=Decoration.SHELL
    )
    base_price = _decimal_field(
        _("Base price per unit (10k CNY)"), help_text=_("Every unit starts at this price; import the price list after.")
    )
    contact_name = forms.CharField(label=_("Developer sales contact"), max_length=50, required=False)
    contact_phone = forms.CharField(
        label=_("Developer sales line"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )

    def service_kwargs(self) -> dict:
        return dict(self.cleaned_data)


class PriceImportForm(BootstrapFormMixin, forms.Form):
    file = forms.FileField(
        label=_("Price list (.xlsx)"),
        help_text=_("At most 5,000 rows. Nothing is imported unless every row is valid."),
        widget=forms.ClearableFileInput(
            attrs={"accept": ".xlsx,application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"}
        ),
    )


class BoardFilterForm(forms.Form):
    """The status the board highlights; the other cells are dimmed."""

    status = forms.ChoiceField(choices=[("", _("All statuses")), *ListingStatus.choices], required=False)

    def selected(self) -> str:
        return self.cleaned_data.get("status", "") if self.is_valid() else ""
