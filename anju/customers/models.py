"""Customer files, consent, needs, ownership, reception, communication and follow-ups.

Requirements: R1.4.1, R2.1.1–R2.4.2, R3.1.3, R3.2.1, R5.2.2, R6.1.1. Phone and ID number
are encrypted at rest with blind indexes for exact lookup (DESIGN.md §4).
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from anju.core.choice_labels import ChoiceLabelsMixin
from anju.core.crypto import EncryptedTextField
from anju.core.masking import mask_id_number, mask_phone
from anju.core.scoping import HomeBranch, RoleScope, ScopedQuerySet

from .choices import (
    Channel,
    ConsentKind,
    FeedbackCategory,
    FollowUpOutcome,
    FollowUpStatus,
    Gender,
    OwnershipChangeKind,
    Source,
    Stage,
    ValueTier,
    VisitStatus,
)

USER = settings.AUTH_USER_MODEL
# Records that hang on a customer are scoped through the customer's owner/team/branch.
VIA_CUSTOMER = {"owner": "customer__owner", "team": "customer__team", "branch": "customer__branch"}


class BranchCustomerSettings(models.Model):
    """Per-branch rules: protection period, public-pool cap (R6.1.1)."""

    branch = models.OneToOneField("org.Branch", on_delete=models.CASCADE, related_name="customer_settings")
    protection_days = models.PositiveSmallIntegerField(
        _("protection period (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )
    pool_claim_cap = models.PositiveSmallIntegerField(
        _("public-pool holding cap per agent"), default=20, validators=[MinValueValidator(1)]
    )
    reception_sla_minutes = models.PositiveSmallIntegerField(_("reception within (minutes)"), default=15)

    class Meta:
        verbose_name = _("branch customer settings")
        verbose_name_plural = _("branch customer settings")

    def __str__(self) -> str:
        return f"{self.branch} settings"


class Tag(models.Model):
    name = models.CharField(_("name"), max_length=30, unique=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Customer(ChoiceLabelsMixin, models.Model):
    """The customer file (档案). The registering agent is the first-responder owner."""

    name = models.CharField(_("name"), max_length=50)
    phone = EncryptedTextField(_("mobile phone"))
    phone_index = models.CharField(max_length=64, editable=False)
    # The last four digits alone identify no one; kept in clear so "尾号 1234" searches are fast.
    phone_last4 = models.CharField(max_length=4, editable=False)
    # The name normalised for search (NFKC, lower case, no spaces; anju.core.grams.normalise):
    # what CustomerNameGram is cut from and what confirms terms of three or more characters.
    search_name = models.TextField(blank=True, default="", editable=False)
    id_number = EncryptedTextField(_("ID-card number"), blank=True)
    id_number_index = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    gender = models.CharField(_("gender"), max_length=10, choices=Gender.choices, default=Gender.UNKNOWN)
    source = models.CharField(_("source channel"), max_length=20, choices=Source.choices)
    stage = models.CharField(_("stage"), max_length=20, choices=Stage.choices, default=Stage.LEAD)
    lost_reason = models.CharField(_("reason lost"), max_length=200, blank=True)
    budget_min = models.PositiveIntegerField(_("budget from (10k CNY)"), null=True, blank=True)
    budget_max = models.PositiveIntegerField(_("budget to (10k CNY)"), null=True, blank=True)
    value_tier = models.CharField(_("value tier"), max_length=1, choices=ValueTier.choices, default=ValueTier.C)
    tags = models.ManyToManyField(Tag, verbose_name=_("tags"), blank=True, related_name="customers")
    household_notes = models.TextField(_("household notes"), blank=True)
    owner = models.ForeignKey(
        USER,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,  # covered by the (…, -updated_at) list index
    )
    team = models.ForeignKey(
        "org.Team",
        verbose_name=_("team"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,  # covered by the (…, -updated_at) list index
    )
    branch = models.ForeignKey(
        "org.Branch",
        verbose_name=_("branch"),
        on_delete=models.PROTECT,
        related_name="customers",
        db_index=False,  # covered by the (branch, -updated_at) list index
    )
    acquired_via = models.CharField(
        _("owned through"), max_length=20, choices=OwnershipChangeKind.choices, default=OwnershipChangeKind.REGISTERED
    )
    protected_until = models.DateTimeField(_("protected until"), null=True, blank=True)
    in_pool = models.BooleanField(_("in the public pool"), default=False)
    pool_since = models.DateTimeField(_("in the pool since"), null=True, blank=True)
    last_contact_at = models.DateTimeField(_("last contact"), null=True, blank=True)
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(_("registered at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"owner": "owner", "team": "team", "branch": "branch"}
    scope_actions = {
        "view": RoleScope(),
        # Changing a customer's file follows the same reach as seeing it.
        "manage": RoleScope(),
        # The public pool (R6.1.1): pool customers have no owner or team, so the pool of one's own
        # branch and the branches below it is open to its sales staff; a company-wide role sees
        # every pool. Claiming is limited to one's own branch subtree whatever the role.
        "pool": HomeBranch(subtree=True, widen=True),
        "claim": HomeBranch(subtree=True, widen=False),
    }

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-updated_at"]
        constraints = [
            # One file per phone number: the database refuses the second of two racing registrations.
            models.UniqueConstraint(fields=["phone_index"], name="customer_unique_phone"),
            models.CheckConstraint(
                condition=models.Q(budget_min__isnull=True)
                | models.Q(budget_max__isnull=True)
                | models.Q(budget_min__lte=models.F("budget_max")),
                name="customer_budget_range",
            ),
        ]
        indexes = [
            models.Index(fields=["owner", "-updated_at"], name="customer_owner_recent"),
            models.Index(fields=["team", "-updated_at"], name="customer_team_recent"),
            models.Index(fields=["branch", "-updated_at"], name="customer_branch_recent"),
            models.Index(fields=["branch", "in_pool", "-pool_since"], name="customer_pool"),
            models.Index(fields=["in_pool", "protected_until"], name="customer_protection_due"),
            models.Index(fields=["stage", "-updated_at"], name="customer_stage_recent"),
            # Company-wide lists (admin, QA, auditor) sort every live customer by recency.
            models.Index(fields=["-updated_at", "-id"], condition=models.Q(in_pool=False), name="customer_live_recent"),
            models.Index(fields=["phone_last4"], name="customer_phone_last4"),
        ]
        permissions = [
            ("reveal_customer_contact", _("Can reveal a customer's full phone / ID number (with a reason)")),
            ("transfer_customer", _("Can transfer customer ownership")),
            ("export_customer", _("Can export customer lists")),
            ("manage_customer_settings", _("Can change branch customer rules and follow-up plans")),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def phone_masked(self) -> str:
        return mask_phone(self.phone)

    @property
    def id_number_masked(self) -> str:
        return mask_id_number(self.id_number)


class CustomerNameGram(models.Model):
    """One unigram or bigram of a customer's ``search_name``: the inverted index behind the customer
    list's name search, fast on SQLite and PostgreSQL alike (anju.core.grams, docs/decisions.md)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+")
    gram = models.CharField(max_length=2)

    class Meta:
        indexes = [models.Index(fields=["gram", "customer"], name="customer_name_gram")]
        constraints = [models.UniqueConstraint(fields=["customer", "gram"], name="customer_name_gram_unique")]

    def __str__(self) -> str:
        return self.gram


