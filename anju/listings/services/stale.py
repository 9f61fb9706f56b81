"""Monthly re-verification (R3.1.2): which listings are stale, the daily flag job and the
per-branch interval.

A listing is stale when it is active (available or reserved) and was last verified before
its branch's interval (``BranchListingSettings.verify_every_days``, default 30 days). The
intervals are read once per request or job (one small query) and turned into plain range
conditions on ``last_verified_at``, so the (collector|branch, last_verified_at) indexes
serve every stale list; nothing is looked up per row.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    Min,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from anju.core import audit
from anju.core.errors import PermissionDeniedError
from anju.core.models import Notification
from anju.core.notifications import notify
from anju.core.scoping import require_in_scope
from anju.core.services import validated_save

from ..choices import ACTIVE_STATUSES
from ..models import BranchListingSettings, Listing

DEFAULT_DAYS = 30
SETTINGS_PERMISSIONS = ("listings.manage_projects", "customers.manage_customer_settings")


# --- reads -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StaleRule:
    """The re-verification intervals of every branch at one moment (``now``)."""

    now: dt.datetime
    days_by_branch: dict[int, int] = field(default_factory=dict)  # only branches that differ from the default

    def days_for(self, branch_id: int) -> int:
        return self.days_by_branch.get(branch_id, DEFAULT_DAYS)

    def due_at(self, listing: Listing) -> dt.datetime:
        """When the listing's next check is (or was) due."""
        return listing.last_verified_at + dt.timedelta(days=self.days_for(listing.branch_id))

    def days_overdue(self, listing: Listing) -> int:
        """Whole days past the due moment (0 for less than a day; negative when not yet due)."""
        return (self.now - self.due_at(listing)).days

    def q(self) -> Q:
        """Active listings verified before their branch's interval, as index-friendly ranges."""
        by_days: dict[int, list[int]] = defaultdict(list)
        for branch_id, days in self.days_by_branch.items():
            by_days[days].append(branch_id)
        default = Q(last_verified_at__lt=self.now - dt.timedelta(days=DEFAULT_DAYS))
        if self.days_by_branch:
            default &= ~Q(branch_id__in=list(self.days_by_branch))
        condition = default
        for days, branch_ids in sorted(by_days.items()):
            condition |= Q(branch_id__in=branch_ids, last_verified_at__lt=self.now - dt.timedelta(days=days))
        return Q(status__in=ACTIVE_STATUSES) & condition


def stale_rule(*, now: dt.datetime | None = None) -> StaleRule:
    """Load the branch intervals that differ from the default (one query)."""
    custom = BranchListingSettings.objects.exclude(verify_every_days=DEFAULT_DAYS).values_list(
        "branch_id", "verify_every_days"
    )
    return StaleRule(now=now or timezone.now(), days_by_branch=dict(custom))


def stale_listings(queryset: QuerySet | None = None, *, rule: StaleRule) -> QuerySet:
    """The stale listings among ``queryset`` (all listings by default), oldest check first."""
    queryset = Listing.objects.all() if queryset is None else queryset
    return queryset.filter(rule.q()).order_by("last_verified_at", "pk")


def stale_count(queryset: QuerySet, *, now: dt.datetime | None = None) -> int:
    """Count stale listings in ONE query (the branch interval is joined in SQL): for home pages."""
    days = Coalesce(F("branch__listing_settings__verify_every_days"), Value(DEFAULT_DAYS), output_field=IntegerField())
    interval = ExpressionWrapper(days * Value(dt.timedelta(days=1)), output_field=DurationField())
    due = ExpressionWrapper(F("last_verified_at") + interval, output_field=DateTimeField())
    return (
        queryset.filter(status__in=ACTIVE_STATUSES)
        .alias(verify_due=due)
        .filter(verify_due__lt=now or timezone.now())
        .count()
    )


