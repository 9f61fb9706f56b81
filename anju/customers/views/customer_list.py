"""The customer list (search, filters, sort, HTMX rows) and its masked CSV / XLSX export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _

from anju.core import private_search
from anju.core.exports import export_file
from anju.core.http import page_of, wants_partial

from ..forms.lists import CustomerFilterForm
from ..models import Customer
from ..selectors import customer_list_for, search_for_audit

VIEW = "customers.view_customer"
EXPORT = "customers.export_customer"
# A protection end closer than this is shown in red: the owner must follow up now.
PROTECTION_WARNING = dt.timedelta(days=3)


@login_required
@permission_required(VIEW, raise_exception=True)
def customer_list(request):
    """The list; the filter form posts, so a phone or ID number searched for never enters the URL
    (issue #9 defect 2): the term travels as a session token (``anju.core.private_search``)."""
    if request.method == "POST":
        return private_search.results_response(request, "customers:customer-list")
    if (cleaned := private_search.redirect_if_private(request)) is not None:
        return cleaned
    data, expired = private_search.resolved_query(request)
    form = CustomerFilterForm(data or None, viewer=request.user)
    customers = customer_list_for(request.user, **form.selector_filters())
    # A search that can no longer be read must not show the whole list as if it were its result.
    page = page_of(request, customers.none() if expired else customers)
    now = timezone.now()
    context = {
        "form": form,
        "page_obj": page,
        "search_expired": expired,
        "now": now,
        "protection_warning_at": now + PROTECTION_WARNING,
    }
    template = "customers/partials/_customer_rows.html" if wants_partial(request) else "customers/customer_list.html"
    return render(request, template, context)


def _export_header() -> list[str]:
    return [
        _("Name"),
        _("Mobile phone"),
        _("Stage"),
        _("Source channel"),
        _("Value tier"),
        _("Budget (10k CNY)"),
        _("Owner"),
        _("Team"),
        _("Branch"),
        _("Tags"),
        _("Protected until"),
        _("Registered at"),
    ]


def _budget(customer: Customer) -> str:
    low, high = customer.budget_min, customer.budget_max
    if low is not None and high is not None:
        return f"{low}–{high}"
    if low is not None:
        return f"≥{low}"
    if high is not None:
        return f"≤{high}"
    return ""


def _export_rows(customers) -> Iterator[list]:
    """One row per customer; the phone is always masked (revealing is one customer at a time)."""
    for customer in customers.iterator(chunk_size=500):
        yield [
            customer.name,
            customer.phone_masked,
            customer.get_stage_display(),
            customer.get_source_display(),
            customer.value_tier,
            _budget(customer),
            str(customer.owner) if customer.owner else "",
            str(customer.team) if customer.team else "",
            str(customer.branch),
            "; ".join(tag.name for tag in customer.tags.all()),
            customer.protected_until,
            customer.created_at,
        ]


@login_required
@permission_required([VIEW, EXPORT], raise_exception=True)
def customer_export(request):
    """The list as CSV (default) or XLSX with the page's filters; masked, scoped and audited."""
    file_format = "xlsx" if request.GET.get("format") == "xlsx" else "csv"
    data, expired = private_search.resolved_query(request)
    if expired:
        messages.error(request, _("This search has expired. Please search again, then export."))
        return redirect("customers:customer-list")
    form = CustomerFilterForm(data or None, viewer=request.user)
    filters = form.selector_filters()
    customers = customer_list_for(request.user, **filters)
    recorded = {key: value for key, value in filters.items() if value and key != "sort"}
    if "search" in recorded:
        recorded["search"] = search_for_audit(recorded["search"])
    return export_file(
        actor=request.user,
        action="customers.customer.exported",
        queryset=customers,
        header=_export_header(),
        rows=_export_rows,
        name="customers",
        sheet_title=_("Customers"),
        filters=recorded,
        file_format=file_format,
    )
