"""Django admin is a read-only window for superusers.

Every write must go through a service so it validates, checks permissions and records
its audit event; the admin would bypass all three, so it may only look.
"""

from django.contrib import admin

from .models import ApiToken, Branch, Company, Role, Team, User


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Company)
class CompanyAdmin(ReadOnlyAdmin):
    list_display = ["name", "short_name", "credit_code"]


@admin.register(Branch)
class BranchAdmin(ReadOnlyAdmin):
    list_display = ["name", "code", "kind", "parent", "is_active"]
    list_filter = ["kind", "is_active"]
    search_fields = ["name", "code"]
    readonly_fields = ["path"]


@admin.register(Team)
class TeamAdmin(ReadOnlyAdmin):
    list_display = ["name", "branch", "lead", "is_active"]
    list_select_related = ["branch", "lead"]


@admin.register(Role)
class RoleAdmin(ReadOnlyAdmin):
    list_display = ["code", "name", "data_scope", "is_system"]
    filter_horizontal = ["permissions"]


@admin.register(User)
class UserAdmin(ReadOnlyAdmin):
    list_display = ["username", "display_name", "employee_no", "branch", "team", "status"]
    list_filter = ["status", "branch"]
    list_select_related = ["branch", "team"]
    search_fields = ["username", "display_name", "employee_no"]
    exclude = ["password", "phone", "user_permissions", "groups"]


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    list_display = ["user", "name", "prefix", "created_at", "expires_at", "revoked_at"]
    exclude = ["key_hash"]
