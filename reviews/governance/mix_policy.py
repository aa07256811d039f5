"""The mix-in rule: past the prototype phase a training export keeps a minimum
share of real data, and optionally no generator above a cap. A refusal says by
how much the export missed and what would satisfy the rule: the real samples to
add, or the synthetic ones to drop, by generator.

Pure functions of counts, with exact fractions so a boundary share (exactly 80%
real) is never refused by floating-point dust.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from reviews.quality.audit_sampling import stratified_allocation

# Phase → minimum real share of a training export (the practice's 100/0 → 50/50 → 80/20 → 95/5).
PHASE_MIN_REAL_SHARE: dict[int, Fraction] = {0: Fraction(0), 1: Fraction(1, 2), 2: Fraction(4, 5), 3: Fraction(19, 20)}


def minimum_real_share(phase: int, custom: float | None = None) -> Fraction:
    """The project's custom minimum when set, else its phase's."""
    if custom is not None:
        if not 0 <= custom <= 1:
            raise ValueError(f"a minimum real share lies in 0..1, got {custom}")
        return Fraction(custom).limit_denominator(10_000)
    if phase not in PHASE_MIN_REAL_SHARE:
        raise ValueError(f"unknown phase {phase}")
    return PHASE_MIN_REAL_SHARE[phase]


@dataclass(frozen=True)
class MixDecision:
    real: int
    synthetic: int
    minimum: Fraction
    real_to_add: int | None
    synthetic_to_drop: int
    drop_by_generator: dict[str, int] = field(default_factory=dict)
    over_cap: dict[str, int] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return self.real + self.synthetic

    @property
    def real_share(self) -> Fraction | None:
        return Fraction(self.real, self.total) if self.total else None

    @property
    def allowed(self) -> bool:
        return self.synthetic_to_drop == 0 and not self.over_cap

    def reason(self) -> str:
        if self.allowed:
            return ""
        parts = []
        if self.synthetic_to_drop:
            share = float(self.real_share or 0)
            add = (
                "no number of real samples is enough at a 100% minimum"
                if self.real_to_add is None
                else f"add {self.real_to_add:,} real sample{'s' if self.real_to_add != 1 else ''}"
            )
            by_generator = ", ".join(f"{n:,} from {g}" for g, n in self.drop_by_generator.items() if n)
            parts.append(
                f"The export is {share:.1%} real, below the minimum of {float(self.minimum):.0%}: "
                f"{add}, or drop {self.synthetic_to_drop:,} synthetic ({by_generator})."
            )
        for generator, excess in self.over_cap.items():
            parts.append(f"Generator {generator} is over its cap: drop {excess:,} of its samples.")
        return " ".join(parts)


def _real_to_add(real: int, synthetic: int, minimum: Fraction) -> int | None:
    """Least a with (real + a) / (real + a + synthetic) ≥ minimum."""
    if minimum >= 1:
        return None if synthetic else 0
    needed = minimum * synthetic / (1 - minimum) - real
    return max(0, math.ceil(needed))


def _synthetic_to_drop(real: int, synthetic: int, minimum: Fraction) -> int:
    """Least d with real / (real + synthetic - d) ≥ minimum (dropping all synthetic always satisfies it)."""
    if minimum == 0:
        return 0
    allowed = math.floor(real * (1 - minimum) / minimum)
    return max(0, synthetic - allowed)


def _cap_excess(synthetic_by_generator: Mapping[str, int], total: int, caps: Mapping[str, float]) -> dict[str, int]:
    """Samples to drop from each capped generator so its share of the export is at most its cap."""
    excess = {}
    for generator, cap in caps.items():
        count = synthetic_by_generator.get(generator, 0)
        share_cap = Fraction(cap).limit_denominator(10_000)
        if share_cap >= 1 or count == 0:
            continue
        # Largest k with k / (total - count + k) ≤ cap: the rest of the export stays as it is.
        keep = math.floor(share_cap * (total - count) / (1 - share_cap))
        if count > keep:
            excess[generator] = count - keep
    return excess


def mix_decide(
    *,
    real: int,
    synthetic_by_generator: Mapping[str, int],
    minimum: Fraction,
    caps: Mapping[str, float] | None = None,
) -> MixDecision:
    synthetic = sum(synthetic_by_generator.values())
    drop = _synthetic_to_drop(real, synthetic, minimum)
    by_generator = stratified_allocation(dict(synthetic_by_generator), drop) if drop else {}
    return MixDecision(
        real=real,
        synthetic=synthetic,
        minimum=minimum,
        real_to_add=_real_to_add(real, synthetic, minimum),
        synthetic_to_drop=drop,
        drop_by_generator={g: n for g, n in by_generator.items() if n},
        over_cap=_cap_excess(synthetic_by_generator, real + synthetic, caps or {}),
    )
