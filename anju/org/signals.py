"""Login, logout and failed logins go to the audit trail; sessions are remembered per user."""

from __future__ import annotations

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from anju.core import audit
from anju.core.tasks import sessions_cleared

from .models import UserSession


def remember_session(request, user) -> None:
    """Track the request's session key for ``user`` so suspension can end it (also after a key change)."""
    if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
        UserSession.objects.get_or_create(session_key=request.session.session_key, defaults={"user": user})


@receiver(user_logged_in)
def on_login(sender, request, user, **kwargs):
    remember_session(request, user)
    audit.record(actor=user, action="auth.login", target=user)


@receiver(user_logged_out)
def on_logout(sender, request, user, **kwargs):
    # Sent before the session is flushed, so its key still names the row to forget.
    if request is not None and getattr(request, "session", None) is not None and request.session.session_key:
        UserSession.objects.filter(session_key=request.session.session_key).delete()
    if user is not None:
        audit.record(actor=user, action="auth.logout", target=user)


@receiver(user_login_failed)
def on_login_failed(sender, credentials, request=None, **kwargs):
    username = str(credentials.get("username", ""))[:150]
    audit.record(actor=None, actor_name=username, action="auth.login_failed", after={"username": username})


@receiver(sessions_cleared)
def forget_ended_sessions(sender, **kwargs) -> dict[str, int]:
    """The per-user records of sessions that no longer exist."""
    from django.contrib.sessions.models import Session

    orphans, _ = UserSession.objects.exclude(session_key__in=Session.objects.values("session_key")).delete()
    return {"user_sessions": orphans}
