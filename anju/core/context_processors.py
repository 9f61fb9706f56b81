from django.conf import settings
from django.utils.functional import SimpleLazyObject

from .navigation import items_for


def _unread_count(user) -> int:
    from .models import Notification

    return Notification.objects.filter(user=user, read_at__isnull=True).count()


def navigation(request):
    user = getattr(request, "user", None)
    authenticated = user is not None and user.is_authenticated
    return {
        "nav_items": items_for(user) if user is not None else [],
        "session_idle_minutes": settings.SESSION_IDLE_MINUTES,
        # One COUNT on the inbox index, and only when a template shows the bell.
        "unread_notifications": SimpleLazyObject(lambda: _unread_count(user)) if authenticated else 0,
    }
