"""In-app notifications: written inside the caller's transaction, read on the inbox page."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from .models import Notification


def notify(*, user, title: str, body: str = "", url: str = "") -> Notification:
    """Send ``user`` a notification (no audit event: the business event that caused it has one)."""
    return Notification.objects.create(user=user, title=title[:120], body=body, url=url[:300])


@transaction.atomic
def notifications_mark_read(*, user, ids: list[int] | None = None) -> int:
    """Mark the user's own notifications read (all unread ones when ``ids`` is None)."""
    queryset = Notification.objects.filter(user=user, read_at__isnull=True)
    if ids is not None:
        queryset = queryset.filter(pk__in=ids)
    return queryset.update(read_at=timezone.now())
