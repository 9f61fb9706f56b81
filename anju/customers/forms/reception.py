"""Forms of the reception desk. They only collect input; the reception services validate and write."""

from __future__ import annotations

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin


class VisitRegisterForm(BootstrapFormMixin, forms.Form):
    """A visitor at the desk; first or return visit is worked out from the phone number."""

    phone = forms.CharField(
        label=_("Mobile phone"),
        max_length=20,
        # Not an example number: a real-looking one on every desk page reads as a leaked phone (issue #9).
        widget=forms.TextInput(
            attrs={"inputmode": "tel", "autocomplete": "off", "placeholder": _("11-digit mobile number")}
        ),
    )
    name = forms.CharField(
        label=_("Name"),
        max_length=50,
        required=False,
        help_text=_("Needed for a new customer; a known number keeps the name on file."),
    )
    party_size = forms.IntegerField(label=_("Party size"), min_value=1, max_value=50, initial=1)


class ReasonForm(BootstrapFormMixin, forms.Form):
    """A typed reason: skipping a turn, a visitor who left."""

    reason = forms.CharField(label=_("Reason"), max_length=200)


class AssignForm(BootstrapFormMixin, forms.Form):
    """Give a waiting visitor to an agent by hand (the reason is needed when reassigning)."""

    agent = forms.ModelChoiceField(label=_("Agent"), queryset=None, empty_label=None)
    reason = forms.CharField(label=_("Reason"), max_length=200, required=False)

    def __init__(self, *args, agents, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents


class AvailabilityForm(forms.Form):
    is_available = forms.BooleanField(required=False)


class EndReceptionForm(BootstrapFormMixin, forms.Form):
    presented = forms.CharField(
        label=_("What was presented"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Projects, units, price lists, sample flats shown."),
    )
    questions = forms.CharField(
        label=_("What the customer asked"),
        required=False,
        max_length=4000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class RosterForm(BootstrapFormMixin, forms.Form):
    """The duty list of a day: each eligible agent gets an order number, or none when off duty."""

    day = forms.DateField(
        label=_("Day"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d"), initial=timezone.localdate
    )

    def __init__(self, *args, agents, current: dict[int, int] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.agents = list(agents)
        current = current or {}
        for agent in self.agents:
            self.fields[self.key(agent)] = forms.IntegerField(
                label=str(agent),
                required=False,
                min_value=1,
                max_value=99,
                initial=current.get(agent.pk),
                widget=forms.NumberInput(
                    attrs={"inputmode": "numeric", "class": "form-control", "style": "width:6rem"}
                ),
            )

    @staticmethod
    def key(agent) -> str:
        return f"position_{agent.pk}"

    def agent_fields(self):
        return [(agent, self[self.key(agent)]) for agent in self.agents]

    def ordered_agents(self) -> list:
        """The agents with an order number, by that number (ties keep the list order)."""
        numbered = [
            (self.cleaned_data[self.key(agent)], index, agent)
            for index, agent in enumerate(self.agents)
            if self.cleaned_data.get(self.key(agent)) is not None
        ]
        return [agent for _position, _index, agent in sorted(numbered, key=lambda item: item[:2])]
