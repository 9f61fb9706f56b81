"""Projects, buildings, listings (new-home units and resale), photos, change log,
verification, search grams and company resources (R1.1.2, R3.1.1–R3.1.3, R3.2.2, R6.1.2)."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from anju.core.choice_labels import ChoiceLabelsMixin
from anju.core.crypto import EncryptedTextField
from anju.core.masking import mask_phone
from anju.core.scoping import AnyRole, RoleScope, ScopedQuerySet

from .choices import (
    ACTIVE_STATUSES,
    CertificateStatus,
    Decoration,
    ListingKind,
    ListingStatus,
    Orientation,
    PhotoKind,
    ResourceKind,
    RightType,
    VerificationOutcome,
)

USER = settings.AUTH_USER_MODEL


def _two_places(value: Decimal | None) -> str:
    """``318.5`` → "318.50", ``320`` → "320" (as ``floatformat:"-2"``)."""
    if value is None:
        return ""
    return f"{value:.0f}" if value == value.to_integral_value() else f"{value:.2f}"


# Listings, projects and resources are company resources (R1.1.2): everyone with a role may *see*
# them; changing one (and revealing its owner's contact) follows the own/team/branch scope of the
# collector or the project's sales office. Owner contacts stay masked everywhere regardless.
SHARED_ACTIONS = {"view": AnyRole(), "manage": RoleScope()}


class BranchListingSettings(models.Model):
    """Per-branch listing rules: how often every active listing must be re-verified (R3.1.2)."""

    branch = models.OneToOneField("org.Branch", on_delete=models.CASCADE, related_name="listing_settings")
    verify_every_days = models.PositiveSmallIntegerField(
        _("re-verify every (days)"), default=30, validators=[MinValueValidator(1), MaxValueValidator(365)]
    )

    def __str__(self) -> str:
        return f"{self.branch} listing settings"


class Project(models.Model):
    """A new-home development sold at a sales office (案场)."""

    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=30)
    district = models.CharField(_("district"), max_length=30)
    address = models.CharField(_("address"), max_length=200)
    developer = models.CharField(_("developer"), max_length=100, blank=True)
    description = models.TextField(_("description"), blank=True)
    branch = models.ForeignKey(
        "org.Branch", verbose_name=_("sales office"), on_delete=models.PROTECT, related_name="projects"
    )
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"branch": "branch"}
    scope_actions = SHARED_ACTIONS

    class Meta:
        verbose_name = _("project")
        verbose_name_plural = _("projects")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["city", "name"], name="project_unique_name_in_city")]

    def __str__(self) -> str:
        return self.name


class Building(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="buildings")
    name = models.CharField(_("building"), max_length=30)
    floors = models.PositiveSmallIntegerField(_("floors"), validators=[MinValueValidator(1), MaxValueValidator(200)])
    units_per_floor = models.PositiveSmallIntegerField(
        _("units per floor"), validators=[MinValueValidator(1), MaxValueValidator(30)]
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"branch": "project__branch"}
    scope_actions = SHARED_ACTIONS

    class Meta:
        verbose_name = _("building")
        verbose_name_plural = _("buildings")
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="building_unique_name_in_project")]

    def __str__(self) -> str:
        return f"{self.project} {self.name}"


class Listing(ChoiceLabelsMixin, models.Model):
    """One property on offer: a new-home unit of a building or a resale home (R3.1.1).

    The collector (采集人) is responsible for it (谁采集、谁负责). Every change goes through a
    service that records a ListingChange with a reason (R3.1.2).
    """

    kind = models.CharField(_("kind"), max_length=20, choices=ListingKind.choices)
    title = models.CharField(_("title"), max_length=120)
    project = models.ForeignKey(
        Project, verbose_name=_("project"), null=True, blank=True, on_delete=models.PROTECT, related_name="listings"
    )
    building = models.ForeignKey(
        Building, verbose_name=_("building"), null=True, blank=True, on_delete=models.PROTECT, related_name="units"
    )
    # location
    city = models.CharField(_("city"), max_length=30)
    district = models.CharField(_("district"), max_length=30)
    community = models.CharField(_("community / project"), max_length=100)
    address = models.CharField(_("address"), max_length=200)
    building_no = models.CharField(_("building no."), max_length=20, blank=True)
    unit_no = models.CharField(_("unit / stair"), max_length=20, blank=True)
    room_no = models.CharField(_("room no."), max_length=20, blank=True)
    floor = models.SmallIntegerField(_("floor"), validators=[MinValueValidator(-5)])
    total_floors = models.PositiveSmallIntegerField(_("total floors"), validators=[MinValueValidator(1)])
    # size and layout
    built_area = models.DecimalField(_("built area (㎡)"), max_digits=8, decimal_places=2)
    usable_area = models.DecimalField(_("usable area (㎡)"), max_digits=8, decimal_places=2, null=True, blank=True)
    rooms = models.PositiveSmallIntegerField(_("bedrooms"), validators=[MaxValueValidator(20)])
    halls = models.PositiveSmallIntegerField(_("living rooms"), default=1, validators=[MaxValueValidator(10)])
    baths = models.PositiveSmallIntegerField(_("bathrooms"), default=1, validators=[MaxValueValidator(10)])
    orientation = models.CharField(_("orientation"), max_length=20, choices=Orientation.choices)
    decoration = models.CharField(_("decoration"), max_length=20, choices=Decoration.choices)
    # property rights
    right_type = models.CharField(
        _("property-right type"), max_length=20, choices=RightType.choices, default=RightType.COMMODITY
    )
    right_term_years = models.PositiveSmallIntegerField(
        _("right term (years)"), default=70, validators=[MaxValueValidator(99)]
    )
    certificate_status = models.CharField(_("certificate"), max_length=20, choices=CertificateStatus.choices)
    mortgaged = models.BooleanField(_("mortgaged"), default=False)
    seized = models.BooleanField(_("seized by a court"), default=False)
    # facilities (structured + notes)
    near_school = models.BooleanField(_("near schools"), default=False)
    school_names = models.CharField(_("schools"), max_length=200, blank=True)
    near_transit = models.BooleanField(_("near metro / transit"), default=False)
    near_hospital = models.BooleanField(_("near a hospital"), default=False)
    near_commerce = models.BooleanField(_("near shopping"), default=False)
    facility_notes = models.TextField(_("facility notes"), blank=True)
    # price (total in 10k CNY; unit price derived in CNY/㎡)
    total_price = models.DecimalField(_("total price (10k CNY)"), max_digits=10, decimal_places=2)
    unit_price = models.PositiveIntegerField(_("unit price (CNY/㎡)"), editable=False)
    # contact of the owner (resale) or developer (new home) — protected like customer data
    contact_name = models.CharField(_("contact name"), max_length=50, blank=True)
    contact_phone = EncryptedTextField(_("contact phone"), blank=True)
    contact_phone_index = models.CharField(max_length=64, blank=True, editable=False, db_index=True)
    status = models.CharField(
        _("status"), max_length=20, choices=ListingStatus.choices, default=ListingStatus.AVAILABLE
    )
    # Stored by the database from ``status``. The default list filters on it with a bound
    # parameter: SQLite never uses a partial index for ``status IN (?, ?)`` (it matches index
    # predicates against literals only), while an index led by this column serves both
    # databases (docs/decisions.md, bench/README.md "Listings search").
    is_active = models.GeneratedField(
        expression=models.ExpressionWrapper(models.Q(status__in=ACTIVE_STATUSES), output_field=models.BooleanField()),
        output_field=models.BooleanField(),
        db_persist=True,
        verbose_name=_("active"),
    )
    tags = models.JSONField(_("tags"), default=list, blank=True)
    collector = models.ForeignKey(
        USER, verbose_name=_("collector"), on_delete=models.PROTECT, related_name="collected_listings"
    )
    team = models.ForeignKey(
        "org.Team", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    branch = models.ForeignKey(
        "org.Branch", verbose_name=_("branch"), on_delete=models.PROTECT, related_name="listings", db_index=False
    )
    last_verified_at = models.DateTimeField(_("last verified at"))
    last_verified_by = models.ForeignKey(
        USER, verbose_name=_("last verified by"), on_delete=models.PROTECT, related_name="+"
    )
    # Normalised text of title/community/address/district for substring search (see services.search).
    search_text = models.TextField(editable=False, default="")
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"owner": "collector", "team": "team", "branch": "branch"}
    scope_actions = SHARED_ACTIONS

    class Meta:
        verbose_name = _("listing")
        verbose_name_plural = _("listings")
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(condition=models.Q(built_area__gt=0), name="listing_area_positive"),
            models.CheckConstraint(condition=models.Q(total_price__gt=0), name="listing_price_positive"),
            models.CheckConstraint(
                condition=models.Q(floor__lte=models.F("total_floors")), name="listing_floor_within_building"
            ),
            models.UniqueConstraint(
                fields=["building", "floor", "unit_no"],
                condition=models.Q(building__isnull=False),
                name="listing_unique_unit",
            ),
        ]
        indexes = [
            # One per sort key of the list, led by the default filter (active) or a chosen status.
            models.Index(fields=["is_active", "-updated_at", "-id"], name="listing_active_recent"),
            models.Index(fields=["is_active", "total_price", "id"], name="listing_active_price"),
            models.Index(fields=["is_active", "unit_price", "id"], name="listing_active_unit_price"),
            models.Index(fields=["is_active", "built_area", "id"], name="listing_active_area"),
            models.Index(fields=["district", "is_active", "total_price", "id"], name="listing_district_price"),
            models.Index(fields=["status", "-updated_at", "-id"], name="listing_status_recent"),
            models.Index(fields=["status", "total_price", "id"], name="listing_status_price"),
            models.Index(fields=["project", "status"], name="listing_project_status"),
            models.Index(fields=["building", "floor", "unit_no"], name="listing_board"),
            models.Index(fields=["collector", "last_verified_at"], name="listing_collector_stale"),
            models.Index(fields=["branch", "last_verified_at"], name="listing_branch_stale"),
            models.Index(fields=["team", "-updated_at"], name="listing_team_recent"),
        ]
        permissions = [
            ("reveal_listing_contact", _("Can reveal a listing's owner / developer phone (with a reason)")),
            ("export_listing", _("Can export listings")),
            ("import_price_list", _("Can import price lists")),
            ("manage_projects", _("Can manage projects and buildings")),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def layout(self) -> str:
        return f"{self.rooms}室{self.halls}厅{self.baths}卫"

    # Plain-text numbers for list rows: what ``floatformat:"-2"`` / ``"0g"`` print, at a
    # fraction of the cost (a page formats hundreds of them).
    @property
    def price_text(self) -> str:
        return _two_places(self.total_price)

    @property
    def area_text(self) -> str:
        return _two_places(self.built_area)

    @property
    def unit_price_text(self) -> str:
        return f"{self.unit_price:,}"

    @property
    def contact_phone_masked(self) -> str:
        return mask_phone(self.contact_phone)

    @staticmethod
    def compute_unit_price(total_price: Decimal, built_area: Decimal) -> int:
        """CNY per ㎡ from the total in 10k CNY; rounded to whole yuan."""
        return int((Decimal(total_price) * 10000 / Decimal(built_area)).quantize(Decimal("1")))


class SearchGram(models.Model):
    """One unigram or bigram of a listing's search text: an inverted index for Chinese substring
    search that is fast on SQLite and PostgreSQL alike (see docs/decisions.md)."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="+")
    gram = models.CharField(max_length=2)

    class Meta:
        indexes = [models.Index(fields=["gram", "listing"], name="search_gram")]
        constraints = [models.UniqueConstraint(fields=["listing", "gram"], name="search_gram_unique")]

    def __str__(self) -> str:
        return self.gram


