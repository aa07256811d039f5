"""Quality figures of a set of texts and their labels, as pure functions of plain data.

Diversity (distinct-n), length and its spread, how far two length distributions
lie apart (Kolmogorov–Smirnov), and how the labels of synthetic data compare with
the real data's. No database here, so every figure is tested against values
worked by hand.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

_WORD = re.compile(r"\w+")


def words(text: str) -> list[str]:
    """Lowercase word tokens; punctuation and whitespace only separate them."""
    return _WORD.findall(text.lower())


def word_counts(texts: Iterable[str]) -> list[int]:
    return [len(words(text)) for text in texts]


def distinct_n(texts: Iterable[str], n: int) -> float:
    """Distinct n-grams over all n-grams of all the texts (distinct-n, Li et al. 2016).

    Near 1 when the texts rarely repeat a phrase; low when a generator loops on
    itself or every sample says the same thing. N-grams never span two texts.
    No n-grams at all (every text shorter than n words) gives 0.0.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    seen: set[tuple[str, ...]] = set()
    total = 0
    for text in texts:
        tokens = words(text)
        for gram in zip(*(tokens[i:] for i in range(n))):
            seen.add(gram)
            total += 1
    return len(seen) / total if total else 0.0


@dataclass(frozen=True)
class LengthSummary:
    """Lengths in words. `spread` is the coefficient of variation (std / mean): a
    generator whose spread is far below the real data's writes to one length."""

    count: int
    mean: float | None
    std: float | None
    p10: float | None
    p50: float | None
    p90: float | None
    spread: float | None


def length_summary(texts: Iterable[str]) -> LengthSummary:
    """Mean, population standard deviation, 10th/50th/90th percentiles (linear
    interpolation) and coefficient of variation of the texts' word counts."""
    lengths = np.asarray(word_counts(texts), dtype=np.float64)
    if lengths.size == 0:
        return LengthSummary(0, None, None, None, None, None, None)
    mean = float(lengths.mean())
    std = float(lengths.std())
    p10, p50, p90 = (float(v) for v in np.percentile(lengths, [10, 50, 90]))
    # Every text empty: no length to spread around.
    spread = std / mean if mean > 0 else None
    return LengthSummary(int(lengths.size), mean, std, p10, p50, p90, spread)


