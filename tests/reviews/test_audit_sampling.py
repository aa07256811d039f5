"""Stratified audit draws: proportional, every stratum seen, reproducible from the seed."""

from __future__ import annotations

from collections import Counter

from reviews.quality.audit_sampling import stratified_allocation, stratified_draw


def test_allocation_is_proportional_to_stratum_size():
    assert stratified_allocation({"a": 600, "b": 300, "c": 100}, 60) == {"a": 36, "b": 18, "c": 6}


def test_a_small_stratum_still_gets_one_item():
    allocation = stratified_allocation({"big": 9990, "tiny": 10}, 50)
    assert allocation["tiny"] == 1
    assert sum(allocation.values()) == 50


def test_allocation_never_exceeds_a_stratum_and_caps_at_the_population():
    # 60 of 103: a's quota is 1.75, b's 58.25.
    assert stratified_allocation({"a": 3, "b": 100}, 60) == {"a": 2, "b": 58}
    assert stratified_allocation({"a": 3, "b": 100}, 102) == {"a": 3, "b": 99}
    assert stratified_allocation({"a": 3, "b": 4}, 60) == {"a": 3, "b": 4}


def test_remainders_go_to_the_largest_fractions():
    # 10 items over 3 equal strata: 3 each and one left over, so the total is exactly 10.
    allocation = stratified_allocation({"a": 50, "b": 50, "c": 50}, 10)
    assert sorted(allocation.values()) == [3, 3, 4]


def test_the_same_seed_draws_the_same_audit_and_another_seed_does_not():
    strata = {("gen-a", 1): list(range(0, 500)), ("gen-b", 1): list(range(500, 800))}
    first = stratified_draw(strata, 60, seed=7)
    assert first == stratified_draw(strata, 60, seed=7)
    assert first != stratified_draw(strata, 60, seed=8)
    assert len(set(first)) == 60
    per_stratum = Counter("a" if pk < 500 else "b" for pk in first)
    assert per_stratum == {"a": 38, "b": 22}  # 60 × 500/800 = 37.5 → 38, 60 × 300/800 = 22.5 → 22
