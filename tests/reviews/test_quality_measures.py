"""The quality measures against values worked by hand in the comments, never
against this code's own output; and, where scipy happens to be installed, against
its independent implementation."""

from __future__ import annotations

import math
from itertools import combinations

import numpy as np
import pytest

from reviews.quality.embedding_measures import (
    SIMILARITY_EDGES,
    frechet_distance,
    mean_pairwise_distance,
    nearest_real_summary,
    precision_recall_knn,
    vendi_score,
)
from reviews.quality.text_measures import (
    ClassBalanceRow,
    class_balance,
    distinct_n,
    histogram,
    ks_distance,
    label_divergence,
    length_summary,
)


def unit_rows(count: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dim))
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def column(*values: float) -> np.ndarray:
    """One-dimensional points as rows."""
    return np.array(values, dtype=np.float64)[:, None]


# distinct-n


def test_distinct_2_counts_each_bigram_once():
    # "a b a b": bigrams "a b", "b a", "a b" → 2 distinct of 3.
    assert distinct_n(["a b a b"], 2) == pytest.approx(2 / 3)


def test_distinct_1_is_the_type_token_ratio():
    # "a b a b": 2 word types of 4 tokens.
    assert distinct_n(["a b a b"], 1) == 0.5


def test_distinct_2_bigrams_never_span_two_texts():
    # "the cat", "cat sat", "the cat", "cat ran" → 3 distinct of 4 = 0.75. A bigram
    # "sat the" across the texts would give 4 of 5 = 0.8.
    assert distinct_n(["the cat sat", "the cat ran"], 2) == 0.75


def test_distinct_n_ignores_case_and_punctuation():
    # "Hello, hello!" → words "hello", "hello": 1 type of 2 tokens.
    assert distinct_n(["Hello, hello!"], 1) == 0.5


def test_distinct_n_without_any_n_gram_is_zero():
    assert distinct_n([], 2) == 0.0
    assert distinct_n(["one", ""], 2) == 0.0


def test_distinct_n_refuses_n_below_one():
    with pytest.raises(ValueError):
        distinct_n(["a b"], 0)


# Lengths


def test_length_summary_of_a_worked_example():
    # Lengths 2 4 4 4 5 5 7 9: mean 40/8 = 5; squared gaps 9+1+1+1+0+0+4+16 = 32,
    # population variance 32/8 = 4, std 2; spread 2/5 = 0.4. Percentiles by linear
    # interpolation over positions 0..7: p10 at 0.7 → 2 + 0.7*(4-2) = 3.4;
    # p50 at 3.5 → (4+5)/2 = 4.5; p90 at 6.3 → 7 + 0.3*(9-7) = 7.6.
    texts = [" ".join(["word"] * n) for n in (2, 4, 4, 4, 5, 5, 7, 9)]
    summary = length_summary(texts)
    assert summary.count == 8
    assert summary.mean == 5.0
    assert summary.std == 2.0
    assert summary.spread == pytest.approx(0.4)
    assert (summary.p10, summary.p50, summary.p90) == pytest.approx((3.4, 4.5, 7.6))


def test_length_summary_counts_words_not_characters():
    # "Hello, world!" is two words however it is punctuated.
    assert length_summary(["Hello, world!"]).mean == 2.0


def test_length_summary_of_no_texts_is_empty_and_of_empty_texts_has_no_spread():
    assert length_summary([]).count == 0 and length_summary([]).mean is None
    all_empty = length_summary(["", "  "])
    assert all_empty.mean == 0.0 and all_empty.spread is None


# Kolmogorov–Smirnov


def test_ks_of_samples_that_do_not_overlap_is_one():
    # Every value of the first lies below every value of the second: at x = 3 the
    # first CDF is 1 and the second 0.
    assert ks_distance([1, 2, 3], [4, 5, 6]) == 1.0


def test_ks_of_identical_samples_is_zero():
    assert ks_distance([3, 1, 2], [1, 2, 3]) == 0.0


def test_ks_of_half_overlapping_samples():
    # At x = 2: F_a = 2/4, F_b = 0 → 0.5; at x = 4: F_a = 1, F_b = 2/4 → 0.5; no gap is larger.
    assert ks_distance([1, 2, 3, 4], [3, 4, 5, 6]) == 0.5
    assert ks_distance([3, 4, 5, 6], [1, 2, 3, 4]) == 0.5


