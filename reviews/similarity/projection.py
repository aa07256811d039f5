"""Pure 2D layouts of embedding vectors for the similarity map: UMAP, or PCA for small sets.

UMAP keeps clusters apart where PCA flattens them onto each other (peers with
a map, Lilac and FiftyOne, use it too). Below UMAP_MIN_POINTS (the service's
choice, reviews/services/embedding_map.py) the map is PCA: with 15 neighbours per
point UMAP's graph spans a large share of so few points, so its layout says little
beyond noise, while PCA is exact and instant. On two cores 3,000 points take ~9 s
once numba has compiled, ~25 s for a worker's first map (import and compilation).
"""

from __future__ import annotations

import numpy as np

UMAP_NEIGHBOURS = 15
# 200 rounds of layout instead of UMAP's 500 for small sets: half the time, and
# at 3,000 points the clusters are as separate.
UMAP_EPOCHS = 200


def _scaled(coords: np.ndarray) -> np.ndarray:
    """Each column scaled into [0, 1] between its 0.5th and 99.5th percentiles:
    a few outliers must not squash the rest into a dot."""
    low, high = np.percentile(coords, [0.5, 99.5], axis=0)
    span = np.where(high - low > 1e-12, high - low, 1.0)
    return np.clip((coords - low) / span, 0.0, 1.0)


def pca_2d(vectors: np.ndarray) -> tuple[np.ndarray, list[float]]:
    """The first two principal components of the rows, scaled into [0, 1], and
    the share of variance each explains."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, singular, components = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ components[:2].T
    if coords.shape[1] < 2:
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    variance = singular**2
    explained = (variance[:2] / variance.sum()).tolist() if variance.sum() > 0 else [0.0, 0.0]
    return _scaled(coords), explained


def umap_2d(vectors: np.ndarray, *, seed: int) -> np.ndarray:
    """UMAP (McInnes et al. 2018) on cosine distance, scaled into [0, 1]. Seeded, and
    so single-threaded: one set of vectors always gives one map."""
    import umap  # numba compiles on first use: only the worker that draws maps pays for it

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=min(UMAP_NEIGHBOURS, len(vectors) - 1),
        min_dist=0.1,
        metric="cosine",
        init="pca",
        n_epochs=UMAP_EPOCHS,
        random_state=seed,
        n_jobs=1,
    )
    return _scaled(np.asarray(reducer.fit_transform(np.asarray(vectors, dtype=np.float32)), dtype=np.float64))
