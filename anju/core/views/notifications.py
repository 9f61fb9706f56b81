"""The notifications inbox: the user's own messages, newest first, and "mark all read"."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from anju.core.http import page_of
from anju.core.models import Notification
from anju.core.notifications import notifications_mark_read


def inbox_for(user):
    """The user's own notifications (an inbox is personal whatever the role's scope)."""
    return Notification.objects.visible_to(user).order_by("-created_at", "-pk")


@login_required
def notification_list(request):
    page = page_of(request, inbox_for(request.user))
    for notification in page:
        # Links are written by services (reverse()), but a link that leaves the site is never followed.
        notification.safe_url = (
            notification.url
            if notification.url
            and url_has_allowed_host_and_scheme(notification.url, allowed_hosts={request.get_host()})
            else ""
        )
    return render(request, "core/notifications.html", {"page_obj": page})


@login_required
@require_POST
def notifications_read(request):
    # No "id" at all means "mark all read"; given ids are narrowed to the user's own by the service.
    posted = request.POST.getlist("id")
    ids = [int(value) for value in posted if value.isdigit()] if posted else None
    count = notifications_mark_read(user=request.user, ids=ids)
    messages.success(
        request,
        ngettext("%(count)d notification marked read.", "%(count)d notifications marked read.", count)
        % {"count": count},
    )
    return redirect("notification-list")
