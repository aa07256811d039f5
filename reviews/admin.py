from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from reviews.models import Audit, AuditItem, AuditLog, Verdict


@admin.register(Audit)
class AuditAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "scope", "sample_size", "overlap", "status", "created_at"]
    list_filter = ["status", "scope", "project"]


@admin.register(AuditItem)
class AuditItemAdmin(admin.ModelAdmin):
    list_display = ["audit", "sample", "position", "stratum", "is_gold"]
    raw_id_fields = ["sample"]


@admin.register(Verdict)
class VerdictAdmin(admin.ModelAdmin):
    list_display = ["sample", "reviewer", "value", "error_category", "audit", "created_at"]
    list_filter = ["value", "error_category"]
    raw_id_fields = ["sample"]


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    list_display = ["created_at", "project", "actor", "action", "object_type", "object_id"]
    list_filter = ["action", "project"]

    # Append-only: the admin may read the log, never change it.
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