def listing_media_path(instance, filename: str) -> str:
    import uuid

    extension = filename.rsplit(".", 1)[-1].lower()
    return f"listings/{instance.listing_id}/{uuid.uuid4().hex}.{extension}"


class ListingPhoto(models.Model):
    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="photos")
    kind = models.CharField(_("kind"), max_length=20, choices=PhotoKind.choices)
    image = models.ImageField(_("image"), upload_to=listing_media_path)
    thumbnail = models.ImageField(upload_to=listing_media_path, blank=True)
    caption = models.CharField(_("caption"), max_length=100, blank=True)
    position = models.PositiveSmallIntegerField(default=0)
    uploaded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["kind", "position", "pk"]
        indexes = [models.Index(fields=["listing", "kind", "position"], name="photo_listing")]

    def __str__(self) -> str:
        return self.caption or self.get_kind_display()


class ListingChangeQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("The listing change log is append-only")

    def delete(self):
        raise PermissionError("The listing change log is append-only")


class ListingChange(models.Model):
    """Field-level record of one change: before/after, reason, person, time (R3.1.2). Append-only."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="changes")
    changes = models.JSONField(_("changes"))  # {"field": {"before": …, "after": …}, …}
    reason = models.CharField(_("reason"), max_length=200)
    changed_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    changed_at = models.DateTimeField(_("time"), auto_now_add=True)

    objects = ListingChangeQuerySet.as_manager()

    class Meta:
        ordering = ["-changed_at", "-pk"]
        indexes = [models.Index(fields=["listing", "-changed_at"], name="listing_change_recent")]

    def __str__(self) -> str:
        return f"change of {self.listing_id}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The listing change log is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The listing change log is append-only")


class ListingVerification(models.Model):
    """A monthly re-verification (R3.1.2): confirmed as is, or updated (the update is a ListingChange)."""

    listing = models.ForeignKey(Listing, on_delete=models.CASCADE, related_name="verifications")
    outcome = models.CharField(_("outcome"), max_length=20, choices=VerificationOutcome.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    change = models.OneToOneField(ListingChange, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verified_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    verified_at = models.DateTimeField(_("time"), auto_now_add=True)

    class Meta:
        ordering = ["-verified_at"]
        indexes = [models.Index(fields=["listing", "-verified_at"], name="verification_recent")]

    def __str__(self) -> str:
        return f"verification of {self.listing_id}"


def resource_path(instance, filename: str) -> str:
    import uuid

    extension = filename.rsplit(".", 1)[-1].lower()
    return f"resources/{instance.project_id or 'company'}/{uuid.uuid4().hex}.{extension}"


class Resource(models.Model):
    """Company resources (R1.1.2): brochures, floor plans, price sheets, sales tools, case studies."""

    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="resources")
    kind = models.CharField(_("kind"), max_length=20, choices=ResourceKind.choices)
    title = models.CharField(_("title"), max_length=120)
    description = models.TextField(_("description"), blank=True)
    file = models.FileField(_("file"), upload_to=resource_path)
    original_name = models.CharField(max_length=200)
    size = models.PositiveIntegerField(default=0)
    roles = models.ManyToManyField("org.Role", verbose_name=_("roles allowed"), blank=True, related_name="+")
    uploaded_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    uploaded_at = models.DateTimeField(auto_now_add=True)
    is_active = models.BooleanField(_("active"), default=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"branch": "project__branch"}
    scope_actions = SHARED_ACTIONS

    class Meta:
        verbose_name = _("resource")
        verbose_name_plural = _("resources")
        ordering = ["project", "kind", "title"]
        indexes = [models.Index(fields=["project", "kind"], name="resource_project_kind")]
        permissions = [("manage_resource", _("Can upload and retire company resources"))]

    def __str__(self) -> str:
        return self.title


class PriceListImport(models.Model):
    """A large price-list import run by the task worker (issue #9, R3.1.1): the upload until the job has
    run, then its outcome and progress, which the import page polls."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("Waiting to start")
        RUNNING = "running", _("Importing")
        DONE = "done", _("Imported")
        FAILED = "failed", _("Not imported")

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="price_imports")
    created_by = models.ForeignKey(USER, on_delete=models.PROTECT, related_name="+")
    filename = models.CharField(_("file"), max_length=150)
    # The uploaded workbook (at most the import's size limit); emptied as soon as the job has run.
    content = models.BinaryField(default=b"", editable=False)
    language = models.CharField(max_length=10, blank=True)  # the uploader's, for the job's messages
    status = models.CharField(_("status"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    rows = models.PositiveIntegerField(_("rows"), default=0)
    processed = models.PositiveIntegerField(default=0)
    changed = models.PositiveIntegerField(_("units changed"), default=0)
    message = models.CharField(max_length=500, blank=True)
    errors = models.JSONField(default=list, blank=True)  # [{"row": …, "column": …, "message": …}, …]
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"owner": "created_by", "branch": "project__branch"}
    # Only those who manage the project's sales office see its imports; there is no catalogue reach.
    scope_actions = {"view": RoleScope(), "manage": RoleScope()}

    class Meta:
        verbose_name = _("price-list import")
        verbose_name_plural = _("price-list imports")
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["project", "-created_at"], name="price_import_recent")]

    def __str__(self) -> str:
        return f"{self.filename} ({self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def percent(self) -> int:
        return min(100, self.processed * 100 // self.rows) if self.rows else 0
