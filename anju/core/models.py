"""Shared kernel models: the audit trail, the reveal log, notifications and scheduler bookkeeping."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .choice_labels import ChoiceLabelsMixin
from .scoping import Owner, ScopedQuerySet


class AuditEventQuerySet(ScopedQuerySet):
    def update(self, **kwargs):
        raise PermissionError("The audit trail is append-only")

    def delete(self):
        raise PermissionError("The audit trail is append-only")


class AuditEvent(ChoiceLabelsMixin, models.Model):
    """One append-only, hash-chained audit row (DESIGN.md §3). Written only by core.audit.record.

    ``key_id`` names the audit key (``ANJU_AUDIT_KEYS``) whose HMAC is in ``hash``, so rows signed
    before a key rotation keep verifying while the old key stays configured.
    """

    class Source(models.TextChoices):
        WEB = "web", _("Web")
        API = "api", _("API")
        TASK = "task", _("Background task")
        CLI = "cli", _("Command line")

    seq = models.PositiveBigIntegerField(_("sequence"), unique=True)
    occurred_at = models.DateTimeField(_("time"), db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("actor"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        related_name="+",
        db_constraint=False,
    )
    # Copied as text so the row keeps meaning after the user is renamed or removed.
    actor_name = models.CharField(_("actor name"), max_length=150, blank=True)
    action = models.CharField(_("action"), max_length=100, db_index=True)
    target_type = models.CharField(_("object type"), max_length=100, blank=True)
    target_id = models.CharField(_("object id"), max_length=64, blank=True)
    target_repr = models.CharField(_("object"), max_length=255, blank=True)
    before = models.JSONField(_("before"), null=True, blank=True)
    after = models.JSONField(_("after"), null=True, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    request_id = models.CharField(_("request id"), max_length=64, blank=True, db_index=True)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    source = models.CharField(_("source"), max_length=8, choices=Source.choices)
    prev_hash = models.CharField(max_length=64)
    # HMAC-SHA256 under the audit key named by key_id (issue #9): a database-only writer cannot recompute it.
    hash = models.CharField(max_length=64)
    key_id = models.CharField(max_length=8)

    objects = AuditEventQuerySet.as_manager()
    scope_paths = {"owner": "actor", "team": "actor__team", "branch": "actor__branch"}

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        ordering = ["-seq"]
        indexes = [
            models.Index(fields=["actor", "-seq"], name="audit_actor_seq"),
            models.Index(fields=["target_type", "target_id", "-seq"], name="audit_target_seq"),
            models.Index(fields=["action", "-seq"], name="audit_action_seq"),
        ]
        permissions = [
            ("browse_audit", _("Can browse and export the audit trail")),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.target_repr}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise PermissionError("The audit trail is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("The audit trail is append-only")


class AuditChainHead(models.Model):
    """Single row holding the last sequence number and hash; locked to serialise appends.

    It also lets ``audit_verify`` notice that the newest rows were deleted.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64, default="0" * 64)

    def __str__(self) -> str:
        return f"audit head #{self.seq}"


class ScheduledRun(models.Model):
    """One slot of one periodic job; the unique key makes enqueueing idempotent across hosts."""

    job = models.CharField(max_length=100)
    slot = models.CharField(max_length=32)
    enqueued_at = models.DateTimeField(auto_now_add=True)
    task_result_id = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["job", "slot"], name="scheduled_run_job_slot_unique")]
        indexes = [models.Index(fields=["job", "-enqueued_at"], name="scheduled_run_job_recent")]

    def __str__(self) -> str:
        return f"{self.job}@{self.slot}"


class Notification(models.Model):
    """An in-app message to one user (e.g. "your customer moved to the public pool")."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    title = models.CharField(_("title"), max_length=120)
    body = models.TextField(_("message"), blank=True)
    url = models.CharField(_("link"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("time"), auto_now_add=True)
    read_at = models.DateTimeField(_("read at"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()
    scope_paths = {"owner": "user"}
    # An inbox is personal: a company-wide role does not see everyone's notifications.
    scope_actions = {"view": Owner()}

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "read_at", "-created_at"], name="notification_inbox")]

    def __str__(self) -> str:
        return self.title


class RevealLog(models.Model):
    """Each reveal of a full personal number (a customer's phone or ID number, a listing owner's phone …).

    Written only by ``core.reveal.reveal``; it is also what the one hourly per-user reveal limit
    counts, whatever kind of record was revealed. The target is named, not linked (``app_label.model``
    and its id), so core depends on no app and the log outlives the record.
    """

    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64)
    field = models.CharField(max_length=30)
    reason = models.CharField(max_length=200)
    revealed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # A default, not auto_now_add: the migration that moved the older logs here keeps their times.
    revealed_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["revealed_by", "-revealed_at"], name="reveal_log_user_recent")]

    def __str__(self) -> str:
        return f"reveal {self.field} of {self.target_type}#{self.target_id}"
