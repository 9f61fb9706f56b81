"""Users: list (filter, page, CSV), detail with history, and the administrators' actions."""

from __future__ import annotations

from dataclasses import dataclass

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from anju.core.errors import ApplicationError
from anju.core.exports import export_file
from anju.core.forms import BootstrapFormMixin, apply_error
from anju.core.http import page_of, posted, wants_partial
from anju.core.models import AuditEvent
from anju.core.scoping import get_scoped_or_404

from .. import selectors
from ..choices import USER_STATUS_TRANSITIONS, UserStatus
from ..forms import UserCreateForm, UserEditForm, UserFilterForm, UserPasswordForm, UserRolesForm, UserStatusForm
from ..models import ApiToken, User, UserSession
from ..services import two_factor
from ..services import users as services

VIEW = "org.view_user"
MANAGE = services.MANAGE_USERS
RECENT_EVENTS = 20


@dataclass(frozen=True)
class StatusAction:
    status: str
    label: str | Promise
    icon: str
    style: str
    warning: str | Promise


STATUS_ACTIONS = [
    StatusAction(
        UserStatus.SUSPENDED,
        gettext_lazy("Suspend"),
        "pause-circle",
        "outline-warning",
        gettext_lazy("Suspending ends this user's sessions and API tokens at once."),
    ),
    StatusAction(
        UserStatus.ACTIVE,
        gettext_lazy("Reactivate"),
        "play-circle",
        "outline-success",
        gettext_lazy("The user can log in again; their API tokens stay revoked."),
    ),
    StatusAction(
        UserStatus.LEFT,
        gettext_lazy("Mark as left"),
        "box-arrow-right",
        "outline-danger",
        gettext_lazy("A user who left cannot be reactivated. Their sessions and API tokens end at once."),
    ),
]


def _in_scope(request, pk: int) -> User:
    return get_scoped_or_404(User.objects.select_related("branch", "team"), request.user, pk=pk)


@login_required
@permission_required(VIEW, raise_exception=True)
def user_list(request):
    form = UserFilterForm(request.GET or None, viewer=request.user)
    page = page_of(request, selectors.user_list_for(request.user, **form.selector_filters()))
    template = "org/partials/_user_rows.html" if wants_partial(request) else "org/user_list.html"
    return render(request, template, {"form": form, "page_obj": page})


@login_required
@permission_required(VIEW, raise_exception=True)
def user_export(request):
    form = UserFilterForm(request.GET or None, viewer=request.user)
    filters = form.selector_filters()
    users = selectors.user_list_for(request.user, **filters)
    header = [
        _("Username"),
        _("Display name"),
        _("Employee number"),
        _("Branch"),
        _("Team"),
        _("Position"),
        _("Mobile phone"),
        _("Email"),
        _("Status"),
        _("Roles"),
        _("Hire date"),
        _("Last login"),
    ]

    def rows(users):
        for user in users.iterator(chunk_size=500):
            yield [
                user.username,
                user.display_name,
                user.employee_no or "",
                user.branch or "",
                user.team or "",
                user.position,
                user.phone_masked,
                user.email,
                user.get_status_display(),
                "; ".join(str(role) for role in user.roles.all()),
                user.hire_date.isoformat() if user.hire_date else "",
                timezone.localtime(user.last_login).strftime("%Y-%m-%d %H:%M") if user.last_login else "",
            ]

    return export_file(
        actor=request.user,
        action="org.user.exported",
        queryset=users,
        header=header,
        rows=rows,
        name="users",
        filters={key: value for key, value in filters.items() if value},
    )


@login_required
@permission_required(VIEW, raise_exception=True)
def user_detail(request, pk: int):
    user = _in_scope(request, pk)
    actor = request.user
    context = {
        "subject": user,
        "roles": user.roles.order_by("pk"),
        "can_manage": actor.has_perm(MANAGE),
        "can_browse_audit": actor.has_perm("core.browse_audit"),
    }
    if context["can_manage"]:
        allowed = USER_STATUS_TRANSITIONS[UserStatus(user.status)] if user.pk != actor.pk else set()
        context["status_actions"] = [action for action in STATUS_ACTIONS if action.status in allowed]
        context["active_tokens"] = ApiToken.objects.filter(
            user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
        ).count()
        context["open_sessions"] = UserSession.objects.filter(user=user).count()
        context["two_factor_on"] = two_factor.has_authenticator(user)
        context["two_factor_required"] = two_factor.two_factor_required(user)
    if context["can_browse_audit"]:
        context["events"] = (
            AuditEvent.objects.visible_to(actor)
            .filter(target_type="org.user", target_id=str(user.pk))
            .order_by("-seq")[:RECENT_EVENTS]
        )
    return render(request, "org/user_detail.html", context)