def counts_by_collector(stale: QuerySet, *, limit: int = 50) -> list[dict]:
    """Stale listings per collector, most first (one aggregate query)."""
    return list(
        stale.order_by()
        .values("collector", "collector__username", "collector__display_name", "collector__team__name")
        .annotate(count=Count("pk"), oldest=Min("last_verified_at"))
        .order_by("-count", "collector__display_name", "collector")[:limit]
    )


def counts_by_branch(stale: QuerySet, *, limit: int = 50) -> list[dict]:
    """Stale listings per branch, most first (one aggregate query)."""
    return list(
        stale.order_by()
        .values("branch", "branch__name")
        .annotate(count=Count("pk"), oldest=Min("last_verified_at"))
        .order_by("-count", "branch__name", "branch")[:limit]
    )


def queue_url() -> str:
    """Where a collector sees their own stale listings (the notification links here)."""
    return reverse("listings:stale-queue") + "?tab=mine"


# --- writes ------------------------------------------------------------------------------------


def _start_of_local_day(now: dt.datetime) -> dt.datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def flag_stale(*, now: dt.datetime | None = None) -> int:
    """Daily: tell each collector how many of their listings need re-verification; returns the stale total.

    Idempotent per local day and safe on two hosts at once: a collector who already got the
    day's notice (same link, since local midnight) is skipped, re-checked under a lock on
    their user row.
    """
    from anju.org.models import User

    rule = stale_rule(now=now)
    per_collector = dict(
        stale_listings(rule=rule)
        .order_by()
        .values("collector")
        .annotate(count=Count("pk"))
        .values_list("collector", "count")
    )
    total = sum(per_collector.values())
    url = queue_url()
    since = _start_of_local_day(rule.now)
    # Who already has today's notice (through the notification inbox index, in chunks of collectors).
    collectors = sorted(per_collector)
    already: set[int] = set()
    for start in range(0, len(collectors), 500):
        chunk = collectors[start : start + 500]
        already.update(
            Notification.objects.filter(user__in=chunk, url=url, created_at__gte=since).values_list("user", flat=True)
        )
    notified = 0
    for collector_id in collectors:
        count = per_collector[collector_id]
        if collector_id in already:
            continue
        with transaction.atomic():
            user = User.objects.select_for_update().filter(pk=collector_id, is_active=True).first()
            if user is None or Notification.objects.filter(user=user, url=url, created_at__gte=since).exists():
                continue
            title = ngettext(
                "%(count)s listing needs re-verification",
                "%(count)s listings need re-verification",
                count,
            ) % {"count": count}
            body = _(
                "Check each listing with its owner or developer, then confirm it unchanged or update it. "
                "Every active listing must be re-verified at least once per interval."
            )
            notify(user=user, title=title, body=body, url=url)
            notified += 1
    audit.record(
        actor=None,
        actor_name="system",
        action="listings.stale.flagged",
        after={"stale": total, "collectors": len(per_collector), "notified": notified},
    )
    return total


def _require_settings_permission(actor) -> None:
    if actor is None or not getattr(actor, "is_active", False):
        raise PermissionDeniedError("permission_denied", _("You do not have permission to do this."))
    if not any(actor.has_perm(permission) for permission in SETTINGS_PERMISSIONS):
        raise PermissionDeniedError("permission_denied", _("You do not have permission to do this."))


@transaction.atomic
def branch_listing_settings_save(*, actor, branch, verify_every_days: int) -> BranchListingSettings:
    """Change how often every active listing of the branch must be re-verified (1–365 days)."""
    _require_settings_permission(actor)
    require_in_scope(actor, branch)
    found = BranchListingSettings.objects.select_for_update().filter(branch=branch).first()
    current = found or BranchListingSettings(branch=branch)
    before = current.verify_every_days  # the default for a branch that never saved its own
    current.verify_every_days = verify_every_days
    validated_save(current)
    if found is None or before != current.verify_every_days:
        audit.record(
            actor=actor,
            action="listings.settings.saved",
            target=branch,
            before={"verify_every_days": before},
            after={"verify_every_days": current.verify_every_days},
        )
    return current
