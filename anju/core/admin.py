from django.contrib import admin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only: the trail is append-only, even for superusers (auditors use /audit/)."""

    list_display = ["seq", "occurred_at", "actor_name", "action", "target_repr", "source"]
    list_filter = ["source"]
    search_fields = ["action", "actor_name", "target_repr", "request_id"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
