"""Login, logout, password change and personal API tokens."""

from __future__ import annotations

from axes.handlers.proxy import AxesProxyHandler
from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout, update_session_auth_hash, user_login_failed
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from anju.core.errors import ApplicationError
from anju.core.forms import apply_error

from ..models import ApiToken
from ..services import auth as auth_services
from ..services import two_factor, users
from ..signals import remember_session


class LoginForm(AuthenticationForm):
    error_messages = {
        "invalid_login": gettext_lazy("The username or password is not correct. Note that both are case-sensitive."),
        "inactive": gettext_lazy("This account is suspended. Please contact your administrator."),
    }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["username"].widget.attrs.update({"class": "form-control", "autocomplete": "username"})
        self.fields["password"].widget.attrs.update({"class": "form-control", "autocomplete": "current-password"})


class LoginView(auth_views.LoginView):
    form_class = LoginForm
    redirect_authenticated_user = True


def lockout_response(request, original_response=None, credentials=None, *args, **kwargs):
    """django-axes calls this when a username + IP is locked: show the login page with the reason.

    axes 8 passes ``(request, original_response, credentials)``; the API gets the JSON error shape.
    """
    if request.path.startswith("/api/"):
        from django.http import JsonResponse

        body = {
            "error": {
                "code": "auth.locked_out",
                "fields": {},
                "message": _("Too many failed logins. Try again later or ask an administrator."),
            }
        }
        return JsonResponse(body, status=429)
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = LoginForm(request, data=None, initial={"username": username})
    context = {
        "form": form,
        "locked_out": True,
        "lockout_minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60),
        "next": request.POST.get("next", ""),
    }
    return render(request, "registration/login.html", context, status=429)


class PasswordChangeForm(forms.Form):
    old_password = forms.CharField(
        label=gettext_lazy("Current password"), widget=forms.PasswordInput(attrs={"class": "form-control"})
    )
    new_password = forms.CharField(
        label=gettext_lazy("New password"),
        widget=forms.PasswordInput(attrs={"class": "form-control"}),
        help_text=gettext_lazy("At least 10 characters; not a common or all-digit password."),
    )
    confirm = forms.CharField(
        label=gettext_lazy("Repeat the new password"), widget=forms.PasswordInput(attrs={"class": "form-control"})
    )

    def clean(self):
        data = super().clean()
        if data.get("new_password") and data.get("new_password") != data.get("confirm"):
            self.add_error("confirm", _("The two passwords differ."))
        return data


def _locked_out(request, credentials: dict):
    """End the session and show the login lockout page, as a locked login would (issue #9)."""
    logout(request)
    return lockout_response(request, credentials=credentials)


@login_required
def password_change(request):
    """Change one's own password; wrong current passwords count as failed logins (django-axes, issue #9).

    Otherwise a stolen session could guess the password without limit. The failure goes through
    Django's ``user_login_failed`` with the login's credentials shape, so axes counts it per
    username + IP with the login failures, and a correct one clears the count as a login does.
    """
    form = PasswordChangeForm(request.POST or None)
    credentials = {"username": request.user.get_username()}
    if request.method == "POST" and not AxesProxyHandler.is_allowed(request, credentials):
        return _locked_out(request, credentials)
    if request.method == "POST" and form.is_valid():
        try:
            user = users.password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
                keep_session_key=request.session.session_key,
            )
        except ApplicationError as exc:
            if exc.code == "user.wrong_password":
                user_login_failed.send(sender=__name__, credentials=credentials, request=request)
                if request.axes_locked_out:
                    return _locked_out(request, credentials)
            apply_error(form, exc)
        else:
            if settings.AXES_RESET_ON_SUCCESS:
                AxesProxyHandler.reset_attempts(ip_address=request.axes_ip_address, username=user.get_username())
            update_session_auth_hash(request, user)  # cycles the session key
            remember_session(request, user)
            messages.success(request, _("Your password was changed."))
            return redirect("home")
    return render(request, "org/password_change.html", {"form": form})


class TokenForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Token name"),
        max_length=60,
        widget=forms.TextInput(attrs={"class": "form-control", "placeholder": gettext_lazy("e.g. CRM sync")}),
    )


@login_required
def account_tokens(request):
    form = TokenForm(request.POST or None)
    new_secret = None
    if request.method == "POST" and form.is_valid():
        try:
            _token, new_secret = auth_services.token_create(
                actor=request.user,
                name=form.cleaned_data["name"],
                # The session passed its second factor (the middleware insists for roles that require one).
                with_two_factor=two_factor.is_verified(request.user),
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            form = TokenForm()
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    context = {
        "form": form,
        "tokens": tokens,
        "new_secret": new_secret,
        # Tokens issued with the password alone are refused while a role requires a second factor.
        "needs_two_factor": two_factor.two_factor_required(request.user),
    }
    return render(request, "org/account_tokens.html", context)


@login_required
@require_POST
def account_token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    auth_services.token_revoke(actor=request.user, token=token)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("account-tokens")
