"""The noise floor's 95% interval covers the true error rate about 95% of the time.

Over 10,000 simulated audits at a known error rate, the Wilson interval must
cover the true rate in 93% to 97% of them.
"""

from __future__ import annotations

import numpy as np
import pytest

from reviews.metrics import wilson_interval

AUDITS = 10_000


# Wilson's coverage is not a flat 95%: it oscillates with n and p because the
# binomial is discrete, and dips well below 95% near p = 0 or 1 (Brown, Cai &
# DasGupta 2001, "Interval Estimation for a Binomial Proportion"). So the cases
# are ones whose exact coverage lies well inside the band: 95.2% for the default
# audit of 60 at a 10% noise floor, 94.1% for 100 at 20% (sums of the binomial
# pmf over covered counts). With 10,000 audits the simulation's standard error
# is about 0.2 points, so the band is more than four of them away either side.
@pytest.mark.parametrize(("n", "true_rate"), [(60, 0.10), (100, 0.20)])
def test_wilson_interval_covers_the_true_rate_95_percent_of_the_time(n, true_rate):
    rng = np.random.default_rng(20010501)
    wrong_counts = rng.binomial(n, true_rate, size=AUDITS)
    # The interval depends only on the count, so build it once per possible count.
    bounds = np.array([wilson_interval(wrong, n) for wrong in range(n + 1)])
    low, high = bounds[wrong_counts, 0], bounds[wrong_counts, 1]
    coverage = np.mean((low <= true_rate) & (true_rate <= high))
    assert 0.93 <= coverage <= 0.97, f"coverage {coverage:.4f} at n={n}, p={true_rate}"
