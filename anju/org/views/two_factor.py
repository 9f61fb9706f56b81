"""Two-factor sign-in pages: set up an authenticator, enter a code, recovery codes, one's own settings.

The set-up and code pages are reachable while the session still waits for its second factor
(``TwoFactorRequiredMiddleware`` lets them through); everything else is not.
"""

from __future__ import annotations

from base64 import b32encode

import qrcode
import qrcode.image.svg
from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_otp import login as otp_login
from django_otp.plugins.otp_static.models import StaticDevice

from anju.core.errors import ApplicationError
from anju.core.forms import BootstrapFormMixin, apply_error
from anju.core.http import posted

from ..services import two_factor


class CodeForm(BootstrapFormMixin, forms.Form):
    code = forms.CharField(
        label=gettext_lazy("Code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "text", "autofocus": True, "autocapitalize": "off"}
        ),
    )


def _next_url(request) -> str:
    """Where to go after the second factor: the ``next`` the middleware passed, if it is ours."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return target
    return "/"


def _qr_svg(text: str) -> str:
    image = qrcode.make(text, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    # Our own otpauth:// URI rendered by qrcode: no user-supplied markup ends up in the SVG.
    return mark_safe(image.to_string(encoding="unicode"))  # noqa: S308


def _grouped(secret: str) -> str:
    return " ".join(secret[i : i + 4] for i in range(0, len(secret), 4))


@login_required
def two_factor_setup(request):
    """Scan the QR code (or type the key) into an authenticator app, then confirm with its code.

    Someone who already has an authenticator must pass it first: otherwise a stolen password
    alone would be enough to enrol a new phone.
    """
    if two_factor.has_authenticator(request.user) and not two_factor.is_verified(request.user):
        return redirect(f"{reverse('two-factor-verify')}?{urlencode({'next': request.get_full_path()})}")
    if not two_factor.two_factor_required(request.user) and not two_factor.has_authenticator(request.user):
        messages.info(request, _("None of your roles requires two-factor sign-in."))
        return redirect("account-two-factor")
    device = two_factor.enrolment_start(user=request.user)
    form = CodeForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            device, codes = two_factor.enrolment_confirm(user=request.user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            otp_login(request, device)
            return render(
                request,
                "registration/two_factor_codes.html",
                {"codes": codes, "next": _next_url(request), "first_time": True, "public_layout": True},
            )
    context = {
        "form": form,
        "qr_svg": _qr_svg(device.config_url),
        "secret": _grouped(b32encode(device.bin_key).decode()),
        "next": _next_url(request),
        "replacing": two_factor.has_authenticator(request.user),
        "public_layout": True,
    }
    return render(request, "registration/two_factor_setup.html", context)


@login_required
def two_factor_verify(request):
    """The second step of signing in: a code from the authenticator app, or a recovery code."""
    if two_factor.is_verified(request.user):
        return redirect(_next_url(request))
    if not two_factor.has_authenticator(request.user) and not two_factor.recovery_codes_left(request.user):
        return redirect(f"{reverse('two-factor-setup')}?{urlencode({'next': _next_url(request)})}")
    form = CodeForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            device = two_factor.verify(user=request.user, code=form.cleaned_data["code"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            otp_login(request, device)
            left = two_factor.recovery_codes_left(request.user)
            if isinstance(device, StaticDevice):
                messages.warning(
                    request,
                    _("You signed in with a recovery code; %(left)s are left. Make new ones on your account page.")
                    % {"left": left},
                )
            return redirect(_next_url(request))
    context = {"form": form, "next": _next_url(request), "public_layout": True}
    return render(request, "registration/two_factor_verify.html", context)


@login_required
def account_two_factor(request):
    """One's own two-factor settings: status, new recovery codes, set up a new phone, turn off."""
    context = {
        "enrolled": two_factor.has_authenticator(request.user),
        "codes_left": two_factor.recovery_codes_left(request.user),
        "required": two_factor.two_factor_required(request.user),
        "verified": two_factor.is_verified(request.user),
    }
    return render(request, "org/account_two_factor.html", context)


@login_required
@require_POST
def account_recovery_codes(request):
    try:
        codes = two_factor.recovery_codes_regenerate(user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
        return redirect("account-two-factor")
    return render(
        request,
        "registration/two_factor_codes.html",
        {"codes": codes, "next": reverse("account-two-factor"), "first_time": False, "public_layout": True},
    )


@login_required
@require_POST
def account_two_factor_disable(request):
    try:
        two_factor.two_factor_disable(user=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, _("Two-factor sign-in is off. Your authenticator and recovery codes were removed."))
    return redirect("account-two-factor")
