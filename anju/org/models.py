"""Company, branches (a tree), teams, users and roles (R1.1.1–R1.1.3)."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Permission, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from anju.core.crypto import EncryptedTextField
from anju.core.masking import mask_phone
from anju.core.scoping import HomeBranch, RoleScope, Scope, ScopedQuerySet

from .choices import BranchKind, RoleCode, UserStatus


class Company(models.Model):
    name = models.CharField(_("name"), max_length=100, unique=True)
    short_name = models.CharField(_("short name"), max_length=30, blank=True)
    credit_code = models.CharField(_("unified social credit code"), max_length=18, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("company")
        verbose_name_plural = _("companies")

    def __str__(self) -> str:
        return self.short_name or self.name


class Branch(models.Model):
    """A node of the company's tree: region → sales office / store.

    ``path`` is a materialised path (``/1/4/``) so "this branch and everything below it" is
    one indexed prefix query.
    """

    company = models.ForeignKey(Company, verbose_name=_("company"), on_delete=models.PROTECT, related_name="branches")
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent branch"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    name = models.CharField(_("name"), max_length=100)
    code = models.CharField(
        _("code"),
        max_length=20,
        unique=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$", _("Use letters, digits, '-' or '_' only."))],
    )
    kind = models.CharField(_("kind"), max_length=20, choices=BranchKind.choices)
    address = models.CharField(_("address"), max_length=255, blank=True)
    path = models.CharField(max_length=255, editable=False, db_index=True)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"branch": ""}
    # The reception desk of a sales office is open to its own staff and to whoever's scope covers it.
    scope_actions = {"view": RoleScope(), "desk": HomeBranch(subtree=False, widen=True)}

    class Meta:
        verbose_name = _("branch")
        verbose_name_plural = _("branches")
        ordering = ["path"]
        constraints = [
            models.UniqueConstraint(fields=["company", "parent", "name"], name="branch_unique_name_under_parent"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 2 if self.path else 0


class Team(models.Model):
    branch = models.ForeignKey(Branch, verbose_name=_("branch"), on_delete=models.PROTECT, related_name="teams")
    name = models.CharField(_("name"), max_length=100)
    lead = models.ForeignKey(
        "org.User", verbose_name=_("team lead"), null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"team": "pk", "branch": "branch"}

    class Meta:
        verbose_name = _("team")
        verbose_name_plural = _("teams")
        ordering = ["branch__path", "name"]
        constraints = [models.UniqueConstraint(fields=["branch", "name"], name="team_unique_name_in_branch")]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A set of permissions plus a data scope; a user may hold several roles."""

    code = models.CharField(
        _("code"),
        max_length=40,
        unique=True,
        validators=[RegexValidator(r"^[a-z][a-z0-9_]*$", _("Use lower-case letters, digits and '_' only."))],
    )
    name = models.CharField(_("name"), max_length=60)
    description = models.TextField(_("description"), blank=True)
    data_scope = models.CharField(_("data scope"), max_length=10, choices=Scope.choices, default=Scope.OWN)
    permissions = models.ManyToManyField(Permission, verbose_name=_("permissions"), blank=True, related_name="+")
    is_system = models.BooleanField(_("built-in"), default=False, help_text=_("Built-in roles cannot be deleted."))
    requires_two_factor = models.BooleanField(
        _("requires two-factor sign-in"),
        default=False,
        help_text=_(
            "Holders must enter a code from an authenticator app (or a one-time recovery code) after their "
            "password before they can open any page."
        ),
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("role")
        verbose_name_plural = _("roles")
        ordering = ["pk"]
        permissions = [("manage_roles", _("Can manage roles and their permissions"))]

    def __str__(self) -> str:
        # Built-in roles store their English label, which the catalogue translates;
        # names typed by administrators have no catalogue entry and show as typed.
        return gettext(self.name)


class AnjuUserManager(UserManager.from_queryset(ScopedQuerySet)):
    pass


phone_validator = RegexValidator(r"^1[3-9]\d{9}$", _("Enter a mainland mobile number: 11 digits starting with 1."))


class User(AbstractUser):
    """An employee. ``phone`` is encrypted at rest; ``phone_index`` is its blind index."""

    employee_no = models.CharField(
        _("employee number"),
        max_length=20,
        unique=True,
        null=True,
        blank=True,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]+$", _("Use letters, digits, '-' or '_' only."))],
    )
    display_name = models.CharField(_("display name"), max_length=50)
    phone = EncryptedTextField(_("mobile phone"), blank=True, validators=[phone_validator])
    phone_index = models.CharField(max_length=64, blank=True, db_index=True, editable=False)
    position = models.CharField(_("position"), max_length=50, blank=True)
    branch = models.ForeignKey(
        Branch, verbose_name=_("branch"), null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    team = models.ForeignKey(
        Team, verbose_name=_("team"), null=True, blank=True, on_delete=models.PROTECT, related_name="members"
    )
    status = models.CharField(_("status"), max_length=10, choices=UserStatus.choices, default=UserStatus.ACTIVE)
    hire_date = models.DateField(_("hire date"), null=True, blank=True)
    roles = models.ManyToManyField(Role, verbose_name=_("roles"), blank=True, related_name="users")

    objects = AnjuUserManager()
    scope_paths = {"owner": "pk", "team": "team", "branch": "branch"}

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["username"]
        indexes = [
            models.Index(fields=["branch", "status", "username"], name="user_branch_status"),
            models.Index(fields=["team", "status", "username"], name="user_team_status"),
        ]
        permissions = [
            ("manage_users", _("Can manage users, branches and teams")),
            ("unlock_login", _("Can unlock locked-out logins")),
        ]

    def __str__(self) -> str:
        return self.display_name or self.username

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)

    def role_codes(self) -> set[str]:
        cached = getattr(self, "_anju_role_codes", None)
        if cached is None:
            cached = set(self.roles.values_list("code", flat=True))
            self._anju_role_codes = cached
        return cached

    def has_role(self, code: RoleCode | str) -> bool:
        return str(code) in self.role_codes()


class UserSession(models.Model):
    """Which session keys belong to a user, so suspension can end them at once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    session_key = models.CharField(max_length=40, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"session of user {self.user_id}"


class ApiToken(models.Model):
    """A personal access token; only its SHA-256 is stored, the secret is shown once."""

    user = models.ForeignKey(User, verbose_name=_("user"), on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(_("name"), max_length=60)
    prefix = models.CharField(_("prefix"), max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    # Issued after a second factor (an authenticator code at the API exchange, or from a web session
    # that passed it): once a role of the user requires two-factor sign-in, only such tokens work.
    issued_with_two_factor = models.BooleanField(_("issued with two-factor sign-in"), default=False)

    class Meta:
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
