"""The numbers leads see, as pure functions of plain counts: the noise floor
and its interval, comparisons between generators, and reviewer agreement.

No database here, so each formula is tested against published examples.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2)


def wilson_interval(wrong: int, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Score interval for a proportion (Wilson 1927); sound at 0 and n, unlike the Wald interval."""
    if n <= 0:
        return 0.0, 1.0
    if not 0 <= wrong <= n:
        raise ValueError(f"wrong must lie in 0..n, got {wrong} of {n}")
    z = _z(confidence)
    share = wrong / n
    denominator = 1 + z * z / n
    centre = (share + z * z / (2 * n)) / denominator
    half = z * math.sqrt(share * (1 - share) / n + z * z / (4 * n * n)) / denominator
    # At 0 and n the bounds are exactly 0 and 1; floating point would leave dust.
    low = 0.0 if wrong == 0 else max(0.0, centre - half)
    high = 1.0 if wrong == n else min(1.0, centre + half)
    return low, high


def audit_size_to_clear(rate: float, limit: float, confidence: float = 0.95) -> int | None:
    """The judged items from which on every audit's Wilson upper bound is within
    `limit` if the share wrong stays at `rate` (ceil(rate·n) wrong of n): the audit
    size a refusal can honestly advise.
    None when `rate` is itself at or above the limit: no size will pass, as the
    upper bound only falls towards the rate as n grows."""
    if not 0 <= rate < limit < 1:
        return None
    z2 = _z(confidence) ** 2

    def fewest(passes: Callable[[int], bool]) -> int:
        """The least n that passes, for a test that passes from some n on and fails before it."""
        high = 1
        while not passes(high):
            high *= 2
        low = high // 2  # fails (or 0): the answer lies in (low, high]
        while high - low > 1:
            middle = (low + high) // 2
            low, high = (low, middle) if passes(middle) else (middle, high)
        return high

    def wrong_at(n: int) -> int:
        # An audit finds whole wrong items: at n items the observed rate means ceil(rate·n) of them
        # (rounded first, so 4/60 of 60 is 4, not 5).
        return math.ceil(round(rate * n, 9))

    # At a whole count the bound saw-tooths as n grows (each extra wrong item lifts it), so "at least
    # n items" is true only from the n after the last failing size. Below the continuous answer every
    # size fails (ceil(rate·n)/n ≥ rate); past the size where even rate + 1/n (more than any
    # ceil(rate·n)/n) passes, every size passes; the sizes between are checked one by one.
    start = fewest(lambda n: _wilson_high(rate, n, z2) <= limit)
    safe = fewest(lambda n: _wilson_high(rate + 1 / n, n, z2) <= limit)
    failing = [n for n in range(start, safe) if wilson_interval(wrong_at(n), n, confidence)[1] > limit]
    return failing[-1] + 1 if failing else start


def _wilson_high(share: float, n: int, z2: float) -> float:
    """The same score interval as wilson_interval, at a share wrong rather than a whole count."""
    if share >= 1:
        return 1.0
    centre = share + z2 / (2 * n)
    half = math.sqrt(z2 * share * (1 - share) / n + z2 * z2 / (4 * n * n))
    return (centre + half) / (1 + z2 / n)


@dataclass(frozen=True)
class NoiseFloor:
    """wrong / (correct + wrong), with "unsure" beside it and never dropped silently."""

    correct: int
    wrong: int
    unsure: int
    confidence: float = 0.95

    @property
    def judged(self) -> int:
        return self.correct + self.wrong

    @property
    def rate(self) -> float | None:
        return self.wrong / self.judged if self.judged else None

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.wrong, self.judged, self.confidence)

    @property
    def unsure_share(self) -> float | None:
        total = self.judged + self.unsure
        return self.unsure / total if total else None


