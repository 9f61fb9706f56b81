"""Forms of the company resources library: the list filter and the upload form.

They only collect input; ``services.resources`` checks the file and writes.
"""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label
from anju.org.models import Role

from ..choices import ResourceKind
from ..models import Project, Resource
from ..services.resources import ALLOWED_EXTENSIONS, max_upload_bytes

COMPANY = "company"


class ResourceFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        max_length=50,
        widget=forms.TextInput(attrs={"placeholder": _("Title"), "type": "search", "autocomplete": "off"}),
    )
    project = forms.ChoiceField(label=_("Project"), required=False)
    kind = forms.ChoiceField(label=_("Kind"), required=False, choices=[("", _("All kinds")), *ResourceKind.choices])

    def __init__(self, *args, viewer=None, **kwargs):
        super().__init__(*args, **kwargs)
        projects = Project.objects.visible_to(viewer).values_list("pk", "name") if viewer else []
        self.fields["project"].choices = [
            ("", _("All projects")),
            (COMPANY, _("Company-wide")),
            *[(str(pk), name) for pk, name in projects],
        ]

    def selector_filters(self) -> dict:
        if not self.is_bound or not self.is_valid():
            return {}
        data = self.cleaned_data
        return {"project": data["project"], "kind": data["kind"], "search": data["q"]}


class ResourceUploadForm(BootstrapFormMixin, forms.Form):
    project = forms.ModelChoiceField(
        label=_("Project"),
        queryset=Project.objects.none(),
        required=False,
        empty_label=_("Company-wide (no project)"),
        help_text=_("Leave empty for material every project uses."),
    )
    kind = forms.ChoiceField(label=field_label(Resource, "kind"), choices=ResourceKind.choices)
    title = forms.CharField(label=field_label(Resource, "title"), max_length=120)
    description = forms.CharField(
        label=field_label(Resource, "description"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    file = forms.FileField(label=field_label(Resource, "file"))
    roles = forms.ModelMultipleChoiceField(
        label=field_label(Resource, "roles"),
        queryset=Role.objects.order_by("pk"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Leave all unticked to share it with every role."),
    )

    def __init__(self, *args, viewer=None, **kwargs):
        super().__init__(*args, **kwargs)
        if viewer is not None:
            self.fields["project"].queryset = Project.objects.restrict(viewer, "manage").order_by("name")
        self.fields["roles"].widget.attrs["class"] = "form-check-input"
        accept = ",".join(f".{extension}" for extension in ALLOWED_EXTENSIONS)
        self.fields["file"].widget.attrs["accept"] = accept
        self.fields["file"].help_text = _("PDF, images, Excel, Word, PowerPoint or MP4; at most %(limit)s MB.") % {
            "limit": max_upload_bytes() // (1024 * 1024)
        }

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        return {
            "project": data["project"],
            "kind": data["kind"],
            "title": data["title"],
            "description": data["description"],
            "file": data["file"],
            "roles": list(data["roles"]),
        }
