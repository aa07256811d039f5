"""The 2D map of a project's embeddings: a seeded subset laid out by
reviews/similarity/projection.py (UMAP, or PCA below UMAP_MIN_POINTS), made in the
worker after each similarity build and stored for the similarity view."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from reviews.models import EmbeddingMap
from reviews.services.embeddings import embedding_key, embeddings_load
from reviews.similarity.projection import pca_2d, umap_2d
from synthreview.projects.models import Project

UMAP_MIN_POINTS = 100


def embedding_map_build(*, project_id: int, ids: np.ndarray, vectors: np.ndarray | None = None) -> EmbeddingMap | None:
    """Store the map for these embedded samples; `vectors`, when given, are aligned with `ids`."""
    project = Project.objects.get(pk=project_id)
    if len(ids) < 3:
        EmbeddingMap.objects.filter(project=project).delete()
        return None
    limit = settings.SIMILARITY_MAP_POINTS
    # In id order and seeded by the project: one state of the data gives one subset, and one map.
    order = np.argsort(ids, kind="stable")
    ids = ids[order]
    vectors = vectors[order] if vectors is not None else None
    chosen = np.sort(np.random.default_rng(project.pk).choice(len(ids), size=min(limit, len(ids)), replace=False))
    if vectors is not None:
        chosen_ids, chosen_vectors = ids[chosen], vectors[chosen]
    else:
        model_name, text_kind = embedding_key(project)
        chosen_ids, chosen_vectors = embeddings_load(
            project_id=project.pk, model_name=model_name, text_kind=text_kind, sample_ids=ids[chosen].tolist()
        )
    explained: list[float]
    if len(chosen_ids) >= UMAP_MIN_POINTS:
        method, coords, explained = "umap", umap_2d(np.asarray(chosen_vectors), seed=project.pk), []
    else:
        method = "pca"
        coords, explained = pca_2d(np.asarray(chosen_vectors, dtype=np.float64))
    points = [[int(i), round(float(x), 4), round(float(y), 4)] for i, (x, y) in zip(chosen_ids, coords)]
    stored, _ = EmbeddingMap.objects.update_or_create(
        project=project,
        defaults={
            "method": method,
            "points": points,
            "embedded_total": int(len(ids)),
            "explained_variance": [round(v, 4) for v in explained],
        },
    )
    return stored