def test_ks_with_ties_and_unequal_sizes():
    # a = 1 1 2, b = 1 2 2: at x = 1, F_a = 2/3 and F_b = 1/3 → 1/3; at x = 2 both are 1.
    assert ks_distance([1, 1, 2], [1, 2, 2]) == pytest.approx(1 / 3)
    # a = 1 2, b = 1 2 3 4: at x = 2, F_a = 1 and F_b = 2/4 → 0.5.
    assert ks_distance([1, 2], [1, 2, 3, 4]) == 0.5


def test_ks_of_an_empty_sample_is_none():
    assert ks_distance([], [1.0]) is None


def test_ks_agrees_with_scipy_on_random_samples():
    stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=300), rng.normal(0.3, 1.2, size=170)
    assert ks_distance(a, b) == pytest.approx(stats.ks_2samp(a, b).statistic)


# Histogram


def test_histogram_bins_are_left_closed_and_the_last_is_closed_on_both_sides():
    # [0, 0.5) holds 0; [0.5, 1.0] holds 0.5, 0.99 and 1.0; 1.5 and -0.1 lie outside.
    assert histogram([0, 0.5, 0.99, 1.0, 1.5, -0.1], [0, 0.5, 1.0]) == [1, 3]


def test_histogram_refuses_edges_that_do_not_increase():
    with pytest.raises(ValueError):
        histogram([0.5], [0, 1, 1])
    with pytest.raises(ValueError):
        histogram([0.5], [0])


# Label divergence


def test_js_of_the_same_shares_is_zero():
    assert label_divergence(["a", "b", "b"], ["b", "a", "b"]) == 0.0


def test_js_of_disjoint_labels_is_one_bit():
    # M = (1/2, 1/2); KL(P||M) = 1 * log2(1 / (1/2)) = 1 on each side, so JS = 1.
    assert label_divergence(["a", "a"], ["b"]) == pytest.approx(1.0)


def test_js_of_a_worked_example():
    # P = (a: 1, b: 0), Q = (a: 1/2, b: 1/2), M = (3/4, 1/4).
    # KL(P||M) = log2(4/3) = 0.4150375; KL(Q||M) = 1/2 log2(2/3) + 1/2 log2(2) = 0.2075187.
    # JS = (0.4150375 + 0.2075187) / 2 = 0.3112781.
    assert label_divergence(["a", "a"], ["a", "b"]) == pytest.approx(0.3112781, abs=1e-7)


def test_js_leaves_missing_labels_out():
    assert label_divergence(["a", None], ["a"]) == 0.0
    assert label_divergence([None, None], ["a"]) is None
    assert label_divergence(["a"], []) is None


# Class balance


def test_class_balance_shows_which_labels_the_synthetic_data_adds():
    # neg: 1 real, 0 synthetic → share 0; neu: 0 real, 2 synthetic → share 1;
    # pos: 2 real, 1 synthetic → share 1/3. None labels are left out.
    rows = class_balance(["pos", "pos", "neg", None], ["pos", "neu", "neu", None])
    assert rows == [
        ClassBalanceRow("neg", real=1, synthetic=0, synthetic_share=0.0),
        ClassBalanceRow("neu", real=0, synthetic=2, synthetic_share=1.0),
        ClassBalanceRow("pos", real=2, synthetic=1, synthetic_share=pytest.approx(1 / 3)),
    ]


def test_class_balance_of_no_labels_is_empty():
    assert class_balance([], [None]) == []


# Mean pairwise distance


def test_mean_pairwise_distance_of_orthogonal_identical_and_opposite_pairs():
    e1, e2 = [1.0, 0.0], [0.0, 1.0]
    # cos = 0 → distance 1; cos = 1 → 0; cos = -1 → 2.
    assert mean_pairwise_distance(np.array([e1, e2])) == pytest.approx(1.0)
    assert mean_pairwise_distance(np.array([e1, e1])) == pytest.approx(0.0)
    assert mean_pairwise_distance(np.array([e1, [-1.0, 0.0]])) == pytest.approx(2.0)


def test_mean_pairwise_distance_of_a_worked_example():
    # e1, e1, e2: pair distances 0, 1, 1 → mean 2/3.
    assert mean_pairwise_distance(np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])) == pytest.approx(2 / 3)


def test_mean_pairwise_distance_matches_the_mean_over_every_pair():
    rows = unit_rows(40, 8, seed=2)
    pairs = [1 - float(a.astype(np.float64) @ b) for a, b in combinations(rows, 2)]
    assert mean_pairwise_distance(rows) == pytest.approx(sum(pairs) / len(pairs), abs=1e-6)


