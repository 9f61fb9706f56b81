"""Forms of the organisation pages. They only collect input; the services validate and write."""

from __future__ import annotations

from collections import OrderedDict

from django import forms
from django.apps import apps
from django.contrib.auth.models import Permission
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from anju.core.forms import BootstrapFormMixin, field_label
from anju.core.scoping import Scope, scope_of

from .choices import USER_STATUS_TRANSITIONS, BranchKind, UserStatus
from .models import Branch, Role, Team, User

INDENT = "\u3000"  # an ideographic space: indents tree levels inside a <select>
PASSWORD_HELP = _("At least 10 characters; not a common or all-digit password.")


def _date_input() -> forms.DateInput:
    return forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


class _CheckboxFix:
    """BootstrapFormMixin gives every non-select widget ``form-control``; check boxes need ``form-check-input``."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field.widget, forms.CheckboxSelectMultiple):
                field.widget.attrs["class"] = "form-check-input"


class RoleChoiceField(forms.ModelMultipleChoiceField):
    """Roles as check boxes, each labelled with the data scope it grants."""

    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Role) -> str:
        return f"{obj} · {Scope(obj.data_scope).label}"


class PermissionChoiceField(forms.ModelMultipleChoiceField):
    widget = forms.CheckboxSelectMultiple

    def label_from_instance(self, obj: Permission) -> str:
        return permission_label(obj)


DEFAULT_ACTIONS = {
    "add": _("Can add %(model)s"),
    "change": _("Can change %(model)s"),
    "delete": _("Can delete %(model)s"),
    "view": _("Can view %(model)s"),
}


def permission_label(permission: Permission) -> str:
    """Permission names are stored in English: Django's "Can add <model>" ones are rebuilt from
    the translated model name, custom ones are catalogue msgids translated here."""
    action, _sep, model_name = permission.codename.partition("_")
    model = permission.content_type.model_class()
    if action in DEFAULT_ACTIONS and model is not None and model_name == model._meta.model_name:
        return DEFAULT_ACTIONS[action] % {"model": model._meta.verbose_name}
    return gettext(permission.name)


def visible_branches(viewer: User, *, active_only: bool = True):
    queryset = Branch.objects.visible_to(viewer)
    if active_only:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("path")


def visible_teams(viewer: User, *, active_only: bool = True):
    queryset = Team.objects.visible_to(viewer).select_related("branch")
    if active_only:
        queryset = queryset.filter(is_active=True)
    return queryset.order_by("branch__path", "name")


class TeamChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Team) -> str:
        return f"{obj.branch} / {obj}"


class BranchChoiceField(forms.ModelChoiceField):
    """Branches in tree order, indented by depth so the hierarchy shows inside a select."""

    def label_from_instance(self, obj: Branch) -> str:
        return f"{INDENT * obj.depth}{obj} ({obj.code})"


# --- users ------------------------------------------------------------------------------------


class UserFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("Username, name or employee number"), "type": "search"}),
    )
    branch = BranchChoiceField(
        label=field_label(User, "branch"), queryset=Branch.objects.none(), required=False, empty_label=_("All branches")
    )
    team = TeamChoiceField(
        label=field_label(User, "team"), queryset=Team.objects.none(), required=False, empty_label=_("All teams")
    )
    status = forms.ChoiceField(
        label=field_label(User, "status"), required=False, choices=[("", _("All statuses")), *UserStatus.choices]
    )
    role = forms.ModelChoiceField(
        label=_("Role"), queryset=Role.objects.all(), to_field_name="code", required=False, empty_label=_("All roles")
    )

    def __init__(self, *args, viewer: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].queryset = visible_branches(viewer, active_only=False)
        self.fields["team"].queryset = visible_teams(viewer, active_only=False)

    def selector_filters(self) -> dict:
        """Keyword arguments for ``selectors.user_list_for``; invalid fields are ignored."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            "search": (data.get("q") or "").strip(),
            "branch_id": data["branch"].pk if data.get("branch") else None,
            "team_id": data["team"].pk if data.get("team") else None,
            "status": data.get("status") or "",
            "role": data["role"].code if data.get("role") else "",
        }


class _PasswordPairMixin:
    pair_field = "password"

    def clean(self):
        data = super().clean()
        password = data.get(self.pair_field)
        if password and password != data.get("confirm"):
            self.add_error("confirm", gettext("The two passwords differ."))
        return data


class UserProfileForm(_CheckboxFix, BootstrapFormMixin, forms.Form):
    """The fields an administrator edits on an employee (status and roles have their own pages)."""

    display_name = forms.CharField(label=field_label(User, "display_name"), max_length=50)
    employee_no = forms.CharField(label=field_label(User, "employee_no"), max_length=20, required=False)
    phone = forms.CharField(
        label=field_label(User, "phone"),
        max_length=20,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "off"}),
    )
    email = forms.EmailField(label=field_label(User, "email"), required=False)
    position = forms.CharField(label=field_label(User, "position"), max_length=50, required=False)
    branch = BranchChoiceField(label=field_label(User, "branch"), queryset=Branch.objects.none(), required=False)
    team = TeamChoiceField(label=field_label(User, "team"), queryset=Team.objects.none(), required=False)
    hire_date = forms.DateField(label=field_label(User, "hire_date"), required=False, widget=_date_input())

    def __init__(self, *args, viewer: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].queryset = visible_branches(viewer)
        self.fields["team"].queryset = visible_teams(viewer)
        # Someone out of the viewer's scope cannot be placed anywhere: a branch is required then.
        if scope_of(viewer) != Scope.ALL:
            self.fields["branch"].required = True


