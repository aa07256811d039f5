"""The 2D map of a project's embeddings: PCA of a random subset, made in the
worker after each similarity build and stored for the similarity view."""

from __future__ import annotations

import numpy as np
from django.conf import settings

from generation.models import Project
from reviews.models import EmbeddingMap
from reviews.similarity.embeddings import embedding_key, embeddings_load


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """The first two principal components of the rows, each scaled into [0, 1]
    between its 0.5th and 99.5th percentiles (a few outliers must not squash the
    rest into a dot), and the share of variance each explains."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ components[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    low, high = np.percentile(coords, [0.5, 99.5], axis=0)
    span = np.where(high - low > 1e-12, high - low, 1.0)
    scaled = np.clip((coords - low) / span, 0.0, 1.0)
    variance = singular ** 2
    explained = (variance[:2] / variance.sum()).tolist() if variance.sum() > 0 else [0.0, 0.0]
    return scaled, explained


def embedding_map_build(*, project_id: int, ids: np.ndarray, vectors: np.ndarray | None = None) -> EmbeddingMap | None:
    """Store the map for these embedded samples; `vectors`, when given, are aligned with `ids`."""
    project = Project.objects.get(pk=project_id)
    if len(ids) < 3:
        EmbeddingMap.objects.filter(project=project).delete()
        return None
    limit = settings.SIMILARITY_MAP_POINTS
    # Seeded by the project, so the same samples keep their places between builds.
    chosen = np.sort(np.random.default_rng(project.pk).choice(len(ids), size=min(limit, len(ids)), replace=False))
    if vectors is not None:
        chosen_ids, chosen_vectors = ids[chosen], vectors[chosen]
    else:
        model_name, text_kind = embedding_key(project)
        chosen_ids, chosen_vectors = embeddings_load(project_id=project.pk, model_name=model_name,
                                                     text_kind=text_kind, sample_ids=ids[chosen].tolist())
    coords, explained = pca_2d(np.asarray(chosen_vectors, dtype=np.float64))
    points = [[int(i), round(float(x), 5), round(float(y), 5)] for i, (x, y) in zip(chosen_ids, coords)]
    stored, _ = EmbeddingMap.objects.update_or_create(
        project=project,
        defaults={"method": "pca", "points": points, "embedded_total": int(len(ids)),
                  "explained_variance": [round(v, 4) for v in explained]},
    )
    return stored
