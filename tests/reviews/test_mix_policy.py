"""The mix-in rule's arithmetic, checked by hand."""

from __future__ import annotations

from fractions import Fraction

import pytest

from reviews.governance.mix_policy import minimum_real_share, mix_decide


def test_phases_and_custom_minimum():
    assert [minimum_real_share(p) for p in range(4)] == [0, Fraction(1, 2), Fraction(4, 5), Fraction(19, 20)]
    assert minimum_real_share(3, custom=0.6) == Fraction(3, 5)
    with pytest.raises(ValueError):
        minimum_real_share(1, custom=1.5)


def test_prototype_phase_allows_synthetic_only():
    decision = mix_decide(real=0, synthetic_by_generator={"g": 500}, minimum=minimum_real_share(0))
    assert decision.allowed and decision.reason() == ""


def test_exactly_at_the_minimum_is_allowed():
    # 800 real of 1,000 is exactly 80%.
    decision = mix_decide(real=800, synthetic_by_generator={"a": 150, "b": 50}, minimum=Fraction(4, 5))
    assert decision.allowed and decision.real_to_add == 0 and decision.synthetic_to_drop == 0


def test_a_refusal_says_how_many_to_add_or_drop_by_generator():
    # Phase 2 (80%), 600 real and 400 synthetic (300 from a, 100 from b): 60% real.
    # Add: (600 + x) / (1000 + x) ≥ 0.8 → x ≥ 0.8·400/0.2 − 600 = 1600 − 600 = 1000.
    # Drop: 600 / (1000 − d) ≥ 0.8 → 1000 − d ≤ 750 → d ≥ 250; by generator 3:1 → 188 (187.5) and 62 (62.5),
    # the tie at .5 going to the larger generator.
    decision = mix_decide(real=600, synthetic_by_generator={"a": 300, "b": 100}, minimum=Fraction(4, 5))
    assert not decision.allowed
    assert decision.real_to_add == 1000
    assert decision.synthetic_to_drop == 250
    assert decision.drop_by_generator == {"a": 188, "b": 62}
    assert "60.0% real" in decision.reason() and "add 1,000 real samples" in decision.reason()
    assert "drop 250 synthetic (188 from a, 62 from b)" in decision.reason()


def test_rounding_is_up_for_additions_and_drops():
    # 95%: 100 real, 10 synthetic. Add: 0.95·10/0.05 = 190 → 90 more. Drop: 100·0.05/0.95 = 5.26 → keep 5, drop 5.
    decision = mix_decide(real=100, synthetic_by_generator={"g": 10}, minimum=Fraction(19, 20))
    assert decision.real_to_add == 90
    assert decision.synthetic_to_drop == 5
    # Check the answers satisfy the rule and one fewer does not.
    assert Fraction(190, 200) >= Fraction(19, 20) > Fraction(189, 199)
    assert Fraction(100, 105) >= Fraction(19, 20) > Fraction(100, 106)


def test_a_generator_over_its_cap_is_refused_with_its_excess():
    # 500 real, a 300, b 200: a is 30% of 1,000. Cap a at 20%: k / (700 + k) ≤ 0.2 → k ≤ 175 → drop 125.
    decision = mix_decide(
        real=500, synthetic_by_generator={"a": 300, "b": 200}, minimum=Fraction(1, 2), caps={"a": 0.2}
    )
    assert decision.synthetic_to_drop == 0
    assert decision.over_cap == {"a": 125}
    assert not decision.allowed and "drop 125 of its samples" in decision.reason()


def test_a_hundred_percent_minimum_cannot_be_met_by_adding_real_data():
    decision = mix_decide(real=10, synthetic_by_generator={"g": 1}, minimum=Fraction(1))
    assert decision.real_to_add is None and decision.synthetic_to_drop == 1
    assert "no number of real samples is enough" in decision.reason()
