"""How an audit draws its items: a stratified random sample across the
generators and template versions in scope, reproducible from its seed.

Pure functions of plain data; the audit service feeds them ids.
"""

from __future__ import annotations

import math
import random
from collections.abc import Hashable, Mapping, Sequence
from typing import TypeVar

# How many items one audit may draw: fewer says nothing, more than a day's work is not an audit.
MIN_AUDIT_SIZE, MAX_AUDIT_SIZE = 10, 500

Stratum = TypeVar("Stratum", bound=Hashable)


def stratified_allocation(stratum_sizes: Mapping[Stratum, int], n: int) -> dict[Stratum, int]:
    """Items per stratum: proportional to the stratum's size (the floors of the
    quotas, then one more to the strata furthest below their quota, ties to the
    larger stratum), at least one per stratum while n allows, and never more
    than a stratum holds."""
    sizes = {key: size for key, size in stratum_sizes.items() if size > 0}
    total = sum(sizes.values())
    n = min(n, total)
    if n <= 0:
        return {key: 0 for key in stratum_sizes}
    quotas = {key: n * size / total for key, size in sizes.items()}
    allocation = {key: min(size, math.floor(quotas[key])) for key, size in sizes.items()}
    # Every stratum is seen at least once when n allows, so a small generator cannot vanish from the audit.
    if n >= len(sizes):
        for key in sizes:
            allocation[key] = max(allocation[key], 1)
    while sum(allocation.values()) > n:
        # Take back from the stratum furthest above its quota that can spare one.
        key = max((k for k in sizes if allocation[k] > 1), key=lambda k: (allocation[k] - quotas[k], sizes[k]))
        allocation[key] -= 1
    while sum(allocation.values()) < n:
        key = max(
            (k for k in sizes if allocation[k] < sizes[k]), key=lambda k: (quotas[k] - allocation[k], sizes[k], str(k))
        )
        allocation[key] += 1
    return {key: allocation.get(key, 0) for key in stratum_sizes}


def stratified_draw(strata: Mapping[Stratum, Sequence[int]], n: int, seed: int) -> list[int]:
    """n sample ids drawn without replacement, stratum by stratum, then shuffled
    into the order reviewers see them. The same strata and seed give the same audit."""
    rng = random.Random(seed)
    allocation = stratified_allocation({key: len(ids) for key, ids in strata.items()}, n)
    chosen: list[int] = []
    for key in sorted(strata, key=str):
        ids = sorted(strata[key])
        chosen.extend(rng.sample(ids, allocation[key]))
    rng.shuffle(chosen)
    return chosen
