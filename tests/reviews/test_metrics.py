"""The leads' numbers against published examples, never against this code's own output."""

from __future__ import annotations

import pytest

from reviews.metrics import (
    NoiseFloor,
    cohen_kappa,
    fisher_exact,
    fleiss_kappa,
    planned_interval_width,
    wilson_interval,
)


def test_wilson_interval_matches_newcombe_1998():
    # Newcombe (1998), Statistics in Medicine 17:857, table I: 81/263 → 0.2553 to 0.3662.
    low, high = wilson_interval(81, 263)
    assert low == pytest.approx(0.2553, abs=5e-5)
    assert high == pytest.approx(0.3662, abs=5e-5)


def test_wilson_interval_at_zero_wrong_is_not_degenerate():
    # Newcombe (1998), table I: 0/10 → 0 to 0.2775 (the Wald interval would be 0 to 0).
    low, high = wilson_interval(0, 10)
    assert low == 0.0
    assert high == pytest.approx(0.2775, abs=5e-5)


def test_wilson_interval_refuses_more_wrong_than_judged():
    with pytest.raises(ValueError):
        wilson_interval(11, 10)


def test_noise_floor_leaves_unsure_out_of_the_rate_but_reports_it():
    floor = NoiseFloor(correct=54, wrong=6, unsure=5)
    assert floor.rate == pytest.approx(0.10)
    assert floor.unsure_share == pytest.approx(5 / 65)
    low, high = floor.interval
    assert low < 0.10 < high


def test_a_larger_audit_plans_a_narrower_interval():
    assert planned_interval_width(100, 0.1) < planned_interval_width(50, 0.1)


def test_fisher_exact_on_the_lady_tasting_tea():
    # Fisher (1935): 3 of 4 cups right each way → two-sided p = 34/70 = 0.4857.
    assert fisher_exact(3, 1, 1, 3) == pytest.approx(34 / 70, abs=1e-4)


def test_fisher_exact_sees_a_clear_difference():
    # 1 of 60 wrong against 15 of 60 wrong: the two generators differ (p well below 0.05).
    assert fisher_exact(1, 59, 15, 45) < 0.001


def test_cohen_kappa_matches_the_textbook_example():
    # 50 items: both yes 20, A yes B no 5, A no B yes 10, both no 15 → po 0.7, pe 0.5, kappa 0.4.
    first = ["yes"] * 20 + ["yes"] * 5 + ["no"] * 10 + ["no"] * 15
    second = ["yes"] * 20 + ["no"] * 5 + ["yes"] * 10 + ["no"] * 15
    assert cohen_kappa(first, second) == pytest.approx(0.4)


def test_fleiss_kappa_matches_fleiss_1971_worked_example():
    # The 10 items × 14 raters × 5 categories example (Wikipedia, "Fleiss' kappa"): kappa 0.210.
    counts = [
        [0, 0, 0, 0, 14],
        [0, 2, 6, 4, 2],
        [0, 0, 3, 5, 6],
        [0, 3, 9, 2, 0],
        [2, 2, 8, 1, 1],
        [7, 7, 0, 0, 0],
        [3, 2, 6, 3, 0],
        [2, 5, 3, 2, 2],
        [6, 5, 2, 1, 0],
        [0, 2, 2, 3, 7],
    ]
    assert fleiss_kappa(counts) == pytest.approx(0.210, abs=5e-4)


def test_fleiss_kappa_needs_the_same_number_of_ratings_per_item():
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 1], [2, 1]])