def test_mean_pairwise_distance_needs_two_rows():
    assert mean_pairwise_distance(np.ones((1, 3))) is None


# Vendi score


def test_vendi_of_copies_of_one_vector_is_one():
    # K is all ones; K/n has one eigenvalue 1: entropy 0, exp 0 = 1.
    assert vendi_score(np.tile(unit_rows(1, 5, seed=3), (7, 1))) == pytest.approx(1.0)


def test_vendi_of_orthonormal_vectors_is_their_number():
    # K = I, K/n has n eigenvalues 1/n: entropy ln n, exp = n (Friedman & Dieng 2023).
    assert vendi_score(np.eye(6)[:4]) == pytest.approx(4.0)


def test_vendi_of_two_vectors_sixty_degrees_apart():
    # K = [[1, 1/2], [1/2, 1]], K/2 has eigenvalues 3/4 and 1/4.
    # H = -(3/4 ln 3/4 + 1/4 ln 1/4) = 0.2157616 + 0.3465736 = 0.5623351; exp = 1.754765.
    rows = np.array([[1.0, 0.0], [0.5, math.sqrt(3) / 2]])
    assert vendi_score(rows) == pytest.approx(1.754765, abs=1e-6)


def test_vendi_counts_a_duplicated_sample_as_less_than_two():
    # e1, e1, e2: K has eigenvalues 2, 1, 0, so K/3 gives 2/3 and 1/3;
    # exp(-(2/3 ln 2/3 + 1/3 ln 1/3)) = 3 / 2^(2/3) = 1.889882.
    rows = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    assert vendi_score(rows) == pytest.approx(3 / 2 ** (2 / 3), abs=1e-6)


def test_vendi_matches_the_n_by_n_kernel_definition():
    rows = unit_rows(30, 10, seed=4).astype(np.float64)
    eigenvalues = np.clip(np.linalg.eigvalsh(rows @ rows.T / 30), 0, None)
    eigenvalues = eigenvalues[eigenvalues > 1e-12]
    assert vendi_score(rows) == pytest.approx(math.exp(-np.sum(eigenvalues * np.log(eigenvalues))), rel=1e-6)


def test_vendi_of_no_rows_is_none():
    assert vendi_score(np.zeros((0, 4))) is None


# Fréchet distance


def test_frechet_of_a_set_with_itself_is_zero():
    rows = unit_rows(200, 16, seed=5)
    assert frechet_distance(rows, rows) == pytest.approx(0.0, abs=1e-6)


def test_frechet_of_a_shifted_set_is_the_squared_shift():
    # Same covariance, means v apart: the trace term cancels, leaving ||v||² = 1 + 4 + 0.25 = 5.25.
    rows = np.random.default_rng(6).normal(size=(80, 3))
    shift = np.array([1.0, -2.0, 0.5])
    assert frechet_distance(rows, rows + shift) == pytest.approx(5.25, abs=1e-9)


def test_frechet_in_one_dimension():
    # x = 0, 2: mean 1, variance (1 + 1)/1 = 2. y = 3, 7: mean 5, variance (4 + 4)/1 = 8.
    # (1 - 5)² + 2 + 8 - 2 √(2·8) = 16 + 10 - 8 = 18, i.e. (Δmean)² + (σx - σy)² = 16 + (√2 - 2√2)².
    assert frechet_distance(column(0, 2), column(3, 7)) == pytest.approx(18.0)


def test_frechet_of_two_covariances_with_swapped_axes():
    # Points (±a, 0), (0, ±b) have mean 0 and, with n - 1 = 3, variances 2a²/3 and 2b²/3.
    # a² = 1.5, b² = 6 → S_x = diag(1, 4); swapped → S_y = diag(4, 1).
    # Tr(S_x + S_y) = 10; (S_x S_y)^½ = diag(2, 2), trace 4 → 10 - 8 = 2.
    a, b = math.sqrt(1.5), math.sqrt(6)
    x = np.array([[a, 0], [-a, 0], [0, b], [0, -b]])
    assert frechet_distance(x, x[:, ::-1]) == pytest.approx(2.0)