class UserCreateForm(_PasswordPairMixin, UserProfileForm):
    username = forms.CharField(
        label=field_label(User, "username"),
        max_length=150,
        help_text=_("Letters, digits and @/./+/-/_ only; used to log in."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "none"}),
    )
    roles = RoleChoiceField(label=_("Roles"), queryset=Role.objects.order_by("pk"), required=False)
    password = forms.CharField(
        label=_("Initial password"),
        help_text=PASSWORD_HELP,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    confirm = forms.CharField(
        label=_("Repeat the password"), strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    field_order = [
        "username",
        "display_name",
        "employee_no",
        "phone",
        "email",
        "position",
        "branch",
        "team",
        "hire_date",
        "roles",
        "password",
        "confirm",
    ]


class UserEditForm(UserProfileForm):
    """Editing never shows the full phone number: an empty field keeps the stored one."""

    def __init__(self, *args, user: User, **kwargs):
        kwargs.setdefault(
            "initial",
            {
                "display_name": user.display_name,
                "employee_no": user.employee_no or "",
                "email": user.email,
                "position": user.position,
                "branch": user.branch_id,
                "team": user.team_id,
                "hire_date": user.hire_date,
            },
        )
        super().__init__(*args, **kwargs)
        # Keep the current placement selectable even if it is inactive now.
        if user.branch_id:
            self.fields["branch"].queryset = (
                self.fields["branch"].queryset | Branch.objects.filter(pk=user.branch_id)
            ).order_by("path")
        if user.team_id:
            self.fields["team"].queryset = (
                self.fields["team"].queryset | Team.objects.filter(pk=user.team_id)
            ).order_by("branch__path", "name")
        phone = self.fields["phone"]
        if user.phone:
            phone.widget.attrs["placeholder"] = user.phone_masked
            phone.help_text = _("Leave empty to keep the current number.")

    def changes(self) -> dict:
        data = dict(self.cleaned_data)
        if not data.get("phone"):
            data.pop("phone", None)
        return data


class UserStatusForm(BootstrapFormMixin, forms.Form):
    status = forms.ChoiceField(label=_("New status"), choices=UserStatus.choices)
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Recorded in the audit trail."),
    )

    def __init__(self, *args, user: User, **kwargs):
        super().__init__(*args, **kwargs)
        allowed = USER_STATUS_TRANSITIONS[UserStatus(user.status)]
        self.fields["status"].choices = [(value, label) for value, label in UserStatus.choices if value in allowed]


class UserRolesForm(_CheckboxFix, BootstrapFormMixin, forms.Form):
    roles = RoleChoiceField(label=_("Roles"), queryset=Role.objects.order_by("pk"), required=False)


class UserPasswordForm(_PasswordPairMixin, BootstrapFormMixin, forms.Form):
    pair_field = "new_password"

    new_password = forms.CharField(
        label=_("New password"),
        help_text=PASSWORD_HELP,
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    confirm = forms.CharField(
        label=_("Repeat the new password"),
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )


# --- teams ------------------------------------------------------------------------------------


class TeamFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("Team name"), "type": "search"}),
    )
    branch = BranchChoiceField(
        label=field_label(Team, "branch"), queryset=Branch.objects.none(), required=False, empty_label=_("All branches")
    )

    def __init__(self, *args, viewer: User, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["branch"].queryset = visible_branches(viewer, active_only=False)

    def selector_filters(self) -> dict:
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {"search": (data.get("q") or "").strip(), "branch_id": data["branch"].pk if data.get("branch") else None}


class LeadChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:
        return f"{obj} ({obj.username})"


class TeamForm(BootstrapFormMixin, forms.Form):
    branch = BranchChoiceField(label=field_label(Team, "branch"), queryset=Branch.objects.none())
    name = forms.CharField(label=field_label(Team, "name"), max_length=100)
    lead = LeadChoiceField(
        label=field_label(Team, "lead"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("Must work in the team's branch."),
    )
    is_active = forms.BooleanField(label=field_label(Team, "is_active"), required=False, initial=True)

    def __init__(self, *args, viewer: User, team: Team | None = None, **kwargs):
        if team is not None:
            kwargs.setdefault(
                "initial",
                {"branch": team.branch_id, "name": team.name, "lead": team.lead_id, "is_active": team.is_active},
            )
        super().__init__(*args, **kwargs)
        leads = User.objects.visible_to(viewer).filter(status=UserStatus.ACTIVE).select_related("branch")
        if team is None:
            self.fields["branch"].queryset = visible_branches(viewer)
            del self.fields["is_active"]  # a new team is active
        else:
            # A team stays in its branch (move its members instead); show the branch read-only.
            del self.fields["branch"]
            leads = leads.filter(branch=team.branch_id)
            if team.lead_id:
                leads = leads | User.objects.filter(pk=team.lead_id)
        self.fields["lead"].queryset = leads.order_by("username")


# --- branches ---------------------------------------------------------------------------------


class BranchForm(BootstrapFormMixin, forms.Form):
    parent = BranchChoiceField(
        label=field_label(Branch, "parent"),
        queryset=Branch.objects.none(),
        required=False,
        empty_label=_("(top level)"),
    )
    name = forms.CharField(label=field_label(Branch, "name"), max_length=100)
    code = forms.CharField(
        label=field_label(Branch, "code"),
        max_length=20,
        help_text=_("Letters, digits, '-' or '_'; unique in the company."),
    )
    kind = forms.ChoiceField(label=field_label(Branch, "kind"), choices=BranchKind.choices)
    address = forms.CharField(label=field_label(Branch, "address"), max_length=255, required=False)
    is_active = forms.BooleanField(label=field_label(Branch, "is_active"), required=False, initial=True)

    def __init__(self, *args, viewer: User, branch: Branch | None = None, **kwargs):
        if branch is not None:
            kwargs.setdefault(
                "initial",
                {
                    "parent": branch.parent_id,
                    "name": branch.name,
                    "code": branch.code,
                    "kind": branch.kind,
                    "address": branch.address,
                    "is_active": branch.is_active,
                },
            )
        super().__init__(*args, **kwargs)
        parents = visible_branches(viewer)
        if branch is None:
            del self.fields["is_active"]
        else:
            parents = parents.exclude(path__startswith=branch.path)
            if branch.parent_id:
                parents = parents | Branch.objects.filter(pk=branch.parent_id)
        self.fields["parent"].queryset = parents.order_by("path")
        # Only someone who sees the whole company may add or move a branch to the top of the tree.
        if scope_of(viewer) != Scope.ALL and not (branch is not None and branch.parent_id is None):
            self.fields["parent"].required = True


# --- roles ------------------------------------------------------------------------------------


def anju_permissions():
    """Permissions of Anju's own apps (not Django's plumbing), grouped in app order."""
    labels = [config.label for config in apps.get_app_configs() if config.name.startswith("anju.")]
    return (
        Permission.objects.filter(content_type__app_label__in=labels)
        .select_related("content_type")
        .order_by("content_type__app_label", "content_type__model", "codename")
    )


class RoleForm(_CheckboxFix, BootstrapFormMixin, forms.Form):
    code = forms.CharField(
        label=field_label(Role, "code"),
        max_length=40,
        help_text=_("Lower-case letters, digits and '_'; cannot be changed later."),
    )
    name = forms.CharField(label=field_label(Role, "name"), max_length=60)
    description = forms.CharField(
        label=field_label(Role, "description"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    data_scope = forms.ChoiceField(
        label=field_label(Role, "data_scope"),
        choices=Scope.choices,
        help_text=_("Which records holders of this role see."),
    )
    requires_two_factor = forms.BooleanField(
        label=field_label(Role, "requires_two_factor"),
        required=False,
        help_text=Role._meta.get_field("requires_two_factor").help_text,
    )
    permissions = PermissionChoiceField(
        label=field_label(Role, "permissions"), queryset=Permission.objects.none(), required=False
    )

    def __init__(self, *args, role: Role | None = None, **kwargs):
        if role is not None:
            kwargs.setdefault(
                "initial",
                {
                    "code": role.code,
                    "name": role.name,
                    "description": role.description,
                    "data_scope": role.data_scope,
                    "requires_two_factor": role.requires_two_factor,
                    "permissions": [perm.pk for perm in role.permissions.all()],
                },
            )
        super().__init__(*args, **kwargs)
        self.fields["permissions"].queryset = anju_permissions()
        if role is not None:
            self.fields["code"].disabled = True
            self.fields["code"].help_text = ""

    def permission_groups(self) -> list[tuple[str, list]]:
        """The permission check boxes grouped by app: ``[(app name, [bound check box, ...]), ...]``."""
        groups: OrderedDict[str, list] = OrderedDict()
        for checkbox in self["permissions"]:
            permission = checkbox.data["value"].instance
            groups.setdefault(permission.content_type.app_label, []).append(checkbox)
        return [(str(apps.get_app_config(label).verbose_name), boxes) for label, boxes in groups.items()]


# --- login lockouts ---------------------------------------------------------------------------


class LockoutFilterForm(BootstrapFormMixin, forms.Form):
    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("Username or IP address"), "type": "search"}),
    )
    locked = forms.BooleanField(label=_("Locked only"), required=False)


class LockoutUnlockForm(forms.Form):
    username = forms.CharField(label=_("Username"), max_length=255)
    ip_address = forms.GenericIPAddressField(
        label=_("IP address"), required=False, help_text=_("Leave empty to unlock the username from every address.")
    )
