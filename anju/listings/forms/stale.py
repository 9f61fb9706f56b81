"""Forms of the re-verification pages: confirm, update-and-verify, and the branch interval.

They only collect input; ``listing_reverify`` and ``branch_listing_settings_save`` validate and write.
"""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label, split_list
from anju.core.masking import normalise_phone

from ..choices import Decoration
from ..models import BranchListingSettings, Listing


class ReverifyConfirmForm(BootstrapFormMixin, forms.Form):
    """Nothing changed: the check itself is recorded, with an optional note."""

    note = forms.CharField(
        label=_("How did you check?"),
        max_length=200,
        required=False,
        help_text=_("For example: called the owner, visited the site."),
    )


class ReverifyUpdateForm(BootstrapFormMixin, forms.Form):
    """The key fields that change between checks; only the changed ones are passed on."""

    total_price = forms.DecimalField(label=field_label(Listing, "total_price"), max_digits=10, decimal_places=2)
    decoration = forms.ChoiceField(label=field_label(Listing, "decoration"), choices=Decoration.choices)
    mortgaged = forms.BooleanField(label=field_label(Listing, "mortgaged"), required=False)
    seized = forms.BooleanField(label=field_label(Listing, "seized"), required=False)
    contact_name = forms.CharField(label=field_label(Listing, "contact_name"), max_length=50, required=False)
    contact_phone = forms.CharField(
        label=field_label(Listing, "contact_phone"),
        max_length=20,
        required=False,
        help_text=_("Leave empty to keep the stored number."),
    )
    facility_notes = forms.CharField(
        label=field_label(Listing, "facility_notes"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    tags = forms.CharField(
        label=field_label(Listing, "tags"), max_length=300, required=False, help_text=_("Separate tags with commas.")
    )
    note = forms.CharField(
        label=_("What changed, and how did you check?"),
        max_length=200,
        help_text=_("Saved as the reason of the change."),
    )

    FIELDS = [
        "total_price",
        "decoration",
        "mortgaged",
        "seized",
        "contact_name",
        "contact_phone",
        "facility_notes",
        "tags",
    ]

    def __init__(self, *args, listing: Listing, **kwargs):
        initial = {
            "total_price": listing.total_price,
            "decoration": listing.decoration,
            "mortgaged": listing.mortgaged,
            "seized": listing.seized,
            "contact_name": listing.contact_name,
            "facility_notes": listing.facility_notes,
            "tags": ", ".join(listing.tags or []),
            **kwargs.pop("initial", {}),
        }
        super().__init__(*args, initial=initial, **kwargs)
        self.listing = listing
        # The stored number is never shown in full; the masked form tells which one is on file.
        self.fields["contact_phone"].widget.attrs.update(
            {"placeholder": listing.contact_phone_masked, "autocomplete": "off", "inputmode": "tel"}
        )

    def changes(self) -> dict:
        """The fields whose submitted value differs from the listing (for ``listing_reverify``)."""
        data, listing = self.cleaned_data, self.listing
        current = {
            "total_price": Decimal(listing.total_price),
            "decoration": listing.decoration,
            "mortgaged": listing.mortgaged,
            "seized": listing.seized,
            "contact_name": listing.contact_name,
            "facility_notes": (listing.facility_notes or "").replace("\r\n", "\n").strip(),
            "tags": list(listing.tags or []),
        }
        submitted = {
            "total_price": data["total_price"],
            "decoration": data["decoration"],
            "mortgaged": data["mortgaged"],
            "seized": data["seized"],
            "contact_name": data["contact_name"].strip(),
            "facility_notes": data["facility_notes"].replace("\r\n", "\n").strip(),
            "tags": split_list(data["tags"]),
        }
        changed = {name: value for name, value in submitted.items() if value != current[name]}
        phone = data["contact_phone"].strip()
        if phone and normalise_phone(phone) != normalise_phone(listing.contact_phone or ""):
            changed["contact_phone"] = phone
        return changed


class BranchListingSettingsForm(BootstrapFormMixin, forms.Form):
    verify_every_days = forms.IntegerField(
        label=field_label(BranchListingSettings, "verify_every_days"),
        min_value=1,
        max_value=365,
        help_text=_(
            "Every available or reserved listing must be checked with its owner or developer at least this often."
        ),
    )
