"""The branch rules page: protection period, public-pool cap, reception time limit, follow-up plans."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db import transaction
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error
from anju.core.http import posted
from anju.core.scoping import get_scoped_or_404
from anju.org.models import Branch

from ..forms.settings import BranchSettingsForm, FollowUpRuleFormSet, rule_initial, rules_from
from ..rules import settings_for
from ..services import followups as followup_services

SETTINGS = "customers.manage_customer_settings"


def _plans(request, branch: Branch) -> list[dict]:
    plans = []
    for plan in followup_services.PLANS_IN_USE:
        rules = followup_services.rules_for(branch, plan.value)
        saved = bool(rules) and rules[0].pk is not None
        formset = FollowUpRuleFormSet(posted(request), prefix=plan.value, initial=rule_initial(rules))
        plans.append({"plan": plan, "formset": formset, "uses_defaults": bool(rules) and not saved})
    return plans


@login_required
@permission_required(SETTINGS, raise_exception=True)
def branch_settings(request, branch_id: int):
    branch = get_scoped_or_404(Branch.objects.select_related("company"), request.user, pk=branch_id)
    current = settings_for(branch)
    form = BranchSettingsForm(
        posted(request),
        initial={
            "protection_days": current.protection_days,
            "pool_claim_cap": current.pool_claim_cap,
            "reception_sla_minutes": current.reception_sla_minutes,
        },
    )
    plans = _plans(request, branch)
    if request.method == "POST" and form.is_valid() and all(entry["formset"].is_valid() for entry in plans):
        failed = None
        try:
            # One save: the numbers and every plan change together or not at all.
            with transaction.atomic():
                followup_services.branch_settings_save(actor=request.user, branch=branch, **form.cleaned_data)
                for entry in plans:
                    failed = entry
                    followup_services.followup_rules_save(
                        actor=request.user, branch=branch, plan=entry["plan"].value, rules=rules_from(entry["formset"])
                    )
                failed = None
        except ApplicationError as exc:
            if failed is None:
                apply_error(form, exc)
            else:
                formset = failed["formset"]
                formset._non_form_errors = formset.error_class([str(exc.message)])
        else:
            messages.success(request, _("The rules of %(branch)s were saved.") % {"branch": branch})
            return redirect("customers:branch-settings", branch_id=branch.pk)
    others = Branch.objects.visible_to(request.user).filter(is_active=True).order_by("path")[:50]
    context = {"branch": branch, "form": form, "plans": plans, "branches": others}
    return render(request, "customers/settings/branch.html", context)
