"""Login, logout, password change and personal API tokens."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import update_session_auth_hash
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
from ..services import users
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


@login_required
def password_change(request):
    form = PasswordChangeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = users.password_change(
                user=request.user,
                old_password=form.cleaned_data["old_password"],
                new_password=form.cleaned_data["new_password"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
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
            _token, new_secret = auth_services.token_create(actor=request.user, name=form.cleaned_data["name"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            form = TokenForm()
    tokens = ApiToken.objects.filter(user=request.user).order_by("-created_at")
    return render(request, "org/account_tokens.html", {"form": form, "tokens": tokens, "new_secret": new_secret})


@login_required
@require_POST
def account_token_revoke(request, pk: int):
    token = get_object_or_404(ApiToken, pk=pk, user=request.user)
    auth_services.token_revoke(actor=request.user, token=token)
    messages.success(request, _("The token “%(name)s” was revoked.") % {"name": token.name})
    return redirect("account-tokens")
