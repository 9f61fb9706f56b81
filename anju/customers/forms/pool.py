"""The filter form of the public pool page (it only collects input)."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin

from ..choices import Source, ValueTier


class PoolFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": _("Name, last four digits or full mobile"), "type": "search"}),
    )
    source = forms.ChoiceField(
        label=_("Source channel"), required=False, choices=[("", _("All sources")), *Source.choices]
    )
    tier = forms.ChoiceField(label=_("Value tier"), required=False, choices=[("", _("All tiers")), *ValueTier.choices])

    def filters(self) -> dict:
        """Keyword arguments for ``selectors.pool_list_for``; invalid fields are ignored rather than failing the page."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "search": (data.get("q") or "").strip(),
            "source": data.get("source") or "",
            "tier": data.get("tier") or "",
        }