class Consent(models.Model):
    """A PIPL consent: purpose, policy version, channel and time; withdrawal kept, never deleted."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    kind = models.CharField(_("consent for"), max_length=20, choices=ConsentKind.choices)
    purpose = models.CharField(_("purpose"), max_length=200)
    policy_version = models.CharField(_("privacy policy version"), max_length=20)
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    granted_at = models.DateTimeField(_("granted at"))
    withdrawn_at = models.DateTimeField(_("withdrawn at"), null=True, blank=True)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()
    scope_paths = VIA_CUSTOMER

    class Meta:
        verbose_name = _("consent")
        verbose_name_plural = _("consents")
        ordering = ["-granted_at"]
        indexes = [models.Index(fields=["customer", "kind", "-granted_at"], name="consent_customer_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.policy_version})"

    @property
    def is_active(self) -> bool:
        return self.withdrawn_at is None


class CustomerNeeds(models.Model):
    """The current needs profile (R2.3.1): basic, psychological, additional and special needs."""

    class Purpose(models.TextChoices):
        BUY = "buy", _("Buy")
        RENT = "rent", _("Rent")

    class Usage(models.TextChoices):
        OWN_HOME = "own_home", _("Own home")
        UPGRADE = "upgrade", _("Upgrade")
        INVESTMENT = "investment", _("Investment")
        EDUCATION = "education", _("Children's schooling")
        ELDERLY = "elderly", _("For parents")

    class Orientation(models.TextChoices):
        ANY = "", _("Any")
        SOUTH = "south", _("South")
        SOUTH_NORTH = "south_north", _("South–north through")
        EAST = "east", _("East")
        WEST = "west", _("West")
        NORTH = "north", _("North")

    class Payment(models.TextChoices):
        ANY = "", _("Not decided")
        FULL = "full", _("Full payment")
        MORTGAGE = "mortgage", _("Commercial mortgage")
        FUND = "fund", _("Housing provident fund loan")
        COMBINED = "combined", _("Combined loan")
        INSTALMENT = "instalment", _("Instalments")

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="needs")
    # basic
    purpose = models.CharField(_("buy or rent"), max_length=10, choices=Purpose.choices, default=Purpose.BUY)
    usage = models.CharField(_("purpose of use"), max_length=20, choices=Usage.choices, blank=True)
    districts = models.JSONField(_("preferred districts"), default=list, blank=True)
    # psychological
    environment = models.TextField(_("living environment wishes"), blank=True)
    community = models.TextField(_("community wishes"), blank=True)
    # additional
    needs_school = models.BooleanField(_("near good schools"), default=False)
    needs_hospital = models.BooleanField(_("near a hospital"), default=False)
    needs_transit = models.BooleanField(_("near metro / transit"), default=False)
    needs_commerce = models.BooleanField(_("near shopping"), default=False)
    # special
    rooms_min = models.PositiveSmallIntegerField(_("bedrooms at least"), null=True, blank=True)
    rooms_max = models.PositiveSmallIntegerField(_("bedrooms at most"), null=True, blank=True)
    floor_min = models.SmallIntegerField(_("floor from"), null=True, blank=True)
    floor_max = models.SmallIntegerField(_("floor to"), null=True, blank=True)
    orientation = models.CharField(_("orientation"), max_length=20, choices=Orientation.choices, blank=True)
    area_min = models.PositiveIntegerField(_("area from (㎡)"), null=True, blank=True)
    area_max = models.PositiveIntegerField(_("area to (㎡)"), null=True, blank=True)
    price_min = models.PositiveIntegerField(_("total price from (10k CNY)"), null=True, blank=True)
    price_max = models.PositiveIntegerField(_("total price to (10k CNY)"), null=True, blank=True)
    payment = models.CharField(_("payment method"), max_length=20, choices=Payment.choices, blank=True)
    notes = models.TextField(_("interview notes"), blank=True)
    updated_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = VIA_CUSTOMER

    class Meta:
        verbose_name = _("needs profile")
        verbose_name_plural = _("needs profiles")

    def __str__(self) -> str:
        return f"needs of {self.customer}"


class NeedsRevision(models.Model):
    """History of needs changes (R2.4.1 "changing needs"): what changed, by whom, when."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="needs_revisions")
    before = models.JSONField(default=dict)
    after = models.JSONField(default=dict)
    changed_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = VIA_CUSTOMER

    class Meta:
        ordering = ["-changed_at"]
        indexes = [models.Index(fields=["customer", "-changed_at"], name="needs_rev_customer")]

    def __str__(self) -> str:
        return f"needs revision of {self.customer_id}"