@login_required
@permission_required(MANAGE, raise_exception=True)
def user_create(request):
    form = UserCreateForm(posted(request), viewer=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            user = services.user_create(
                actor=request.user,
                username=data["username"],
                display_name=data["display_name"],
                password=data["password"],
                branch=data["branch"],
                team=data["team"],
                roles=list(data["roles"]),
                employee_no=data["employee_no"],
                phone=data["phone"],
                email=data["email"],
                position=data["position"],
                hire_date=data["hire_date"],
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The user “%(user)s” was created.") % {"user": user})
            return redirect("org:user-detail", pk=user.pk)
    return render(request, "org/user_form.html", {"form": form})


@login_required
@permission_required(MANAGE, raise_exception=True)
def user_edit(request, pk: int):
    user = _in_scope(request, pk)
    form = UserEditForm(posted(request), viewer=request.user, user=user)
    if request.method == "POST" and form.is_valid():
        try:
            services.user_update(actor=request.user, user=user, **form.changes())
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(request, _("The changes to “%(user)s” were saved.") % {"user": user})
            return redirect("org:user-detail", pk=user.pk)
    return render(request, "org/user_form.html", {"form": form, "subject": user})


@login_required
@permission_required(MANAGE, raise_exception=True)
def user_status(request, pk: int):
    """GET shows the confirmation form; only a POST changes the status."""
    user = _in_scope(request, pk)
    form = UserStatusForm(posted(request), user=user, initial={"status": request.GET.get("to", "")})
    if request.method == "POST" and form.is_valid():
        try:
            user = services.user_set_status(
                actor=request.user, user=user, status=form.cleaned_data["status"], reason=form.cleaned_data["reason"]
            )
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request, _("“%(user)s” is now %(status)s.") % {"user": user, "status": user.get_status_display()}
            )
            return redirect("org:user-detail", pk=user.pk)
    return render(request, "org/user_status.html", {"form": form, "subject": user})


@login_required
@permission_required(MANAGE, raise_exception=True)
def user_roles(request, pk: int):
    user = _in_scope(request, pk)
    form = UserRolesForm(posted(request), initial={"roles": list(user.roles.values_list("pk", flat=True))})
    if request.method == "POST" and form.is_valid():
        try:
            services.user_assign_roles(actor=request.user, user=user, roles=list(form.cleaned_data["roles"]))
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request,
                _("The roles of “%(user)s” were updated; they apply from the next page the user opens.")
                % {"user": user},
            )
            return redirect("org:user-detail", pk=user.pk)
    return render(request, "org/user_roles.html", {"form": form, "subject": user})


@login_required
@permission_required(MANAGE, raise_exception=True)
def user_password(request, pk: int):
    user = _in_scope(request, pk)
    if user.pk == request.user.pk:
        # Resetting would end the administrator's own session; the account page keeps it.
        messages.info(request, _("Change your own password here."))
        return redirect("password-change")
    form = UserPasswordForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            services.user_reset_password(actor=request.user, user=user, new_password=form.cleaned_data["new_password"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request,
                _("The password of “%(user)s” was reset; their sessions and API tokens have ended.") % {"user": user},
            )
            return redirect("org:user-detail", pk=user.pk)
    return render(request, "org/user_password.html", {"form": form, "subject": user})


class TwoFactorResetForm(BootstrapFormMixin, forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": gettext_lazy("e.g. phone lost, confirmed by phone call")}),
    )


@login_required
@permission_required(MANAGE, raise_exception=True)
def user_two_factor_reset(request, pk: int):
    """Remove a user's authenticator and recovery codes (lost phone); GET confirms, POST resets."""
    user = _in_scope(request, pk)
    form = TwoFactorResetForm(posted(request))
    if request.method == "POST" and form.is_valid():
        try:
            two_factor.two_factor_reset(actor=request.user, user=user, reason=form.cleaned_data["reason"])
        except ApplicationError as exc:
            apply_error(form, exc)
        else:
            messages.success(
                request,
                _("The two-factor sign-in of “%(user)s” was reset; they set it up again at their next sign-in.")
                % {"user": user},
            )
            return redirect("org:user-detail", pk=user.pk)
    return render(request, "org/user_two_factor_reset.html", {"form": form, "subject": user})