def ks_distance(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Two-sample Kolmogorov–Smirnov statistic: the largest gap between the two
    empirical distribution functions (Smirnov 1939). 0 for the same distribution,
    1 when every value of one sample lies below every value of the other.
    None when either sample is empty."""
    first = np.sort(np.asarray(a, dtype=np.float64))
    second = np.sort(np.asarray(b, dtype=np.float64))
    if first.size == 0 or second.size == 0:
        return None
    # Both step functions only jump at observed values, so the gap peaks at one of them.
    points = np.concatenate([first, second])
    cdf_first = np.searchsorted(first, points, side="right") / first.size
    cdf_second = np.searchsorted(second, points, side="right") / second.size
    return float(np.max(np.abs(cdf_first - cdf_second)))


def ks_distance_within(a: Sequence[float], b: Sequence[float], *, tolerance: float) -> float | None:
    """The Kolmogorov–Smirnov gap with lengths within a factor of `tolerance` of each other
    counted as alike: the larger of max over x of F_b(x) − F_a(tolerance·x) (a runs longer
    than b by more than the factor) and F_a(x) − F_b(tolerance·x) (a runs shorter). A
    tolerance of 1 gives the plain statistic. None when either sample is empty."""
    if tolerance < 1:
        raise ValueError(f"tolerance must be at least 1, got {tolerance}")
    first = np.sort(np.asarray(a, dtype=np.float64))
    second = np.sort(np.asarray(b, dtype=np.float64))
    if first.size == 0 or second.size == 0:
        return None
    # Each one-sided gap peaks where its leading step function jumps: at an observed value.
    points = np.concatenate([first, second])

    def cdf(sample: np.ndarray, at: np.ndarray) -> np.ndarray:
        return np.searchsorted(sample, at, side="right") / sample.size

    longer = np.max(cdf(second, points) - cdf(first, points * tolerance))
    shorter = np.max(cdf(first, points) - cdf(second, points * tolerance))
    return float(max(0.0, longer, shorter))


def length_distance(
    synthetic: Sequence[tuple[int, str | None]], real: Sequence[tuple[int, str | None]], *, tolerance: float
) -> float | None:
    """How far the synthetic lengths lie from the real ones, like with like: `ks_distance_within`
    per label, averaged weighted by each label's synthetic count. Each synthetic label is compared
    with the real samples of that label; unlabelled synthetic samples with all real ones; a label
    no real sample has is left out, since nothing real says how long it should be. When no real
    sample has a label, all lengths are compared at once. None when nothing is compared."""
    real_all = [length for length, _ in real]
    real_by_label: dict[str, list[int]] = {}
    for length, label in real:
        if label is not None:
            real_by_label.setdefault(label, []).append(length)
    groups: dict[str | None, list[int]] = {}
    for length, label in synthetic:
        groups.setdefault(label if real_by_label else None, []).append(length)
    weighted, compared = 0.0, 0
    # Sorted, so the float sum runs in one order whatever order the samples came in.
    for label in sorted(groups, key=lambda name: (name is not None, name or "")):
        reference = real_all if label is None else real_by_label.get(label)
        gap = ks_distance_within(groups[label], reference, tolerance=tolerance) if reference else None
        if gap is not None:
            weighted += gap * len(groups[label])
            compared += len(groups[label])
    return weighted / compared if compared else None


def histogram(values: Iterable[float], edges: Sequence[float]) -> list[int]:
    """Counts per bin [edges[i], edges[i+1]); the last bin also holds its right edge.
    Values outside the edges are not counted."""
    bounds = np.asarray(edges, dtype=np.float64)
    if bounds.ndim != 1 or bounds.size < 2 or np.any(np.diff(bounds) <= 0):
        raise ValueError("edges must be at least two strictly increasing numbers")
    counts, _ = np.histogram(np.fromiter(values, dtype=np.float64), bins=bounds)
    return [int(c) for c in counts]


def label_divergence(labels_a: Iterable[str | None], labels_b: Iterable[str | None]) -> float | None:
    """Jensen–Shannon divergence of two label distributions, in bits (Lin 1991):
    0 when the shares are the same, 1 when no label is shared. None labels are
    left out; None when either side has no label at all."""
    first = Counter(label for label in labels_a if label is not None)
    second = Counter(label for label in labels_b if label is not None)
    if not first or not second:
        return None
    total_first, total_second = sum(first.values()), sum(second.values())
    divergence = 0.0
    # Sorted, so the float sum runs in one order whatever order the labels came in.
    for label in sorted(first.keys() | second.keys()):
        p = first[label] / total_first
        q = second[label] / total_second
        m = (p + q) / 2
        # 0 * log 0 is 0: a label missing on one side adds only the other side's term.
        if p:
            divergence += 0.5 * p * math.log2(p / m)
        if q:
            divergence += 0.5 * q * math.log2(q / m)
    return min(1.0, max(0.0, divergence))


@dataclass(frozen=True)
class ClassBalanceRow:
    """`synthetic_share` is the synthetic part of the label's samples: near 1 for a
    class the synthetic data adds, near 0 for one it leaves to the real data."""

    label: str
    real: int
    synthetic: int
    synthetic_share: float


def class_balance(real_labels: Iterable[str | None], synthetic_labels: Iterable[str | None]) -> list[ClassBalanceRow]:
    """Real and synthetic counts per label, sorted by label; None labels are left out."""
    real = Counter(label for label in real_labels if label is not None)
    synthetic = Counter(label for label in synthetic_labels if label is not None)
    return [
        ClassBalanceRow(label, real[label], synthetic[label], synthetic[label] / (real[label] + synthetic[label]))
        for label in sorted(real.keys() | synthetic.keys())
    ]
