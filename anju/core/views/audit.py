"""The audit browser for administrators and auditors: filter, page, export CSV."""

from __future__ import annotations

import csv
import datetime as dt
import json

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db.models import Q
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anju.core import audit
from anju.core.forms import BootstrapFormMixin
from anju.core.models import AuditEvent


class AuditFilterForm(BootstrapFormMixin, forms.Form):
    actor = forms.CharField(label=gettext_lazy("Actor"), required=False)
    action = forms.CharField(
        label=gettext_lazy("Action"), required=False, help_text=gettext_lazy("A prefix such as org.user or auth.login")
    )
    target = forms.CharField(
        label=gettext_lazy("Object"), required=False, help_text=gettext_lazy("Object type, id or name")
    )
    date_from = forms.DateField(
        label=gettext_lazy("From"), required=False, widget=forms.DateInput(attrs={"type": "date"})
    )
    date_to = forms.DateField(label=gettext_lazy("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def clean(self):
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            self.add_error("date_to", _("The end date is before the start date."))
        return data


def _day_start(day: dt.date) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time.min))


def audit_events_for(user, data: dict):
    """Audit events the user may browse, narrowed by the filter form's cleaned data."""
    queryset = AuditEvent.objects.visible_to(user).select_related("actor")
    if data.get("actor"):
        term = data["actor"].strip()
        queryset = queryset.filter(Q(actor_name__icontains=term) | Q(actor__username__iexact=term))
    if data.get("action"):
        queryset = queryset.filter(action__startswith=data["action"].strip())
    if data.get("target"):
        term = data["target"].strip()
        queryset = queryset.filter(Q(target_type__icontains=term) | Q(target_id=term) | Q(target_repr__icontains=term))
    if data.get("date_from"):
        queryset = queryset.filter(occurred_at__gte=_day_start(data["date_from"]))
    if data.get("date_to"):
        queryset = queryset.filter(occurred_at__lt=_day_start(data["date_to"] + dt.timedelta(days=1)))
    return queryset.order_by("-seq")


@login_required
@permission_required("core.browse_audit", raise_exception=True)
def audit_list(request):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    page = Paginator(audit_events_for(request.user, data), 50).get_page(request.GET.get("page"))
    # Filters push their URL into history; restoring it after a cache miss needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "core/partials/_audit_rows.html" if partial else "core/audit_list.html"
    return render(request, template, {"form": form, "page_obj": page})


class _Echo:
    def write(self, value):
        return value


_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value) -> str:
    """One CSV cell: JSON for before/after, and text a spreadsheet will not run as a formula."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False, sort_keys=True, cls=DjangoJSONEncoder)
    text = str(value)
    # Usernames of failed logins and object names are typed by people: defuse "=HYPERLINK(…)".
    return f"'{text}" if text.startswith(_FORMULA_START) else text


@login_required
@permission_required("core.browse_audit", raise_exception=True)
def audit_export(request):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    queryset = audit_events_for(request.user, data)
    filters = {key: str(value) for key, value in data.items() if value}
    exported = audit.record(
        actor=request.user, action="core.audit.exported", after={"filters": filters, "rows": queryset.count()}
    )
    # The file holds exactly the rows counted above, not the export's own event.
    queryset = queryset.filter(seq__lt=exported.seq)
    writer = csv.writer(_Echo())
    header = [
        _("Sequence"),
        _("Time"),
        _("Actor"),
        _("Action"),
        _("Object type"),
        _("Object id"),
        _("Object"),
        _("Before"),
        _("After"),
        _("Reason"),
        _("Source"),
        _("IP address"),
        _("Request id"),
        _("Hash"),
    ]

    def rows():
        yield "\ufeff"  # BOM so Excel opens the UTF-8 Chinese text correctly
        yield writer.writerow(header)
        for event in queryset.iterator(chunk_size=1000):
            yield writer.writerow(
                [
                    _cell(value)
                    for value in (
                        event.seq,
                        timezone.localtime(event.occurred_at).isoformat(),
                        event.actor_name,
                        event.action,
                        event.target_type,
                        event.target_id,
                        event.target_repr,
                        event.before,
                        event.after,
                        event.reason,
                        event.source,
                        event.ip,
                        event.request_id,
                        event.hash,
                    )
                ]
            )

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M")
    response["Content-Disposition"] = f'attachment; filename="anju-audit-{stamp}.csv"'
    return response
