"""The customer file: registration, the detail page with its timeline, edits and per-customer actions.

Every page loads the customer through ``visible_to`` (out of scope is a 404) and writes only
through the services; a refused operation is shown on the form, field by field.
"""

from __future__ import annotations

import math

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import posted
from anju.core.scoping import get_scoped_or_404, in_scope

from ..choices import ConsentKind, Stage
from ..forms.customers import (
    ConsentForm,
    CustomerEditForm,
    CustomerRegisterForm,
    IdNumberForm,
    NeedsForm,
    ReasonForm,
    RevealForm,
    StageForm,
    TransferForm,
)
from ..models import Consent, Customer, CustomerNeeds
from ..services import customers as services
from ..services import ownership
from ..timeline import needs_changes, needs_label, needs_value, timeline_for

VIEW = "customers.view_customer"
ADD = "customers.add_customer"
CHANGE = "customers.change_customer"
REVEAL = "customers.reveal_customer_contact"
TRANSFER = "customers.transfer_customer"
REVISIONS_SHOWN = 50


def _customer(request, pk: int) -> Customer:
    return get_scoped_or_404(Customer.objects.select_related("owner", "team", "branch"), request.user, pk=pk)


def _back_to(request, customer: Customer):
    """The file again — or, when the action took it out of the user's scope, the pool or the home page."""
    if in_scope(request.user, customer):
        return redirect("customers:customer-detail", pk=customer.pk)
    return redirect(reverse("customers:pool-list"))


def _action_page(request, customer: Customer, form, **context):
    """The shared page of the small per-customer forms (stage, transfer, release, consent, ID number)."""
    context.setdefault("list_url", reverse("customers:customer-list"))
    return render(request, "customers/customer_action.html", {"customer": customer, "form": form, **context})


# --- registration and edits ---------------------------------------------------------------------


@login_required
@permission_required(ADD, raise_exception=True)
def customer_register(request):
    form = CustomerRegisterForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_register(actor=request.user, **form.service_kwargs())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("%(name)s was registered; you are the owner.") % {"name": customer.name})
            return redirect("customers:customer-detail", pk=customer.pk)
    return render(
        request, "customers/customer_form.html", {"form": form, "list_url": reverse("customers:customer-list")}
    )


