"""Each role lands on its own work page (DESIGN.md UI conventions) with live counts."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import render
from django.utils import timezone

from anju.core.models import AuditEvent
from anju.core.scoping import scope_of
from anju.customers import selectors_followups as customer_numbers
from anju.listings.models import Listing
from anju.listings.services.stale import stale_count
from anju.org.choices import RoleCode, UserStatus
from anju.org.models import ApiToken, Branch, Team, User

# The first role in this order that the user holds picks their home page.
HOME_ORDER = [
    RoleCode.ADMINISTRATOR,
    RoleCode.AUDITOR,
    RoleCode.BRANCH_MANAGER,
    RoleCode.TEAM_LEAD,
    RoleCode.QA,
    RoleCode.LEGAL,
    RoleCode.FINANCE,
    RoleCode.CUSTOMER_SERVICE,
    RoleCode.SALES_AGENT,
]


def primary_role(user) -> str:
    codes = user.role_codes()
    for code in HOME_ORDER:
        if code in codes:
            return code.value
    return "none"


def _people_counts(user) -> dict:
    staff = User.objects.visible_to(user).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(status=UserStatus.ACTIVE)),
        suspended=Count("pk", filter=Q(status=UserStatus.SUSPENDED)),
    )
    return {
        "staff": staff,
        "teams": Team.objects.visible_to(user).filter(is_active=True).count(),
        "branches": Branch.objects.visible_to(user).filter(is_active=True).count(),
    }


def _security_counts(since) -> dict:
    events = AuditEvent.objects.filter(occurred_at__gte=since).aggregate(
        total=Count("pk"),
        failed_logins=Count("pk", filter=Q(action="auth.login_failed")),
        logins=Count("pk", filter=Q(action="auth.login")),
    )
    from axes.models import AccessAttempt
    from django.conf import settings

    # A lockout ends when its cool-off has passed (django-axes then clears the attempt lazily).
    locked = AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME,
    ).count()
    return {"events": events, "locked": locked}


@login_required
def home(request):
    user = request.user
    role = primary_role(user)
    now = timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    context = {
        "role": role,
        "scope": scope_of(user),
        "people": _people_counts(user),
        "my_logins_7d": AuditEvent.objects.filter(
            actor=user, action="auth.login", occurred_at__gte=now - timedelta(days=7)
        ).count(),
        "my_tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).count(),
        "team": user.team,
        "branch": user.branch,
    }
    if role in {"administrator", "auditor"}:
        context["security"] = _security_counts(today)
        context["recent_events"] = AuditEvent.objects.order_by("-seq")[:8]
    if role in {"branch_manager", "team_lead"}:
        context["members"] = (
            User.objects.visible_to(user)
            .filter(status=UserStatus.ACTIVE)
            .select_related("team")
            .order_by("team__name", "username")[:20]
        )
    # Customer work of the role (aggregates and lists of at most a few rows: bounded queries).
    context["now"] = now
    if role == "sales_agent":
        context.update(customer_numbers.agent_home(user, now))
        context["listings_stale"] = stale_count(Listing.objects.filter(collector=user), now=now)
    elif role == "team_lead":
        context.update(customer_numbers.lead_home(user, now))
    elif role == "branch_manager":
        context.update(customer_numbers.manager_home(user, now))
        context["listings_stale"] = stale_count(Listing.objects.managed_by(user), now=now)
    elif role == "customer_service":
        context.update(customer_numbers.cs_home(user, now))
    return render(request, "home/home.html", context)
