"""Astrocyte-gated STDP: plain pair STDP when ungated, a branching estimate that recovers a known factor,
and the gating's direction on a sub- and a supercritical liquid."""
import numpy as np
import pytest
import torch

from snnkit.plasticity import PairSTDP
from snnkit.plasticity.astrocyte import Astrocyte, AstrocyteGatedSTDP
from test_analysis_branching import branching_process


def test_ungated_rule_is_pair_stdp():
    torch.manual_seed(0)
    w1, w2 = torch.rand(6, 6), None
    w2 = w1.clone()
    gated = AstrocyteGatedSTDP(w1, gain=0.0, a_plus=0.02, a_minus=0.01)
    plain = PairSTDP(w2, a_plus=0.02, a_minus=0.01)
    spikes = (torch.rand(30, 2, 6) < 0.3).float()
    for pre, post in zip(spikes[:-1], spikes[1:]):
        torch.testing.assert_close(gated.step(pre, post), plain.step(pre, post))
    torch.testing.assert_close(w1, w2)


@pytest.mark.parametrize("m", [0.7, 0.95])
def test_astrocyte_estimates_the_branching_factor_of_a_known_process(m):
    activity = branching_process(m, drive=3.0, steps=30_000, seed=5)
    astro = Astrocyte(target=1.0, tau_astro=1e5)
    for count in activity:
        astro.observe(torch.tensor([float(count)]))
    assert astro.sigma_hat == pytest.approx(m, abs=0.03)
    assert astro.state == pytest.approx(1.0 - m, abs=0.03)


def test_gating_potentiates_a_subcritical_liquid_and_depresses_a_supercritical_one():
    rng = np.random.default_rng(0)
    sub = branching_process(0.5, drive=3.0, steps=2000, seed=6)
    growth = 5 * 1.02 ** np.arange(300) * rng.uniform(0.97, 1.03, 300)    # grows 2 % per step
    for activity, sign in ((sub, 1.0), (growth, -1.0)):
        w = torch.full((4, 4), 0.5)
        rule = AstrocyteGatedSTDP(w, astrocyte=Astrocyte(tau_astro=1e4), gain=5.0, a_plus=0.01, a_minus=0.01)
        for count in activity:
            rule.astrocyte.observe(torch.tensor([float(count)]))
        assert sign * rule.astrocyte.state > 0.01          # factors 0.5 and 1.02
        assert sign * (rule._ltp_amplitude(w) - rule._ltd_amplitude(w)) > 0
