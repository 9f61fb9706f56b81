"""Keep a signed-in user whose role requires two-factor sign-in at the code page until they pass it."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.http import urlencode

from .services.two_factor import has_authenticator, is_verified, recovery_codes_left, two_factor_required

# Reachable before the second factor: the two-factor pages themselves, logging out, switching
# the language, static files, and the API (which refuses such a session on its own, see
# anju.core.api.Session).
OPEN_URL_NAMES = ("two-factor-setup", "two-factor-verify", "logout", "set_language")
OPEN_PREFIXES = ("/static/", "/api/", "/i18n/")


class TwoFactorRequiredMiddleware:
    """After django-otp's OTPMiddleware (it sets ``request.user.is_verified``) and django-htmx."""

    def __init__(self, get_response):
        self.get_response = get_response
        self._open_paths: set[str] | None = None

    def _is_open(self, path: str) -> bool:
        if self._open_paths is None:
            self._open_paths = {reverse(name) for name in OPEN_URL_NAMES}
        return path in self._open_paths or path.startswith(OPEN_PREFIXES)

    def __call__(self, request):
        user = getattr(request, "user", None)
        if (
            user is not None
            and user.is_authenticated
            and not is_verified(user)
            and not self._is_open(request.path)
            and two_factor_required(user)
        ):
            enrolled = has_authenticator(user) or recovery_codes_left(user) > 0
            target = reverse("two-factor-verify" if enrolled else "two-factor-setup")
            url = f"{target}?{urlencode({'next': request.get_full_path()})}"
            if getattr(request, "htmx", False):
                # An HTMX swap would put the code page inside the current page: load it whole.
                return HttpResponse(status=204, headers={"HX-Redirect": url})
            return redirect(url)
        return self.get_response(request)
