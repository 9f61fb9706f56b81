"""Forms of the listing pages. They only collect and type the input; the services validate and write."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label, split_list

from ..choices import (
    STATUS_TRANSITIONS,
    CertificateStatus,
    Decoration,
    ListingStatus,
    Orientation,
    PhotoKind,
    RightType,
)
from ..models import Listing
from ..services.listings import EDITABLE

CENT = Decimal("0.01")

# The form's sections, in order: (key, title, icon, fields). Every EDITABLE field is in exactly one.
SECTIONS: list[tuple[str, object, str, list[str]]] = [
    (
        "location",
        _("Location"),
        "geo-alt",
        [
            "title",
            "city",
            "district",
            "community",
            "address",
            "building_no",
            "unit_no",
            "room_no",
            "floor",
            "total_floors",
        ],
    ),
    (
        "layout",
        _("Size and layout"),
        "rulers",
        [
            "built_area",
            "usable_area",
            "rooms",
            "halls",
            "baths",
            "orientation",
            "decoration",
        ],
    ),
    (
        "rights",
        _("Property rights"),
        "file-earmark-text",
        [
            "right_type",
            "right_term_years",
            "certificate_status",
            "mortgaged",
            "seized",
        ],
    ),
    (
        "facilities",
        _("Facilities"),
        "signpost-2",
        [
            "near_school",
            "school_names",
            "near_transit",
            "near_hospital",
            "near_commerce",
            "facility_notes",
        ],
    ),
    ("price", _("Price"), "cash-coin", ["total_price", "tags"]),
    ("contact", _("Owner / developer contact"), "telephone", ["contact_name", "contact_phone"]),
]


def _decimal_input(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off", **attrs})


def _number_input(**attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"inputmode": "numeric", "pattern": "[0-9]*", "autocomplete": "off", **attrs})


def _tel_input(**attrs) -> forms.TextInput:
    widget = forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off", "maxlength": 20, **attrs})
    widget.input_type = "tel"
    return widget


def _decimal(name: str, *, required: bool = True, max_digits: int = 8) -> forms.DecimalField:
    # Business rules (area > 0, usable ≤ built …) are the service's: its messages land on the field.
    return forms.DecimalField(
        label=field_label(Listing, name),
        required=required,
        max_digits=max_digits,
        decimal_places=2,
        widget=_decimal_input(),
    )


def _integer(name: str, *, required: bool = True, **attrs) -> forms.IntegerField:
    return forms.IntegerField(label=field_label(Listing, name), required=required, widget=_number_input(**attrs))


def _char(name: str, *, required: bool = True, **attrs) -> forms.CharField:
    max_length = Listing._meta.get_field(name).max_length
    return forms.CharField(
        label=field_label(Listing, name), required=required, max_length=max_length, widget=forms.TextInput(attrs=attrs)
    )


def _flag(name: str) -> forms.BooleanField:
    return forms.BooleanField(label=field_label(Listing, name), required=False)


class ListingForm(BootstrapFormMixin, forms.Form):
    """Every field a person may set on a listing, grouped as on paper (R3.1.1)."""

    title = _char("title", placeholder=_("e.g. 滨江花园 三室两厅 南北通透"))
    city = _char("city")
    district = _char("district")
    community = _char("community")
    address = _char("address")
    building_no = _char("building_no", required=False)
    unit_no = _char("unit_no", required=False)
    room_no = _char("room_no", required=False)
    # A floor may be negative (basements): no digits-only keypad pattern here.
    floor = forms.IntegerField(
        label=field_label(Listing, "floor"),
        widget=forms.NumberInput(attrs={"step": 1}),
        help_text=_("1 is the ground floor; negative numbers are basements."),
    )
    total_floors = _integer("total_floors")
    built_area = _decimal("built_area")
    usable_area = _decimal("usable_area", required=False)
    rooms = _integer("rooms")
    halls = _integer("halls", required=False)
    baths = _integer("baths", required=False)
    orientation = forms.ChoiceField(label=field_label(Listing, "orientation"), choices=Orientation.choices)
    decoration = forms.ChoiceField(label=field_label(Listing, "decoration"), choices=Decoration.choices)
    right_type = forms.ChoiceField(
        label=field_label(Listing, "right_type"), choices=RightType.choices, initial=RightType.COMMODITY
    )
    right_term_years = _integer("right_term_years", required=False)
    certificate_status = forms.ChoiceField(
        label=field_label(Listing, "certificate_status"), choices=CertificateStatus.choices
    )
    mortgaged = _flag("mortgaged")
    seized = _flag("seized")
    near_school = _flag("near_school")
    school_names = _char("school_names", required=False)
    near_transit = _flag("near_transit")
    near_hospital = _flag("near_hospital")
    near_commerce = _flag("near_commerce")
    facility_notes = forms.CharField(
        label=field_label(Listing, "facility_notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    total_price = _decimal("total_price", max_digits=10)
    tags = forms.CharField(
        label=field_label(Listing, "tags"),
        required=False,
        max_length=300,
        help_text=_("Separate tags with commas, e.g. 学区, 地铁."),
    )
    contact_name = _char("contact_name", required=False)
    contact_phone = forms.CharField(
        label=field_label(Listing, "contact_phone"),
        required=False,
        max_length=20,
        widget=_tel_input(placeholder=_("11-digit mobile number")),
    )

    # Model defaults fill what a phone user leaves empty.
    DEFAULTS = {"halls": 1, "baths": 1, "right_term_years": 70}

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("initial", {**self.DEFAULTS, "right_type": RightType.COMMODITY})
        super().__init__(*args, **kwargs)

    def sections(self) -> list[dict]:
        return [
            {"key": key, "title": title, "icon": icon, "fields": [self[name] for name in names]}
            for key, title, icon, names in SECTIONS
        ]

    def values(self) -> dict:
        """Service keyword arguments; decimals to cents so an unchanged "98.5" is no change of "98.50"."""
        data = self.cleaned_data
        values = {name: data[name] for name in EDITABLE}
        for name in ("built_area", "usable_area", "total_price"):
            if values[name] is not None:
                values[name] = values[name].quantize(CENT)
        for name, default in self.DEFAULTS.items():
            if values[name] is None:
                values[name] = default
        values["tags"] = split_list(data["tags"])
        return values


class ListingEditForm(ListingForm):
    """The same fields prefilled, the phone empty (never shown in clear) and a mandatory reason (R3.1.2)."""

    reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": _("e.g. the owner lowered the price"), "autocomplete": "off"}),
        help_text=_("Recorded in the listing's history with every changed field."),
    )

    def __init__(self, *args, listing: Listing, **kwargs):
        initial = {name: getattr(listing, name) for name in EDITABLE}
        initial["contact_phone"] = ""
        initial["tags"] = ", ".join(listing.tags or [])
        kwargs["initial"] = initial
        super().__init__(*args, **kwargs)
        phone = self.fields["contact_phone"]
        phone.widget.attrs["placeholder"] = listing.contact_phone_masked or _("11-digit mobile number")
        phone.help_text = _("Leave empty to keep the current number.")

    def values(self) -> dict:
        values = super().values()
        if not (values.get("contact_phone") or "").strip():
            values.pop("contact_phone", None)
        return values


class StatusForm(BootstrapFormMixin, forms.Form):
    """A manual status change: only the moves the state table allows, always with a reason."""

    to_status = forms.ChoiceField(label=_("New status"))
    reason = forms.CharField(label=_("Reason"), max_length=200, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, listing: Listing, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = STATUS_TRANSITIONS[ListingStatus(listing.status)]
        self.fields["to_status"].choices = [(s.value, s.label) for s in ListingStatus if s in allowed]


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several photos in one go (agents upload a whole visit's pictures from the phone)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": "image/jpeg,image/png,image/webp"}))
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, (list, tuple)):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else []


class PhotoUploadForm(BootstrapFormMixin, forms.Form):
    files = MultipleFileField(label=_("Images"), help_text=_("JPEG, PNG or WebP."))
    kind = forms.ChoiceField(label=_("Kind"), choices=PhotoKind.choices, initial=PhotoKind.PHOTO)
    caption = forms.CharField(label=_("Caption"), max_length=100, required=False)


class PhotoDeleteForm(BootstrapFormMixin, forms.Form):
    photo = forms.IntegerField(widget=forms.HiddenInput)
    reason = forms.CharField(label=_("Reason"), max_length=200)


class PhotoMoveForm(forms.Form):
    photo = forms.IntegerField()
    offset = forms.TypedChoiceField(choices=[("-1", "-1"), ("1", "1")], coerce=int)