@login_required
@permission_required(CHANGE, raise_exception=True)
def customer_edit(request, pk: int):
    customer = _customer(request, pk)
    form = CustomerEditForm(posted(request), customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_update(actor=request.user, customer=customer, **form.changes())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The changes to %(name)s were saved.") % {"name": customer.name})
            return redirect("customers:customer-detail", pk=customer.pk)
    return render(
        request,
        "customers/customer_form.html",
        {"form": form, "customer": customer, "list_url": reverse("customers:customer-list")},
    )


# --- the detail page ------------------------------------------------------------------------------


def _needs_of(customer: Customer) -> CustomerNeeds | None:
    try:
        return customer.needs
    except CustomerNeeds.DoesNotExist:
        return None


def _range(low, high, unit: str = "") -> str:
    if low is None and high is None:
        return ""
    if low is not None and high is not None:
        text = f"{low}–{high}" if low != high else f"{low}"
    elif low is not None:
        text = _("from %(value)s") % {"value": low}
    else:
        text = _("up to %(value)s") % {"value": high}
    return f"{text} {unit}".strip()


def needs_summary(needs: CustomerNeeds | None) -> list[tuple[str, str]]:
    """The filled-in answers of the questionnaire as (label, value), ranges joined."""
    if needs is None:
        return []
    rows: list[tuple[str, str]] = []
    for name in ("purpose", "usage", "districts", "environment", "community"):
        value = getattr(needs, name)
        if value not in ("", None, []):
            rows.append((needs_label(name), needs_value(name, value)))
    flags = [
        needs_label(name)
        for name in ("needs_school", "needs_hospital", "needs_transit", "needs_commerce")
        if getattr(needs, name)
    ]
    if flags:
        rows.append((_("Additional needs"), "、".join(flags)))
    for label, low, high, unit in (
        (_("Bedrooms"), needs.rooms_min, needs.rooms_max, ""),
        (_("Floor"), needs.floor_min, needs.floor_max, ""),
        (_("Area"), needs.area_min, needs.area_max, "㎡"),
        (_("Total price"), needs.price_min, needs.price_max, _("×10k CNY")),
    ):
        text = _range(low, high, unit)
        if text:
            rows.append((label, text))
    for name in ("orientation", "payment"):
        if getattr(needs, name):
            rows.append((needs_label(name), needs_value(name, getattr(needs, name))))
    return rows


@login_required
@permission_required(VIEW, raise_exception=True)
def customer_detail(request, pk: int):
    customer = get_scoped_or_404(
        Customer.objects.select_related("owner", "team", "branch", "needs").prefetch_related("tags"),
        request.user,
        pk=pk,
    )
    consents = list(customer.consents.select_related("recorded_by").order_by("-granted_at"))
    days_left = None
    if customer.protected_until is not None and not customer.in_pool:
        remaining = (customer.protected_until - timezone.now()).total_seconds()
        days_left = max(math.ceil(remaining / 86400), 0)
    stage_form = StageForm(customer=customer) if request.user.has_perm(CHANGE) else None
    needs = _needs_of(customer)
    context = {
        "customer": customer,
        "tags": list(customer.tags.all()),
        "needs": needs,
        "needs_summary": needs_summary(needs),
        "consents": consents,
        "has_id_consent": any(c.kind == ConsentKind.ID_NUMBER and c.is_active for c in consents),
        "days_left": days_left,
        "stage_form": stage_form if stage_form is not None and stage_form.fields["to_stage"].choices else None,
        "is_lost": customer.stage == Stage.LOST,
        "timeline": timeline_for(customer, request.user),
        "communication_url": reverse("customers:communication-create", args=[customer.pk]),
        "feedback_url": reverse("customers:feedback-create", args=[customer.pk]),
        "budget": _range(customer.budget_min, customer.budget_max, _("×10k CNY")),
        "list_url": reverse("customers:customer-list"),
    }
    return render(request, "customers/customer_detail.html", context)


# --- revealing the full phone / ID number -----------------------------------------------------------


@login_required
@permission_required(REVEAL, raise_exception=True)
@require_POST
def customer_reveal(request, pk: int):
    """An HTMX fragment: the full value, or the refusal shown inline next to the masked value.

    Refusals come back with status 200 to HTMX (which does not swap 4xx bodies) and with
    their own status otherwise.
    """
    customer = get_scoped_or_404(Customer.objects.all(), request.user, pk=pk)
    form = RevealForm(request.POST)
    field = form.data.get("field") if form.data.get("field") in ("phone", "id_number") else "phone"
    reason = (form.data.get("reason") or "").strip()
    # The parameters of includes/reveal.html, as customers/partials/_detail_profile.html passes them.
    context = {
        "url": reverse("customers:customer-reveal", args=[customer.pk]),
        "target_id": f"reveal-{field}",
        "field": field,
        "masked": customer.phone_masked if field == "phone" else customer.id_number_masked,
        "can_reveal": True,  # the permission is required above; the scope by the lookup
        "label": _("Show full ID number") if field == "id_number" else _("Show full number"),
        "placeholder": _("Why you need it, e.g. calling back"),
        "reason": reason,
    }
    status = 200
    if not form.is_valid():
        context["error"], status = _("Only the phone or the ID-card number can be revealed."), 422
    else:
        try:
            context["value"] = services.customer_reveal(
                actor=request.user, customer=customer, field=form.cleaned_data["field"], reason=reason
            )
        except ApplicationError as exc:
            context["error"], status = str(exc.message), exc.status
    if request.htmx:
        status = 200
    response = render(request, "includes/reveal.html", context, status=status)
    response["Cache-Control"] = "no-store"
    return response


# --- stage, ownership -------------------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def customer_stage(request, pk: int):
    customer = _customer(request, pk)
    form = StageForm(posted(request), customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            customer = services.customer_change_stage(
                actor=request.user,
                customer=customer,
                to_stage=form.cleaned_data["to_stage"],
                lost_reason=form.cleaned_data["lost_reason"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request,
                _("%(name)s is now at the stage “%(stage)s”.")
                % {"name": customer.name, "stage": customer.get_stage_display()},
            )
            return redirect("customers:customer-detail", pk=customer.pk)
    return _action_page(
        request,
        customer,
        form,
        title=_("Change the stage"),
        icon="flag",
        intro=_("Current stage: %(stage)s.") % {"stage": customer.get_stage_display()},
        blocked=_("No further stage can be set by hand from here.") if not form.fields["to_stage"].choices else "",
        submit_label=_("Change the stage"),
    )


@login_required
@permission_required(TRANSFER, raise_exception=True)
def customer_transfer(request, pk: int):
    customer = _customer(request, pk)
    form = TransferForm(posted(request), viewer=request.user, customer=customer)
    if request.method == "POST" and form.is_valid():
        try:
            customer = ownership.customer_transfer(
                actor=request.user,
                customer=customer,
                to_owner=form.cleaned_data["to_owner"],
                reason=form.cleaned_data["reason"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request,
                _("%(name)s was transferred to %(owner)s.") % {"name": customer.name, "owner": customer.owner},
            )
            return _back_to(request, customer)
    return _action_page(
        request,
        customer,
        form,
        title=_("Transfer the customer"),
        icon="arrow-left-right",
        intro=_("Current owner: %(owner)s. The new owner gets a fresh protection period; both are notified.")
        % {"owner": customer.owner or _("Public pool")},
        submit_label=_("Transfer"),
    )


@login_required
@permission_required(CHANGE, raise_exception=True)
def customer_release(request, pk: int):
    customer = _customer(request, pk)
    form = ReasonForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            customer = ownership.pool_release(actor=request.user, customer=customer, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("%(name)s was released to the public pool.") % {"name": customer.name})
            return _back_to(request, customer)
    return _action_page(
        request,
        customer,
        form,
        title=_("Release to the public pool"),
        icon="box-arrow-up",
        warning=_("Any agent of the branch can then claim this customer; you will no longer own them."),
        blocked=_("This customer is already in the public pool.") if customer.in_pool else "",
        submit_label=_("Release"),
        submit_style="danger",
    )


# --- needs ------------------------------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def customer_needs(request, pk: int):
    customer = _customer(request, pk)
    needs = CustomerNeeds.objects.filter(customer=customer).first()
    form = NeedsForm(posted(request), instance=needs)
    if request.method == "POST" and form.is_valid():
        try:
            services.needs_update(actor=request.user, customer=customer, **form.values())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The needs of %(name)s were saved.") % {"name": customer.name})
            return redirect("customers:customer-detail", pk=customer.pk)
    revisions = [
        (revision, needs_changes(revision))
        for revision in customer.needs_revisions.select_related("changed_by").order_by("-changed_at")[:REVISIONS_SHOWN]
    ]
    return render(
        request,
        "customers/customer_needs.html",
        {
            "customer": customer,
            "form": form,
            "revisions": revisions,
            "list_url": reverse("customers:customer-list"),
        },
    )


# --- consent and the ID number ----------------------------------------------------------------------


@login_required
@permission_required(CHANGE, raise_exception=True)
def consent_record(request, pk: int):
    customer = _customer(request, pk)
    initial = {"kind": request.GET["kind"]} if request.GET.get("kind") in ConsentKind.values else {}
    form = ConsentForm(posted(request), initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            consent = services.consent_record(actor=request.user, customer=customer, **form.cleaned_data)
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The consent “%(kind)s” was recorded.") % {"kind": consent.get_kind_display()})
            return redirect("customers:customer-detail", pk=customer.pk)
    return _action_page(
        request,
        customer,
        form,
        title=_("Record a consent"),
        icon="shield-check",
        intro=_("The consent is recorded with the current privacy-policy version and the time."),
        submit_label=_("Record the consent"),
    )


@login_required
@permission_required(CHANGE, raise_exception=True)
def consent_withdraw(request, pk: int):
    consent = get_scoped_or_404(Consent.objects.select_related("customer"), request.user, pk=pk)
    customer = consent.customer
    form = ReasonForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            services.consent_withdraw(actor=request.user, consent=consent, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The consent “%(kind)s” was withdrawn.") % {"kind": consent.get_kind_display()})
            return redirect("customers:customer-detail", pk=customer.pk)
    warning = ""
    if consent.kind == ConsentKind.ID_NUMBER:
        warning = _("Withdrawing this consent erases the stored ID-card number.")
    return _action_page(
        request,
        customer,
        form,
        title=_("Withdraw the consent “%(kind)s”") % {"kind": consent.get_kind_display()},
        icon="shield-x",
        intro=_("Given on %(date)s (privacy policy v%(version)s) for: %(purpose)s.")
        % {
            "date": timezone.localtime(consent.granted_at).strftime("%Y-%m-%d %H:%M"),
            "version": consent.policy_version,
            "purpose": consent.purpose,
        },
        warning=warning,
        blocked=_("This consent was already withdrawn.") if consent.withdrawn_at else "",
        submit_label=_("Withdraw"),
        submit_style="danger",
    )


@login_required
@permission_required(CHANGE, raise_exception=True)
def customer_id_number(request, pk: int):
    customer = _customer(request, pk)
    has_consent = customer.consents.filter(kind=ConsentKind.ID_NUMBER, withdrawn_at__isnull=True).exists()
    form = IdNumberForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            services.customer_set_id_number(
                actor=request.user, customer=customer, id_number=form.cleaned_data["id_number"]
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The ID-card number of %(name)s was saved.") % {"name": customer.name})
            return redirect("customers:customer-detail", pk=customer.pk)
    consent_url = reverse("customers:consent-record", args=[customer.pk]) + f"?kind={ConsentKind.ID_NUMBER}"
    return _action_page(
        request,
        customer,
        form,
        title=_("ID-card number"),
        icon="person-vcard",
        intro=_("Stored now: %(value)s.") % {"value": customer.id_number_masked} if customer.id_number else "",
        blocked="" if has_consent else _("Record the customer's separate consent before storing an ID-card number."),
        blocked_url=consent_url,
        blocked_link=_("Record the ID-card consent"),
        submit_label=_("Save"),
    )
