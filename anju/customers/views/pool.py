"""The branch public pool (公海, R6.1.1): lapsed and released customers an agent may claim.

Pool customers have no owner or team, so the scope policy gives ``Customer`` a ``pool`` action:
the pool of one's own branch and the branches below it, for that branch's sales staff
(``customers.add_customer``), always masked; a company-wide role sees every pool. Claiming goes
through ``services.ownership.pool_claim``, which checks the ``claim`` reach, the cap and
first-claim-wins again.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from anju.core import private_search
from anju.core.errors import ApplicationError
from anju.core.http import page_of, wants_partial
from anju.core.scoping import get_scoped_or_404
from anju.org.models import User

from ..forms.pool import PoolFilterForm
from ..models import Customer
from ..rules import settings_for
from ..selectors import claimable_customers, pool_list_for
from ..services.ownership import holding_count, pool_claim

PERMISSION = "customers.add_customer"


def _claimable_or_404(viewer: User, pk: int) -> Customer:
    return get_scoped_or_404(claimable_customers(viewer), viewer, "pool", pk=pk)


@login_required
@permission_required(PERMISSION, raise_exception=True)
def pool_list(request):
    """The pool; its search takes full mobile numbers, so the form posts and a number travels as a
    session token, never in the URL (issue #9 defect 2, ``anju.core.private_search``)."""
    if request.method == "POST":
        return private_search.results_response(request, "customers:pool-list")
    if (cleaned := private_search.redirect_if_private(request)) is not None:
        return cleaned
    viewer = request.user
    data, expired = private_search.resolved_query(request)
    form = PoolFilterForm(data or None)
    customers = pool_list_for(viewer, **form.filters())
    page = page_of(request, customers.none() if expired else customers)
    context = {"form": form, "page_obj": page, "holding": None, "cap": None, "search_expired": expired}
    if viewer.branch_id:
        context["holding"] = holding_count(viewer)
        context["cap"] = settings_for(viewer.branch).pool_claim_cap
    template = "customers/partials/_pool_rows.html" if wants_partial(request) else "customers/pool_list.html"
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