class OwnershipChange(models.Model):
    """Every change of owner: registration, transfer (with reason), lapse, claim (R6.1.1)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ownership_changes")
    kind = models.CharField(_("kind"), max_length=20, choices=OwnershipChangeKind.choices)
    from_owner = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_owner = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    changed_by = models.ForeignKey(USER, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(_("time"), auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = VIA_CUSTOMER

    class Meta:
        verbose_name = _("ownership change")
        verbose_name_plural = _("ownership changes")
        ordering = ["-changed_at"]
        indexes = [models.Index(fields=["customer", "-changed_at"], name="ownership_customer")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.customer_id}"


class DutyRoster(models.Model):
    """Who is on reception duty at a branch on a day, in rotation order (轮接)."""

    branch = models.ForeignKey("org.Branch", on_delete=models.CASCADE, related_name="duty_rosters")
    day = models.DateField(_("day"))
    agent = models.ForeignKey(USER, verbose_name=_("agent"), on_delete=models.CASCADE, related_name="duty_rosters")
    position = models.PositiveSmallIntegerField(_("order"))
    turns_taken = models.PositiveSmallIntegerField(_("receptions by rotation"), default=0)
    last_turn_at = models.DateTimeField(null=True, blank=True)
    is_available = models.BooleanField(_("available"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"owner": "agent", "team": "agent__team", "branch": "branch"}
    scope_actions = {"view": RoleScope(), "desk": HomeBranch(subtree=False, widen=True)}

    class Meta:
        verbose_name = _("duty roster entry")
        verbose_name_plural = _("duty roster")
        ordering = ["day", "position"]
        constraints = [models.UniqueConstraint(fields=["branch", "day", "agent"], name="duty_unique_agent_day")]
        indexes = [models.Index(fields=["branch", "day", "turns_taken", "position"], name="duty_rotation")]

    def __str__(self) -> str:
        return f"{self.day} {self.agent}"


class Visit(ChoiceLabelsMixin, models.Model):
    """A visit to the sales office (R2.1.2, R6.1.1) with its reception clock."""

    customer = models.ForeignKey(Customer, on_delete=models.PROTECT, related_name="visits")
    branch = models.ForeignKey("org.Branch", on_delete=models.PROTECT, related_name="visits")
    arrived_at = models.DateTimeField(_("arrived at"))
    is_first_visit = models.BooleanField(_("first visit"))
    party_size = models.PositiveSmallIntegerField(
        _("party size"), default=1, validators=[MinValueValidator(1), MaxValueValidator(50)]
    )
    status = models.CharField(_("status"), max_length=20, choices=VisitStatus.choices, default=VisitStatus.WAITING)
    assigned_to = models.ForeignKey(
        USER, verbose_name=_("assigned agent"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    by_rotation = models.BooleanField(_("assigned by rotation"), default=False)
    received_by = models.ForeignKey(
        USER, verbose_name=_("received by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reception_started_at = models.DateTimeField(_("reception started"), null=True, blank=True)
    reception_ended_at = models.DateTimeField(_("reception ended"), null=True, blank=True)
    presented = models.TextField(_("what was presented"), blank=True)
    questions = models.TextField(_("what the customer asked"), blank=True)
    registered_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"owner": "customer__owner", "team": "customer__team", "branch": "branch"}
    scope_actions = {
        # The receiving agent needs their visit even before they own the customer (a pool claim
        # refused at the desk); nothing wider — the branch's desk is where the queue is seen.
        "view": RoleScope(participants=("assigned_to", "received_by")),
        # Working the desk: the office's own staff and whoever's scope covers the office.
        "desk": HomeBranch(subtree=False, widen=True),
    }

    class Meta:
        verbose_name = _("visit")
        verbose_name_plural = _("visits")
        ordering = ["-arrived_at"]
        indexes = [
            models.Index(fields=["branch", "status", "arrived_at"], name="visit_desk"),
            models.Index(fields=["customer", "-arrived_at"], name="visit_customer"),
            # The follow-up job looks for recent first visits across all branches.
            models.Index(fields=["is_first_visit", "arrived_at"], name="visit_first_recent"),
        ]
        permissions = [
            # R6.1.1 (issue #9): skip or pass someone else's turn, reassign a visitor, act on another agent's visitor.
            ("manage_rotation", _("Can manage the reception rotation (skip turns, reassign, act on others' visitors)")),
        ]

    def __str__(self) -> str:
        return f"{self.customer} @ {self.arrived_at:%Y-%m-%d %H:%M}"

    @property
    def waiting_seconds(self) -> int | None:
        if self.reception_started_at is None:
            return None
        return int((self.reception_started_at - self.arrived_at).total_seconds())

    @property
    def reception_seconds(self) -> int | None:
        if self.reception_started_at is None or self.reception_ended_at is None:
            return None
        return int((self.reception_ended_at - self.reception_started_at).total_seconds())


class RotationSkip(models.Model):
    """A skipped turn in the reception rotation, with its reason."""

    roster = models.ForeignKey(DutyRoster, on_delete=models.CASCADE, related_name="skips")
    reason = models.CharField(_("reason"), max_length=200)
    skipped_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    skipped_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"skip {self.roster_id}"


class Communication(ChoiceLabelsMixin, models.Model):
    """One contact with a customer (R2.2.1): 一次传递、多次确认."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="communications")
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    occurred_at = models.DateTimeField(_("time"))
    summary = models.TextField(_("summary"))
    info_core = models.TextField(_("core information given"), blank=True)
    info_auxiliary = models.TextField(_("auxiliary information"), blank=True)
    info_supplementary = models.TextField(_("supplementary information"), blank=True)
    materials = models.CharField(_("materials shared"), max_length=300, blank=True)
    customer_confirmed = models.BooleanField(_("customer confirmed understanding"), default=False)
    next_step = models.CharField(_("next step"), max_length=300, blank=True)
    visit = models.ForeignKey(Visit, null=True, blank=True, on_delete=models.SET_NULL, related_name="communications")
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = VIA_CUSTOMER

    class Meta:
        verbose_name = _("communication")
        verbose_name_plural = _("communications")
        ordering = ["-occurred_at"]
        indexes = [models.Index(fields=["customer", "-occurred_at"], name="comm_customer")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.customer_id}"


