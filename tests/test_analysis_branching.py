"""Branching-factor estimators against branching processes whose factor is known by construction."""
import numpy as np
import pytest
import torch

from snnkit.analysis.branching import branching_factor, population_activity


def branching_process(m: float, drive: float, steps: int, seed: int) -> np.ndarray:
    """Galton-Watson process with immigration: each unit has Poisson(m) offspring next step."""
    rng = np.random.default_rng(seed)
    a = np.zeros(steps, dtype=np.int64)
    a[0] = int(drive / (1 - m))
    for t in range(1, steps):
        a[t] = rng.poisson(m * a[t - 1]) + rng.poisson(drive)
    return a


@pytest.mark.parametrize("m", [0.8, 0.9, 0.98])
def test_regression_recovers_the_known_factor(m):
    a = torch.from_numpy(branching_process(m, drive=2.0, steps=40_000, seed=1))
    assert branching_factor(a, "regression") == pytest.approx(m, abs=0.02)


def test_multistep_is_consistent_under_subsampling_where_regression_is_not():
    m = 0.95
    full = branching_process(m, drive=5.0, steps=60_000, seed=2)
    observed = torch.from_numpy(np.random.default_rng(3).binomial(full, 0.05))   # 5 % of the units seen
    naive = branching_factor(observed, "regression")
    assert naive < m - 0.2                               # subsampling biases the naive slope strongly
    assert branching_factor(observed, "multistep", max_lag=20) == pytest.approx(m, abs=0.03)


def test_ratio_estimator_and_population_activity():
    spikes = torch.zeros(4, 2, 3)
    spikes[0, 0, 0] = 1
    spikes[1, :, :2] = 1                                 # 1 spike causes 4, which cause 2
    spikes[2, 1, 1:] = 1
    activity = population_activity(spikes)
    assert activity.tolist() == [1.0, 4.0, 2.0, 0.0]
    assert branching_factor(activity, "ratio") == pytest.approx((4 / 1 + 2 / 4 + 0 / 2) / 3)
    with pytest.raises(ValueError, match="method"):
        branching_factor(activity, "magic")
