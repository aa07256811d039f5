"""Quality figures of sets of sentence embeddings, as pure functions of numpy arrays.

Rows are the stored vectors: L2-normalised (all-MiniLM-L6-v2, 384-d), so a dot
product is a cosine similarity. Diversity within one set (mean pairwise distance,
Vendi score), fidelity of a synthetic set to the real one (Fréchet distance,
precision and recall), and how close synthetic samples sit to real ones (the
privacy figure). Computed in float64: the float32 vectors are summed over
thousands of rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from reviews.quality.text_measures import histogram

# Twenty bins of width 0.05 over cosine similarity 0..1, fixed so that figures of different runs line up.
SIMILARITY_EDGES: tuple[float, ...] = tuple(round(i * 0.05, 2) for i in range(21))
# Query rows per block of pairwise distances: 1,024 x 5,000 float64 is 40 MB.
_BLOCK_ROWS = 1024
# Two copies of one vector can come out a rounding error apart; they still lie on each other's ball.
_SAME_POINT = 1e-9


def _rows(x: np.ndarray, name: str) -> np.ndarray:
    rows = np.asarray(x, dtype=np.float64)
    if rows.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array with one vector per row, got shape {rows.shape}")
    return rows


def _pair(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    first, second = _rows(x, "x"), _rows(y, "y")
    if first.shape[1] != second.shape[1]:
        raise ValueError(f"vectors differ in dimension: {first.shape[1]} and {second.shape[1]}")
    return first, second


def mean_pairwise_distance(x: np.ndarray) -> float | None:
    """Mean cosine distance (1 - cos) over the distinct pairs of rows: 0 when every
    sample says the same, 1 for unrelated ones. None for fewer than two rows.

    Exact and O(n d) rather than O(n² d): the sum of x_i·x_j over ordered pairs
    i != j is ||Σ x_i||² - Σ ||x_i||², so no subsample is needed.
    """
    rows = _rows(x, "x")
    n = rows.shape[0]
    if n < 2:
        return None
    total = rows.sum(axis=0)
    pair_sum = float(total @ total) - float(np.einsum("ij,ij->", rows, rows))
    return 1.0 - pair_sum / (n * (n - 1))


def vendi_score(x: np.ndarray) -> float | None:
    """Vendi score (Friedman & Dieng 2023): exp of the Shannon entropy of the
    eigenvalues of K/n, K the cosine-similarity kernel. The effective number of
    distinct samples: 1 for n copies of one vector, n for n orthogonal ones.
    None for no rows.

    K/n = X Xᵀ/n has the same nonzero eigenvalues as the d x d matrix Xᵀ X/n,
    so the cost is O(n d²) for any n, and no subsample is needed.
    """
    rows = _rows(x, "x")
    n = rows.shape[0]
    if n == 0:
        return None
    eigenvalues = np.clip(np.linalg.eigvalsh(rows.T @ rows / n), 0.0, None)
    total = eigenvalues.sum()
    if total <= 0:
        raise ValueError("rows must be unit vectors, not zeros")
    # The trace is exactly 1 for unit rows; dividing takes out float32 rounding of the norms.
    shares = eigenvalues[eigenvalues > 0] / total
    return float(np.exp(-np.sum(shares * np.log(shares))))


def frechet_distance(x: np.ndarray, y: np.ndarray) -> float | None:
    """Fréchet distance between Gaussians fitted to two embedding sets, as in FID
    (Dowson & Landau 1982; Heusel et al. 2017):
    ||mu_x - mu_y||² + Tr(S_x + S_y - 2 (S_x S_y)^½).
    0 for the same set. None when either set has fewer than two rows.

    Biased upwards for small sets (Chong & Forsyth 2020): compare figures of
    sets of about the same size only.
    """
    first, second = _pair(x, y)
    if first.shape[0] < 2 or second.shape[0] < 2:
        return None
    mean_gap = first.mean(axis=0) - second.mean(axis=0)
    cov_first = np.atleast_2d(np.cov(first, rowvar=False))
    cov_second = np.atleast_2d(np.cov(second, rowvar=False))
    # Tr (S_x S_y)^½ = Σ √eig(√S_x S_y √S_x). That matrix is symmetric PSD, so eigh is
    # stable where a square root of the non-symmetric S_x S_y picks up complex dust.
    values, vectors = np.linalg.eigh(cov_first)
    root_first = (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
    middle = root_first @ cov_second @ root_first
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    distance = float(mean_gap @ mean_gap + np.trace(cov_first) + np.trace(cov_second) - 2 * trace_root)
    return max(0.0, distance)


@dataclass(frozen=True)
class PrecisionRecall:
    """`precision`: share of synthetic samples that look like some real sample
    (fidelity). `recall`: share of real samples the synthetic data covers.
    The counts are the rows used, after any subsample."""

    precision: float
    recall: float
    k: int
    real_count: int
    synthetic_count: int


def precision_recall_knn(
    real: np.ndarray, synthetic: np.ndarray, *, k: int = 3, max_rows: int = 5000, seed: int = 0
) -> PrecisionRecall | None:
    """Improved precision and recall (Kynkäänniemi et al. 2019).

    Each set's manifold is the union of balls around its points, each ball as wide
    as the distance to the point's k-th nearest neighbour in its own set (itself
    not counted). Precision is the share of synthetic points inside the real
    manifold; recall the share of real points inside the synthetic one.

    Euclidean distance, as in the paper; on unit vectors ||a - b||² = 2 - 2 cos,
    so the neighbours are the cosine ones. Each set above `max_rows` is cut to a
    random subsample drawn with `seed`, so a rerun gives the same figure; the
    cost is O(n m d). None when either set has no more than k rows.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    real_rows, synthetic_rows = _pair(real, synthetic)
    rng = np.random.default_rng(seed)
    real_rows = _subsample(real_rows, max_rows, rng)
    synthetic_rows = _subsample(synthetic_rows, max_rows, rng)
    if real_rows.shape[0] <= k or synthetic_rows.shape[0] <= k:
        return None
    return PrecisionRecall(
        precision=_share_inside(synthetic_rows, manifold=real_rows, k=k),
        recall=_share_inside(real_rows, manifold=synthetic_rows, k=k),
        k=k,
        real_count=real_rows.shape[0],
        synthetic_count=synthetic_rows.shape[0],
    )


