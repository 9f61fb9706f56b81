"""Login lockouts (django-axes): who is locked out, and unlocking them."""

from __future__ import annotations

from axes.models import AccessAttempt
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.db.models import Q
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.http import page_of

from ..forms import LockoutFilterForm, LockoutUnlockForm
from ..services import auth as auth_services

UNLOCK = "org.unlock_login"


@login_required
@permission_required(UNLOCK, raise_exception=True)
def lockout_list(request):
    form = LockoutFilterForm(request.GET or None)
    form.is_valid()
    data = getattr(form, "cleaned_data", {})
    limit = settings.AXES_FAILURE_LIMIT
    attempts = AccessAttempt.objects.order_by("-attempt_time")
    if data.get("q"):
        term = data["q"].strip()
        attempts = attempts.filter(Q(username__icontains=term) | Q(ip_address__startswith=term))
    if data.get("locked"):
        attempts = attempts.filter(failures_since_start__gte=limit)
    page = page_of(
        request, attempts.only("username", "ip_address", "user_agent", "failures_since_start", "attempt_time")
    )
    for attempt in page.object_list:
        attempt.locked = attempt.failures_since_start >= limit
        attempt.locked_until = attempt.attempt_time + settings.AXES_COOLOFF_TIME
    return render(
        request,
        "org/lockout_list.html",
        {
            "form": form,
            "page_obj": page,
            "failure_limit": limit,
        },
    )


@login_required
@permission_required(UNLOCK, raise_exception=True)
@require_POST
def lockout_unlock(request):
    form = LockoutUnlockForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            messages.error(request, errors[0])
    else:
        username = form.cleaned_data["username"].strip()
        ip_address = form.cleaned_data["ip_address"] or None
        try:
            count = auth_services.login_unlock(actor=request.user, username=username, ip_address=ip_address)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            if count:
                messages.success(
                    request,
                    ngettext(
                        "“%(username)s” can log in again (%(count)d failed-login record cleared).",
                        "“%(username)s” can log in again (%(count)d failed-login records cleared).",
                        count,
                    )
                    % {"username": username, "count": count},
                )
            else:
                messages.info(request, _("There was no lockout for “%(username)s”.") % {"username": username})
    back = request.POST.get("next", "")
    if back and url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return redirect(back)
    return redirect("org:lockout-list")
