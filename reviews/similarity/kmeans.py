"""Spherical k-means on normalised embeddings, and each vector's nearest centre (FAISS, pure arrays in and out)."""

from __future__ import annotations

import faiss
import numpy as np


def kmeans_centroids(vectors: np.ndarray, k: int, *, seed: int = 1234) -> np.ndarray:
    kmeans = faiss.Kmeans(vectors.shape[1], k, niter=20, seed=seed, spherical=True, verbose=False)
    kmeans.train(vectors)
    if kmeans.centroids is None:
        raise RuntimeError("k-means finished training without centroids.")
    return kmeans.centroids.astype(np.float32)


def assign(vectors: np.ndarray, centroids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centroid of each vector, and the cosine similarity to it."""
    index = faiss.IndexFlatIP(centroids.shape[1])
    index.add(centroids)
    sims, rows = index.search(vectors, 1)
    return rows[:, 0], sims[:, 0]
