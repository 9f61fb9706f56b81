"""Org's part of the home page: who the user is there, their account, their people, security."""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db.models import Count, Q
from django.utils import timezone

from anju.core.models import AuditEvent
from anju.core.scoping import scope_of

from .choices import RoleCode, UserStatus
from .models import ApiToken, Branch, Team, User

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


def account_panel(user, now: dt.datetime) -> dict:
    """Every role: the user's scope, place, people in scope and own account activity."""
    staff = User.objects.visible_to(user).aggregate(
        total=Count("pk"),
        active=Count("pk", filter=Q(status=UserStatus.ACTIVE)),
        suspended=Count("pk", filter=Q(status=UserStatus.SUSPENDED)),
    )
    return {
        "scope": scope_of(user),
        "people": {
            "staff": staff,
            "teams": Team.objects.visible_to(user).filter(is_active=True).count(),
            "branches": Branch.objects.visible_to(user).filter(is_active=True).count(),
        },
        "my_logins_7d": AuditEvent.objects.filter(
            actor=user, action="auth.login", occurred_at__gte=now - dt.timedelta(days=7)
        ).count(),
        "my_tokens": ApiToken.objects.filter(user=user, revoked_at__isnull=True, expires_at__gt=now).count(),
        "team": user.team,
        "branch": user.branch,
    }


def security_panel(user, now: dt.datetime) -> dict:
    """Administrators and auditors: today's events, failed logins and current lockouts."""
    from axes.models import AccessAttempt

    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    events = AuditEvent.objects.filter(occurred_at__gte=today).aggregate(
        total=Count("pk"),
        failed_logins=Count("pk", filter=Q(action="auth.login_failed")),
        logins=Count("pk", filter=Q(action="auth.login")),
    )
    # A lockout ends when its cool-off has passed (django-axes then clears the attempt lazily).
    locked = AccessAttempt.objects.filter(
        failures_since_start__gte=settings.AXES_FAILURE_LIMIT,
        attempt_time__gte=now - settings.AXES_COOLOFF_TIME,
    ).count()
    return {"security": {"events": events, "locked": locked}, "recent_events": AuditEvent.objects.order_by("-seq")[:8]}


def members_panel(user, now: dt.datetime) -> dict:
    """Managers and team leads: the active people they lead."""
    members = (
        User.objects.visible_to(user)
        .filter(status=UserStatus.ACTIVE)
        .select_related("team")
        .order_by("team__name", "username")[:20]
    )
    return {"members": members}