def _subsample(rows: np.ndarray, max_rows: int, rng: np.random.Generator) -> np.ndarray:
    if rows.shape[0] <= max_rows:
        return rows
    return rows[np.sort(rng.choice(rows.shape[0], size=max_rows, replace=False))]


def _squared_distances(queries: np.ndarray, points: np.ndarray) -> np.ndarray:
    squared = (queries * queries).sum(axis=1)[:, None] + (points * points).sum(axis=1)[None, :]
    return np.clip(squared - 2 * queries @ points.T, 0.0, None)


def _squared_radii(points: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each point to its k-th nearest other point."""
    radii = np.empty(points.shape[0])
    for start in range(0, points.shape[0], _BLOCK_ROWS):
        block = _squared_distances(points[start : start + _BLOCK_ROWS], points)
        # Position 0 of each sorted row is the point itself, at distance 0.
        radii[start : start + _BLOCK_ROWS] = np.partition(block, k, axis=1)[:, k]
    return radii


def _share_inside(queries: np.ndarray, *, manifold: np.ndarray, k: int) -> float:
    radii = _squared_radii(manifold, k) + _SAME_POINT
    inside = 0
    for start in range(0, queries.shape[0], _BLOCK_ROWS):
        block = _squared_distances(queries[start : start + _BLOCK_ROWS], manifold)
        inside += int(np.count_nonzero((block <= radii[None, :]).any(axis=1)))
    return inside / queries.shape[0]


@dataclass(frozen=True)
class NearestRealSummary:
    """Synthetic samples' cosine similarity to their nearest real sample: how many
    are (near-)copies of real data, and the histogram and quantiles behind it."""

    count: int
    copy_threshold: float
    copy_count: int
    copy_share: float
    edges: list[float]
    counts: list[int]
    p10: float
    p50: float
    p90: float
    p99: float


def nearest_real_summary(similarities: Iterable[float | None], *, copy_threshold: float) -> NearestRealSummary | None:
    """A sample counts as a copy when its similarity is at least `copy_threshold`.
    None values (no real sample to compare with) are left out; None when no value
    is left. The histogram bins are SIMILARITY_EDGES; a similarity below 0 is
    counted in the first bin and rounding above 1 in the last, so every sample
    appears in the figure."""
    values = np.array([v for v in similarities if v is not None], dtype=np.float64)
    if values.size == 0:
        return None
    copies = int(np.count_nonzero(values >= copy_threshold))
    p10, p50, p90, p99 = (float(v) for v in np.percentile(values, [10, 50, 90, 99]))
    return NearestRealSummary(
        count=int(values.size),
        copy_threshold=copy_threshold,
        copy_count=copies,
        copy_share=copies / values.size,
        edges=list(SIMILARITY_EDGES),
        counts=histogram(np.clip(values, 0.0, 1.0), SIMILARITY_EDGES),
        p10=p10,
        p50=p50,
        p90=p90,
        p99=p99,
    )
