"""Each role lands on its own work page (DESIGN.md UI conventions) with live counts.

The page knows no app: the app that owns roles names the user's home role, and each app adds
its panels for the roles it serves (``anju.core.registry``).
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.utils import timezone

from anju.core.registry import home_context, home_role


@login_required
def home(request):
    user = request.user
    role = home_role(user)
    now = timezone.now()
    context = {"role": role, "now": now, **home_context(user, role, now)}
    return render(request, "home/home.html", context)