@dataclass(frozen=True)
class NoiseFloorFigures:
    """An audit's noise floor as it is shown and frozen: the JSON under `Audit.frozen_figures["noise_floor"]`.

    Counts as well as the figures computed from them, so a closed audit shows the numbers it closed
    with even if a formula changes later. `unsure` counts unsure verdicts only; `split` counts items
    reviewers disagreed on with no majority and no lead's decision. Both stay out of the rate and
    both count in `unsure_share`. `low` and `high` (95% Wilson) are None while nothing is judged.
    """

    correct: int
    wrong: int
    unsure: int
    split: int
    judged: int
    rate: float | None
    low: float | None
    high: float | None
    unsure_share: float | None

    @classmethod
    def from_counts(
        cls, *, correct: int, wrong: int, unsure: int, split: int, confidence: float = 0.95
    ) -> NoiseFloorFigures:
        floor = NoiseFloor(correct=correct, wrong=wrong, unsure=unsure + split, confidence=confidence)
        low, high = floor.interval
        return cls(
            correct=floor.correct,
            wrong=floor.wrong,
            unsure=unsure,
            split=split,
            judged=floor.judged,
            rate=floor.rate,
            low=low if floor.judged else None,
            high=high if floor.judged else None,
            unsure_share=floor.unsure_share,
        )

    def to_json(self) -> dict[str, int | float | None]:
        """The stored shape; its keys and their order are what closed audits hold."""
        return {
            "correct": self.correct,
            "wrong": self.wrong,
            "unsure": self.unsure,
            "split": self.split,
            "judged": self.judged,
            "rate": self.rate,
            "low": self.low,
            "high": self.high,
            "unsure_share": self.unsure_share,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> NoiseFloorFigures:
        """Read a stored noise floor (or a breakdown row, which holds the same keys and more) as it was
        frozen: the stored figures are kept, never recomputed. A row without `split` or `unsure_share`
        reads them as 0 and None, as the pages always have."""
        return cls(
            correct=data["correct"],
            wrong=data["wrong"],
            unsure=data["unsure"],
            split=data.get("split", 0),
            judged=data["judged"],
            rate=data["rate"],
            low=data["low"],
            high=data["high"],
            unsure_share=data.get("unsure_share"),
        )


@dataclass(frozen=True)
class BreakdownFloor:
    """One generator's, template version's or run's own noise floor inside an audit: a row of
    `Audit.frozen_figures["breakdowns"][key]`, stored flat as its id, label and items beside the
    noise floor's keys."""

    id: int | None
    label: str
    items: int
    floor: NoiseFloorFigures

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "label": self.label, "items": self.items, **self.floor.to_json()}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> BreakdownFloor:
        return cls(
            id=data["id"], label=data["label"], items=data.get("items", 0), floor=NoiseFloorFigures.from_json(data)
        )


def planned_interval_width(n: int, expected_rate: float, confidence: float = 0.95) -> float:
    """Width of the Wilson interval an audit of n items gives if the noise floor
    is `expected_rate`: what the audit planner shows before a lead commits."""
    if n <= 0:
        return 1.0
    low, high = wilson_interval(round(expected_rate * n), n, confidence)
    return high - low


def fisher_exact(a: int, b: int, c: int, d: int) -> float:
    """Two-sided p-value of Fisher's exact test on [[a, b], [c, d]]: the sum of
    the probabilities of all tables with the same margins that are no more
    likely than the observed one (Fisher 1935). Exact at audit sizes (50–100),
    where the two-proportion z-test's normal approximation is poor for small
    error rates."""
    row1, row2, col1 = a + b, c + d, a + c
    total = row1 + row2

    def log_probability(x: int) -> float:
        return _log_comb(row1, x) + _log_comb(row2, col1 - x) - _log_comb(total, col1)

    observed = log_probability(a)
    low, high = max(0, col1 - row2), min(row1, col1)
    # A relative tolerance, as tables equally likely to the observed one must all count.
    p = sum(math.exp(lp) for x in range(low, high + 1) if (lp := log_probability(x)) <= observed + 1e-7)
    return min(1.0, p)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def cohen_kappa(first: Sequence[str], second: Sequence[str]) -> float | None:
    """Agreement of two reviewers on the same items beyond chance (Cohen 1960)."""
    if len(first) != len(second):
        raise ValueError("both reviewers must rate the same items")
    n = len(first)
    if n == 0:
        return None
    observed = sum(x == y for x, y in zip(first, second)) / n
    categories = set(first) | set(second)
    expected = sum((list(first).count(c) / n) * (list(second).count(c) / n) for c in categories)
    if expected == 1:
        return None  # every rating is the same category: kappa is undefined
    return (observed - expected) / (1 - expected)


def fleiss_kappa(counts: Sequence[Sequence[int]]) -> float | None:
    """Agreement of several reviewers (Fleiss 1971). `counts[i][j]` is how many
    reviewers put item i in category j; every item has the same number of ratings."""
    if not counts:
        return None
    raters = sum(counts[0])
    if raters < 2 or any(sum(row) != raters for row in counts):
        raise ValueError("every item needs the same number of ratings, at least two")
    items = len(counts)
    categories = len(counts[0])
    shares = [sum(row[j] for row in counts) / (items * raters) for j in range(categories)]
    agreement = [(sum(x * x for x in row) - raters) / (raters * (raters - 1)) for row in counts]
    observed = sum(agreement) / items
    expected = sum(p * p for p in shares)
    if expected == 1:
        return None
    return (observed - expected) / (1 - expected)
