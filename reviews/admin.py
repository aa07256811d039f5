from __future__ import annotations

from django.contrib import admin

from reviews.models import (
    Audit,
    AuditItem,
    Cluster,
    DuplicateGroup,
    SampleEmbedding,
    SampleSimilarity,
    SimilarityJob,
    Verdict,
)


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


@admin.register(SimilarityJob)
class SimilarityJobAdmin(admin.ModelAdmin):
    list_display = ["project", "kind", "status", "done", "total", "created_at", "finished_at"]
    list_filter = ["kind", "status", "project"]


@admin.register(DuplicateGroup)
class DuplicateGroupAdmin(admin.ModelAdmin):
    list_display = ["id", "project", "kind", "status", "size", "min_similarity", "representative_reason"]
    list_filter = ["kind", "status", "project"]
    raw_id_fields = ["representative", "resolved_by"]


@admin.register(Cluster)
class ClusterAdmin(admin.ModelAdmin):
    list_display = [
        "project",
        "number",
        "size",
        "density",
        "synthetic_share",
        "real_anchor_distance",
        "label",
        "is_low_novelty",
    ]
    list_filter = ["is_low_novelty", "project"]


@admin.register(SampleSimilarity)
class SampleSimilarityAdmin(admin.ModelAdmin):
    list_display = ["sample", "novelty", "nearest_real", "nearest_real_similarity", "top_similarity", "cluster"]
    raw_id_fields = ["sample", "nearest_real", "cluster"]
    show_full_result_count = False


@admin.register(SampleEmbedding)
class SampleEmbeddingAdmin(admin.ModelAdmin):
    list_display = ["sample", "model_name", "text_kind", "created_at"]
    raw_id_fields = ["sample"]
    exclude = ["vector"]
    show_full_result_count = False
