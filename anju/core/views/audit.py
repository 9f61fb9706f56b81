"""The audit browser for administrators and auditors: filter, page, export CSV."""

from __future__ import annotations

import datetime as dt

from django import forms
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Max, Q
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anju.core import audit
from anju.core.exports import export_file
from anju.core.forms import BootstrapFormMixin
from anju.core.http import page_of
from anju.core.models import AuditEvent
from anju.core.tasks import CHAIN_BROKEN


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


def chain_status() -> dict:
    """What the hourly check last concluded, cheaply: the newest anchor, unless a break was recorded after it.

    The job anchors only a chain it has just verified, so the newest anchor means "verified up to
    there"; a ``core.audit.chain_broken`` event written after it means the latest check failed.
    """
    try:
        anchor = audit.last_anchor()
    except audit.AnchorError:
        return {"state": "anchor_invalid"}
    alarm = AuditEvent.objects.filter(action=CHAIN_BROKEN, seq__gt=anchor.seq if anchor else 0).order_by("-seq")
    broken = alarm.values_list("after", flat=True).first()
    if broken is not None:
        return {"state": "broken", "seq": broken.get("broken_seq")}
    if anchor is None:
        return {"state": "no_anchor"}
    at = dt.datetime.fromisoformat(anchor.at)
    return {"state": "verified", "seq": anchor.seq, "at": timezone.localtime(at)}


@login_required
@permission_required("core.browse_audit", raise_exception=True)
def audit_list(request):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    page = page_of(request, audit_events_for(request.user, data))
    # Filters push their URL into history; restoring it after a cache miss needs the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    if partial:
        return render(request, "core/partials/_audit_rows.html", {"form": form, "page_obj": page})
    return render(request, "core/audit_list.html", {"form": form, "page_obj": page, "chain": chain_status()})


@login_required
@permission_required("core.browse_audit", raise_exception=True)
def audit_export(request):
    form = AuditFilterForm(request.GET or None)
    data = form.cleaned_data if form.is_valid() else {}
    # The file holds the events up to now, not the export's own event (nor any written later).
    last = AuditEvent.objects.aggregate(last=Max("seq"))["last"] or 0
    queryset = audit_events_for(request.user, data).filter(seq__lte=last)
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

    def rows(events):
        for event in events.iterator(chunk_size=1000):
            yield [
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
            ]

    return export_file(
        actor=request.user,
        action="core.audit.exported",
        queryset=queryset,
        header=header,
        rows=rows,
        name="audit",
        filters={key: str(value) for key, value in data.items() if value},
    )