def test_frechet_agrees_with_scipy_sqrtm_when_the_covariances_do_not_commute():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(7)
    x = rng.normal(size=(300, 6)) @ rng.normal(size=(6, 6))
    y = rng.normal(size=(250, 6)) @ rng.normal(size=(6, 6)) + 0.3
    sx, sy = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    gap = x.mean(axis=0) - y.mean(axis=0)
    expected = gap @ gap + np.trace(sx + sy - 2 * linalg.sqrtm(sx @ sy).real)
    assert frechet_distance(x, y) == pytest.approx(expected, rel=1e-6)


def test_frechet_needs_two_rows_on_each_side_and_the_same_dimension():
    assert frechet_distance(np.ones((1, 3)), np.ones((5, 3))) is None
    with pytest.raises(ValueError):
        frechet_distance(np.ones((5, 3)), np.ones((5, 4)))


# Precision and recall


def test_synthetic_data_identical_to_the_real_has_full_precision_and_recall():
    real = unit_rows(50, 8, seed=8)
    result = precision_recall_knn(real, real.copy(), k=3)
    assert (result.precision, result.recall) == (1.0, 1.0)
    assert (result.k, result.real_count, result.synthetic_count) == (3, 50, 50)


def test_a_synthetic_cluster_far_from_the_real_one_has_no_precision_or_recall():
    # Two tight clouds around e1 and -e1: points ~2 apart, balls ~0.1 wide.
    noise = np.random.default_rng(9).normal(scale=0.03, size=(60, 8))
    axis = np.eye(8)[0]
    real, synthetic = axis + noise[:30], -axis + noise[30:]
    result = precision_recall_knn(real, synthetic, k=3)
    assert (result.precision, result.recall) == (0.0, 0.0)


def test_precision_and_recall_of_a_worked_one_dimensional_case():
    # Real 0 1 2 3, k = 1: every nearest other real point is 1 away, so every ball has radius 1.
    # Synthetic 0, 0.2, 5, 5.1: 0 and 0.2 lie within 1 of 0; 5 is 2 from 3 → precision 2/4.
    # Synthetic radii (k = 1): 0 → 0.2, 0.2 → 0.2, 5 → 0.1, 5.1 → 0.1. Real 0 lies on
    # synthetic 0; real 1 is 0.8 from 0.2, real 2 and 3 are 2 or more from 5 → recall 1/4.
    result = precision_recall_knn(column(0, 1, 2, 3), column(0, 0.2, 5, 5.1), k=1)
    assert (result.precision, result.recall) == (0.5, 0.25)


def test_precision_and_recall_subsample_reproducibly_above_max_rows():
    real, synthetic = unit_rows(300, 8, seed=10), unit_rows(200, 8, seed=11)
    first = precision_recall_knn(real, synthetic, k=3, max_rows=120, seed=4)
    assert (first.real_count, first.synthetic_count) == (120, 120)
    assert precision_recall_knn(real, synthetic, k=3, max_rows=120, seed=4) == first


def test_precision_and_recall_need_more_rows_than_k():
    assert precision_recall_knn(unit_rows(3, 4, seed=12), unit_rows(10, 4, seed=13), k=3) is None
    with pytest.raises(ValueError):
        precision_recall_knn(unit_rows(10, 4, seed=12), unit_rows(10, 4, seed=13), k=0)


# Nearest real sample


def test_nearest_real_summary_counts_copies_and_bins_every_sample():
    # Kept: -0.05 0.1 0.5 0.95 0.96 1.0000001 (None has no real sample to compare with).
    # Copies at 0.95 and above: 0.95, 0.96, 1.0000001 → 3 of 6.
    # Bins of 0.05: -0.05 clipped into [0, 0.05); 0.1 in [0.10, 0.15) = bin 2;
    # 0.5 in bin 10; 0.95, 0.96 and 1.0 (clipped) in the last, closed bin 19.
    # Median of the six sorted values: (0.5 + 0.95)/2 = 0.725.
    summary = nearest_real_summary([0.1, 0.5, 0.96, 0.95, 1.0000001, -0.05, None], copy_threshold=0.95)
    assert (summary.count, summary.copy_count, summary.copy_share) == (6, 3, 0.5)
    assert summary.edges == list(SIMILARITY_EDGES) and len(summary.edges) == 21
    expected = [0] * 20
    expected[0], expected[2], expected[10], expected[19] = 1, 1, 1, 3
    assert summary.counts == expected
    assert summary.p50 == pytest.approx(0.725)


def test_nearest_real_summary_of_no_values_is_none():
    assert nearest_real_summary([None], copy_threshold=0.95) is None
