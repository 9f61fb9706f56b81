"""The customers app's panels on the role home pages: today's work of an agent, a team lead's
and a branch manager's overview, customer service's feedback numbers.

Each function returns the context of one role's panel; counts are aggregates, lists are bounded.
"""

from __future__ import annotations

import datetime as dt

from django.db.models import Count, Q

from .choices import Stage, VisitStatus
from .models import Customer, Feedback, FollowUpTask, Visit
from .rules import settings_for
from .selectors import (
    OPEN,
    day_bounds,
    duration_text,
    feedback_stats,
    my_followups,
    overdue_by_agent,
    tab_counts,
    tab_rows,
    team_overdue,
)

HOME_LIST = 5


def stage_counts(queryset) -> list[dict]:
    """Customers per lifecycle stage in the standard's order, zeros included."""
    counted = dict(queryset.order_by().values_list("stage").annotate(count=Count("pk")))
    return [{"stage": stage, "label": stage.label, "count": counted.get(stage.value, 0)} for stage in Stage]


def agent_home(user, now: dt.datetime) -> dict:
    """Today's work of an agent: follow-ups due today and overdue, own customers by stage, visits today."""
    start, tomorrow = day_bounds(now)
    mine = my_followups(user)
    counts = tab_counts(mine.filter(status=OPEN), now)
    visits_today = Visit.objects.filter(assigned_to=user, arrived_at__gte=start, arrived_at__lt=tomorrow).count()
    return {
        "followups": counts,
        "followups_today": list(tab_rows(mine, "today", now)[:HOME_LIST]),
        "followups_overdue": list(tab_rows(mine, "overdue", now)[:HOME_LIST]),
        "stages": stage_counts(Customer.objects.filter(owner=user, in_pool=False)),
        "visits_today": visits_today,
    }


def lead_home(user, now: dt.datetime) -> dict:
    """A team lead: overdue follow-ups per agent of the team, the team's due today, and their own list."""
    _start, tomorrow = day_bounds(now)
    scoped = FollowUpTask.objects.visible_to(user)
    totals = scoped.aggregate(
        overdue=Count("pk", filter=Q(status=OPEN, due_at__lt=now)),
        today=Count("pk", filter=Q(status=OPEN, due_at__gte=now, due_at__lt=tomorrow)),
    )
    mine = my_followups(user)
    return {
        "team_followups": totals,
        "overdue_by_agent": overdue_by_agent(team_overdue(user, now), limit=20),
        "followups": tab_counts(mine.filter(status=OPEN), now),
        "followups_today": list(tab_rows(mine, "today", now)[:HOME_LIST]),
    }


def manager_home(user, now: dt.datetime) -> dict:
    """A branch manager: customers by stage, visits today, visitors waiting too long, overdue follow-ups."""
    start, tomorrow = day_bounds(now)
    sla = settings_for(user.branch).reception_sla_minutes if user.branch_id else 15
    visits = Visit.objects.visible_to(user).aggregate(
        today=Count("pk", filter=Q(arrived_at__gte=start, arrived_at__lt=tomorrow)),
        waiting_long=Count("pk", filter=Q(status=VisitStatus.WAITING, arrived_at__lt=now - dt.timedelta(minutes=sla))),
    )
    # One row per agent of the branch: the total is their sum, the page shows the ten most overdue.
    by_agent = overdue_by_agent(team_overdue(user, now), limit=10_000)
    return {
        "stages": stage_counts(Customer.objects.visible_to(user).filter(in_pool=False)),
        "visits": visits,
        "reception_sla": sla,
        "branch_overdue": sum(row["count"] for row in by_agent),
        "overdue_by_agent": by_agent[:10],
    }


def cs_home(user, now: dt.datetime) -> dict:
    stats = feedback_stats(Feedback.objects.visible_to(user), now)
    return {"feedback": stats, "feedback_avg_text": duration_text(stats["avg_response"])}