class FollowUpRule(models.Model):
    """One step of a follow-up plan, per branch (R2.1.3, R2.4.2). Default: 24 h, 3 d, 7 d."""

    class Plan(models.TextChoices):
        FIRST_VISIT = "first_visit", _("After a first visit")
        REGISTRATION = "registration", _("After registration without a visit")

    branch = models.ForeignKey("org.Branch", on_delete=models.CASCADE, related_name="followup_rules")
    plan = models.CharField(_("plan"), max_length=20, choices=Plan.choices)
    step = models.PositiveSmallIntegerField(_("step"))
    title = models.CharField(_("title"), max_length=60)
    due_after_hours = models.PositiveIntegerField(_("due within (hours)"), validators=[MinValueValidator(1)])
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")
        ordering = ["branch", "plan", "step"]
        constraints = [models.UniqueConstraint(fields=["branch", "plan", "step"], name="followup_rule_unique_step")]

    def __str__(self) -> str:
        return f"{self.get_plan_display()} #{self.step}"


class FollowUpTask(ChoiceLabelsMixin, models.Model):
    """A scheduled follow-up; completing it needs an outcome and extends protection."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="followups")
    assignee = models.ForeignKey(USER, verbose_name=_("assignee"), on_delete=models.PROTECT, related_name="followups")
    title = models.CharField(_("title"), max_length=60)
    plan = models.CharField(_("plan"), max_length=20, blank=True)
    step = models.PositiveSmallIntegerField(_("step"), null=True, blank=True)
    # The event the plan counts from (e.g. "visit:42"): with plan + step it makes creation idempotent.
    anchor = models.CharField(max_length=40, blank=True)
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(_("status"), max_length=20, choices=FollowUpStatus.choices, default=FollowUpStatus.OPEN)
    method = models.CharField(_("method"), max_length=20, choices=Channel.choices, blank=True)
    content = models.TextField(_("content"), blank=True)
    outcome = models.CharField(_("outcome"), max_length=20, choices=FollowUpOutcome.choices, blank=True)
    completed_at = models.DateTimeField(_("completed at"), null=True, blank=True)
    communication = models.OneToOneField(
        Communication, null=True, blank=True, on_delete=models.SET_NULL, related_name="followup"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"owner": "assignee", "team": "customer__team", "branch": "customer__branch"}

    class Meta:
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        ordering = ["due_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "plan", "step", "anchor"],
                condition=~models.Q(anchor=""),
                name="followup_unique_plan_step",
            )
        ]
        indexes = [
            models.Index(fields=["assignee", "status", "due_at"], name="followup_assignee_due"),
            models.Index(fields=["status", "due_at"], name="followup_status_due"),
            models.Index(fields=["customer", "-due_at"], name="followup_customer"),
        ]

    def __str__(self) -> str:
        return f"{self.title} ({self.customer_id})"


class Feedback(ChoiceLabelsMixin, models.Model):
    """Customer feedback or a question from any channel (R2.3.3), with time to first response."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="feedback")
    channel = models.CharField(_("channel"), max_length=20, choices=Channel.choices)
    category = models.CharField(_("category"), max_length=20, choices=FeedbackCategory.choices)
    content = models.TextField(_("content"))
    received_at = models.DateTimeField(_("received at"))
    handler = models.ForeignKey(USER, verbose_name=_("handler"), on_delete=models.PROTECT, related_name="+")
    first_response_at = models.DateTimeField(_("first response at"), null=True, blank=True)
    response = models.TextField(_("response"), blank=True)
    resolved_at = models.DateTimeField(_("resolved at"), null=True, blank=True)
    recorded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()
    scope_paths = VIA_CUSTOMER

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        ordering = ["-received_at"]
        indexes = [
            models.Index(fields=["customer", "-received_at"], name="feedback_customer"),
            models.Index(fields=["handler", "first_response_at"], name="feedback_handler_open"),
        ]

    def __str__(self) -> str:
        return f"{self.get_category_display()} {self.customer_id}"

    @property
    def response_seconds(self) -> int | None:
        if self.first_response_at is None:
            return None
        return int((self.first_response_at - self.received_at).total_seconds())
