"""Forms of the customer file pages. They only collect input; the services validate and write."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label, split_list
from anju.org.choices import UserStatus
from anju.org.models import Role, User

from ..choices import STAGE_TRANSITIONS, Channel, ConsentKind, Gender, Source, Stage, ValueTier
from ..models import Customer, CustomerNeeds
from ..services.customers import EDITABLE, NEEDS_FIELDS


def _tel_input(**attrs) -> forms.TextInput:
    widget = forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off", "maxlength": 20, **attrs})
    widget.input_type = "tel"
    return widget


def _amount_input() -> forms.NumberInput:
    return forms.NumberInput(attrs={"inputmode": "numeric", "min": 0, "step": 1})


def _budget_field(name: str) -> forms.IntegerField:
    return forms.IntegerField(
        label=field_label(Customer, name), required=False, min_value=0, max_value=1_000_000, widget=_amount_input()
    )


TAGS_HELP = _("Separate tags with commas, e.g. 学区, 改善.")


class _BudgetRangeMixin:
    def clean(self):
        cleaned = super().clean()
        low, high = cleaned.get("budget_min"), cleaned.get("budget_max")
        if low is not None and high is not None and low > high:
            self.add_error("budget_min", _("The lower bound is above the upper bound."))
        return cleaned


class CustomerRegisterForm(_BudgetRangeMixin, BootstrapFormMixin, forms.Form):
    """Registration (R2.1.1): the registering agent becomes the owner; consent is recorded with it."""

    name = forms.CharField(label=field_label(Customer, "name"), max_length=50)
    phone = forms.CharField(
        label=field_label(Customer, "phone"), max_length=20, widget=_tel_input(placeholder=_("11-digit mobile number"))
    )
    gender = forms.ChoiceField(label=field_label(Customer, "gender"), choices=Gender.choices, initial=Gender.UNKNOWN)
    source = forms.ChoiceField(label=field_label(Customer, "source"), choices=Source.choices)
    budget_min = _budget_field("budget_min")
    budget_max = _budget_field("budget_max")
    value_tier = forms.ChoiceField(
        label=field_label(Customer, "value_tier"), choices=ValueTier.choices, initial=ValueTier.C
    )
    tags = forms.CharField(label=_("Tags"), required=False, max_length=300, help_text=TAGS_HELP)
    household_notes = forms.CharField(
        label=field_label(Customer, "household_notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    consent_channel = forms.ChoiceField(
        label=_("Consent given by"), choices=Channel.choices, initial=Channel.FACE_TO_FACE
    )
    privacy_consent = forms.BooleanField(label=_("The customer agreed to the processing of personal information"))
    id_number = forms.CharField(
        label=field_label(Customer, "id_number"),
        required=False,
        max_length=18,
        widget=forms.TextInput(attrs={"autocomplete": "off", "maxlength": 18}),
        help_text=_("Optional. Only with the customer's separate consent below."),
    )
    id_number_consent = forms.BooleanField(
        label=_("The customer separately agreed to the storing of the ID-card number"), required=False
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["privacy_consent"].label = _(
            "The customer agreed to the processing of personal information (privacy policy v%(version)s)"
        ) % {"version": settings.ANJU_PRIVACY_POLICY_VERSION}

    def clean(self):
        cleaned = super().clean()
        if (cleaned.get("id_number") or "").strip() and not cleaned.get("id_number_consent"):
            self.add_error("id_number_consent", _("Separate consent is required to store an ID-card number."))
        return cleaned

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "phone": data["phone"],
            "gender": data["gender"],
            "source": data["source"],
            "budget_min": data["budget_min"],
            "budget_max": data["budget_max"],
            "value_tier": data["value_tier"],
            "tags": split_list(data["tags"]),
            "household_notes": data["household_notes"],
            "consent_channel": data["consent_channel"],
            "id_number": data["id_number"].strip(),
            "id_number_consent": data["id_number_consent"],
        }


class CustomerEditForm(_BudgetRangeMixin, BootstrapFormMixin, forms.Form):
    """Editing the file; an empty phone field keeps the number on file (it is never shown in clear)."""

    name = forms.CharField(label=field_label(Customer, "name"), max_length=50)
    phone = forms.CharField(
        label=field_label(Customer, "phone"),
        required=False,
        max_length=20,
        help_text=_("Leave empty to keep the current number."),
    )
    gender = forms.ChoiceField(label=field_label(Customer, "gender"), choices=Gender.choices)
    source = forms.ChoiceField(label=field_label(Customer, "source"), choices=Source.choices)
    budget_min = _budget_field("budget_min")
    budget_max = _budget_field("budget_max")
    value_tier = forms.ChoiceField(label=field_label(Customer, "value_tier"), choices=ValueTier.choices)
    tags = forms.CharField(label=_("Tags"), required=False, max_length=300, help_text=TAGS_HELP)
    household_notes = forms.CharField(
        label=field_label(Customer, "household_notes"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        initial = {name: getattr(customer, name) for name in EDITABLE}
        initial["tags"] = ", ".join(tag.name for tag in customer.tags.all())
        kwargs.setdefault("initial", initial)
        super().__init__(*args, **kwargs)
        self.fields["phone"].widget = _tel_input(placeholder=customer.phone_masked, **{"class": "form-control"})

    def changes(self) -> dict:
        data = self.cleaned_data
        values = {name: data[name] for name in EDITABLE}
        values["tags"] = split_list(data["tags"])
        if data["phone"].strip():
            values["phone"] = data["phone"]
        return values


class StageForm(BootstrapFormMixin, forms.Form):
    to_stage = forms.ChoiceField(label=_("New stage"))
    lost_reason = forms.CharField(
        label=field_label(Customer, "lost_reason"),
        required=False,
        max_length=200,
        help_text=_("Required when the customer is lost."),
    )

    def __init__(self, *args, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = STAGE_TRANSITIONS[Stage(customer.stage)]
        self.fields["to_stage"].choices = [(stage.value, stage.label) for stage in Stage if stage in allowed]

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("to_stage") == Stage.LOST and not (cleaned.get("lost_reason") or "").strip():
            self.add_error("lost_reason", _("Say why the customer was lost."))
        return cleaned


class ReasonForm(BootstrapFormMixin, forms.Form):
    """One required reason: releasing to the pool, withdrawing a consent."""

    reason = forms.CharField(label=_("Reason"), max_length=200, widget=forms.Textarea(attrs={"rows": 2}))


class OwnerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        parts = [str(obj), str(obj.team or obj.branch or "")]
        return " · ".join(part for part in parts if part)


def transfer_candidates(viewer: User, customer: Customer):
    """Active employees the viewer may see who can hold customers (they hold customers.add_customer)."""
    permission = Permission.objects.get(content_type__app_label="customers", codename="add_customer")
    roles = Role.objects.filter(permissions=permission)
    return (
        User.objects.visible_to(viewer)
        .filter(status=UserStatus.ACTIVE, is_active=True, branch__isnull=False)
        .filter(Q(roles__in=roles) | Q(user_permissions=permission) | Q(is_superuser=True))
        .exclude(pk=customer.owner_id)
        .select_related("team", "branch")
        .distinct()
        .order_by("branch__path", "team__name", "display_name")
    )


class TransferForm(BootstrapFormMixin, forms.Form):
    to_owner = OwnerChoiceField(label=_("New owner"), queryset=User.objects.none())
    reason = forms.CharField(label=_("Reason"), max_length=200, widget=forms.Textarea(attrs={"rows": 2}))

    def __init__(self, *args, viewer: User, customer: Customer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["to_owner"].queryset = transfer_candidates(viewer, customer)


SPECIAL_NEEDS = [
    "rooms_min",
    "rooms_max",
    "floor_min",
    "floor_max",
    "orientation",
    "area_min",
    "area_max",
    "price_min",
    "price_max",
    "payment",
]


class NeedsForm(BootstrapFormMixin, forms.ModelForm):
    """The needs questionnaire (R2.3.1); saving goes through ``needs_update``, never ``form.save()``."""

    GROUPS = [
        (_("Basic needs"), ["purpose", "usage", "districts"]),
        (_("Psychological needs"), ["environment", "community"]),
        (_("Additional needs"), ["needs_school", "needs_hospital", "needs_transit", "needs_commerce"]),
        (_("Special needs"), SPECIAL_NEEDS),
        (_("Interview"), ["notes"]),
    ]

    districts = forms.CharField(
        label=field_label(CustomerNeeds, "districts"),
        required=False,
        max_length=300,
        help_text=_("Separate districts with commas, e.g. 滨江, 西湖."),
    )

    class Meta:
        model = CustomerNeeds
        fields = NEEDS_FIELDS
        widgets = {
            "environment": forms.Textarea(attrs={"rows": 2}),
            "community": forms.Textarea(attrs={"rows": 2}),
            "notes": forms.Textarea(attrs={"rows": 4}),
            **{
                name: _amount_input()
                for name in ("rooms_min", "rooms_max", "area_min", "area_max", "price_min", "price_max")
            },
            "floor_min": forms.NumberInput(attrs={"inputmode": "numeric"}),
            "floor_max": forms.NumberInput(attrs={"inputmode": "numeric"}),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["districts"] = ", ".join(self.instance.districts or [])

    def clean_districts(self) -> list[str]:
        return split_list(self.cleaned_data.get("districts") or "")

    def _post_clean(self):
        # The service validates and writes; the form must not touch the stored instance.
        pass

    def values(self) -> dict:
        return {name: self.cleaned_data[name] for name in NEEDS_FIELDS}

    def groups(self):
        """(title, bound fields) per questionnaire section, for the template."""
        return [(title, [self[name] for name in names]) for title, names in self.GROUPS]


class ConsentForm(BootstrapFormMixin, forms.Form):
    kind = forms.ChoiceField(label=_("Consent for"), choices=ConsentKind.choices)
    channel = forms.ChoiceField(label=_("Channel"), choices=Channel.choices, initial=Channel.FACE_TO_FACE)
    purpose = forms.CharField(
        label=_("Purpose"),
        required=False,
        max_length=200,
        help_text=_("Leave empty to use the standard purpose of this kind of consent."),
    )


class IdNumberForm(BootstrapFormMixin, forms.Form):
    id_number = forms.CharField(
        label=field_label(Customer, "id_number"),
        max_length=20,
        widget=forms.TextInput(attrs={"autocomplete": "off", "maxlength": 18}),
        help_text=_("18 characters; the last may be X."),
    )


class RevealForm(forms.Form):
    field = forms.ChoiceField(choices=[("phone", _("Mobile phone")), ("id_number", _("ID-card number"))])
    reason = forms.CharField(required=False, max_length=200)
