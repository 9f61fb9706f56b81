"""The branch public pool (公海, R6.1.1): lapsed and released customers an agent may claim.

Pool customers have no owner or team, so ``Customer.objects.visible_to`` would hide them
from agents. The pool therefore has its own, documented rule (docs/decisions.md): the pool
of one's own branch and the branches below it is open to that branch's sales staff
(``customers.add_customer``), always masked; a manager or administrator also sees the pools
of every branch in their data scope (``Branch.objects.visible_to``). Claiming goes through
``services.ownership.pool_claim``, which checks branch, cap and first-claim-wins again.
"""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.paginator import Paginator
from django.db.models import OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, NullIf
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.forms import BootstrapFormMixin
from anju.core.masking import normalise_phone
from anju.core.scoping import Scope, scope_of
from anju.org.models import Branch, User

from ..choices import OwnershipChangeKind, Source, ValueTier
from ..models import Customer, OwnershipChange
from ..rules import MOBILE, phone_index, settings_for
from ..search import name_search_q
from ..services.ownership import holding_count, pool_claim

PERMISSION = "customers.add_customer"
PAGE_SIZE = 50


class PoolFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=gettext_lazy("Search"),
        required=False,
        max_length=50,
        widget=forms.TextInput(
            attrs={"placeholder": gettext_lazy("Name, last four digits or full mobile"), "type": "search"}
        ),
    )
    source = forms.ChoiceField(
        label=gettext_lazy("Source channel"),
        required=False,
        choices=[("", gettext_lazy("All sources")), *Source.choices],
    )
    tier = forms.ChoiceField(
        label=gettext_lazy("Value tier"), required=False, choices=[("", gettext_lazy("All tiers")), *ValueTier.choices]
    )

    def filters(self) -> dict:
        """Cleaned filter values; invalid fields are ignored rather than failing the page."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "search": (data.get("q") or "").strip(),
            "source": data.get("source") or "",
            "tier": data.get("tier") or "",
        }


def pool_branches(viewer: User) -> QuerySet[Branch] | None:
    """Branches whose pool ``viewer`` may see; ``None`` means every branch (company-wide scope)."""
    if scope_of(viewer) == Scope.ALL:
        return None
    branches = Branch.objects.visible_to(viewer)
    if viewer.branch_id:
        branches = branches | Branch.objects.filter(path__startswith=viewer.branch.path)
    return branches


def _in_pool_scope(queryset: QuerySet[Customer], viewer: User) -> QuerySet[Customer]:
    branches = pool_branches(viewer)
    if branches is None:
        return queryset
    return queryset.filter(branch__in=branches.values("pk"))


def pool_list_for(viewer: User, *, search: str = "", source: str = "", tier: str = "") -> QuerySet[Customer]:
    """Pool customers ``viewer`` may see and claim, newest in the pool first, with the former owner."""
    former_owner = (
        OwnershipChange.objects.filter(
            customer=OuterRef("pk"), kind__in=[OwnershipChangeKind.LAPSED, OwnershipChangeKind.RELEASED]
        )
        .order_by("-changed_at", "-pk")
        .annotate(name=Coalesce(NullIf("from_owner__display_name", Value("")), "from_owner__username"))
        .values("name")[:1]
    )
    queryset = _in_pool_scope(Customer.objects.filter(in_pool=True), viewer)
    if search:
        digits = normalise_phone(search)
        if MOBILE.match(digits):
            queryset = queryset.filter(phone_index=phone_index(digits))
        elif len(digits) == 4 and digits == search:
            queryset = queryset.filter(phone_last4=digits)
        else:
            queryset = queryset.filter(name_search_q(search))  # the name grams, like the list
    if source:
        queryset = queryset.filter(source=source)
    if tier:
        queryset = queryset.filter(value_tier=tier)
    return (
        queryset.select_related("branch")
        .defer("id_number", "household_notes")  # never shown here: no need to decrypt or load them
        .annotate(former_owner_name=Subquery(former_owner))
        .order_by("-pool_since", "-pk")
    )


def _claimable_or_404(viewer: User, pk: int) -> Customer:
    """A customer in (or claimed from) a pool the viewer sees; anything else is "not found".

    Customers already claimed stay reachable so the loser of a race gets "already claimed"
    rather than a bare 404; customers that were never in a pool are not revealed.
    """
    queryset = _in_pool_scope(
        Customer.objects.filter(Q(in_pool=True) | Q(acquired_via=OwnershipChangeKind.CLAIMED)), viewer
    )
    return get_object_or_404(queryset, pk=pk)


def _wants_partial(request) -> bool:
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.history_restore_request


@login_required
@permission_required(PERMISSION, raise_exception=True)
def pool_list(request):
    viewer = request.user
    form = PoolFilterForm(request.GET or None)
    page = Paginator(pool_list_for(viewer, **form.filters()), PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"form": form, "page_obj": page, "holding": None, "cap": None}
    if viewer.branch_id:
        context["holding"] = holding_count(viewer)
        context["cap"] = settings_for(viewer.branch).pool_claim_cap
    template = "customers/partials/_pool_rows.html" if _wants_partial(request) else "customers/pool_list.html"
    response = render(request, template, context)
    response["Vary"] = "HX-Request"
    return response


@login_required
@permission_required(PERMISSION, raise_exception=True)
@require_POST
def pool_claim_view(request, pk: int):
    customer = _claimable_or_404(request.user, pk)
    try:
        customer = pool_claim(actor=request.user, customer=customer)
    except ApplicationError as exc:
        messages.error(request, str(exc.message))
        return redirect("customers:pool-list")
    messages.success(request, _("You now follow %(name)s.") % {"name": customer.name})
    return redirect("customers:customer-detail", pk=customer.pk)


urlpatterns = [
    path("pool/", pool_list, name="pool-list"),
    path("pool/<int:pk>/claim/", pool_claim_view, name="pool-claim"),
]
