from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from generation.models import GenerationRun, Generator, ImportBatch, PromptTemplate, PromptTemplateVersion, Sample


class PromptTemplateVersionInline(admin.TabularInline):
    model = PromptTemplateVersion
    extra = 0
    fields = ["version", "output_format", "created_at"]
    readonly_fields = ["version", "output_format", "created_at"]
    can_delete = False
    show_change_link = True


@admin.register(PromptTemplate)
class PromptTemplateAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "created_at"]
    list_filter = ["project"]
    inlines = [PromptTemplateVersionInline]


@admin.register(PromptTemplateVersion)
class PromptTemplateVersionAdmin(admin.ModelAdmin):
    list_display = ["template", "version", "output_format", "created_at"]

    def get_readonly_fields(self, request: HttpRequest, obj: PromptTemplateVersion | None = None) -> list[str]:
        # Versions are immutable once saved: a change is a new version.
        if obj is not None:
            return [field.name for field in self.model._meta.fields]
        return []


@admin.register(Generator)
class GeneratorAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "kind", "model_name", "temperature", "created_at"]
    list_filter = ["kind", "project"]
    search_fields = ["name", "model_name"]


@admin.register(GenerationRun)
class GenerationRunAdmin(admin.ModelAdmin):
    list_display = ["name", "project", "template_version", "status", "items_total", "samples_created", "created_at"]
    list_filter = ["status", "project"]
    filter_horizontal = ["generators"]


@admin.register(ImportBatch)
class ImportBatchAdmin(admin.ModelAdmin):
    list_display = ["file_name", "project", "format", "status", "rows_imported", "rows_duplicate", "created_at"]
    list_filter = ["status", "format", "project"]
    readonly_fields = ["stored_path", "errors"]


@admin.register(Sample)
class SampleAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "origin", "generator", "status", "split", "created_at"]
    list_filter = ["origin", "status", "split"]
    raw_id_fields = ["run", "generator", "template_version", "import_batch"]
    # A million rows: no full count for the changelist's paginator.
    show_full_result_count = False
    list_select_related = ["project", "generator"]
