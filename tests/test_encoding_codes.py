"""Encoders and decoders against analytic oracles."""
import math

import numpy as np
import pytest
import torch

import snnkit.encoding as enc


def _gen(seed=0):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def test_bernoulli_rate_within_binomial_bounds():
    p = torch.tensor([[0.0, 0.05, 0.3, 0.7, 1.0]])
    steps = 4000
    spikes = enc.rate_encode(p, steps, generator=_gen())
    assert spikes.shape == (steps, 1, 5) and set(spikes.unique().tolist()) <= {0.0, 1.0}
    rate = enc.rate_decode(spikes)[0]
    bound = 5 * torch.sqrt(p[0] * (1 - p[0]) / steps) + 1e-9
    assert torch.all((rate - p[0]).abs() <= bound)
    assert rate[0] == 0 and rate[-1] == 1
    # gain scales the probability and clamps it to [0, 1]
    assert torch.all(enc.rate_encode(torch.tensor([0.6]), 50, gain=2.0, generator=_gen()) == 1)


def test_poisson_counts_have_poisson_mean_and_variance():
    lam = torch.tensor([0.5, 2.0, 5.0])
    counts = enc.rate_encode(lam, 20000, mode="poisson", generator=_gen(1))
    mean, var = counts.mean(0), counts.var(0)
    assert torch.all((mean - lam).abs() < 5 * torch.sqrt(lam / 20000))
    assert torch.all((var / lam - 1).abs() < 0.05)


def test_rate_encoding_is_reproducible_with_a_generator():
    x = torch.rand(3, 4)
    assert torch.equal(enc.rate_encode(x, 10, generator=_gen(5)), enc.rate_encode(x, 10, generator=_gen(5)))


def test_linear_latency_exact_times_and_round_trip():
    x = torch.tensor([[1.0, 0.5, 0.25, 0.0, 0.75]])
    steps = 9
    spikes = enc.latency_encode(x, steps)
    assert spikes.shape == (9, 1, 5)
    assert torch.equal(spikes.sum(0), torch.tensor([[1.0, 1, 1, 0, 1]]))  # x=0 is below threshold
    times = enc.first_spike_decode(spikes)
    # t = round((1 - x) * (T - 1)): 0, 4, 6, never (T), 2
    assert times.tolist() == [[0.0, 4.0, 6.0, 9.0, 2.0]]
    assert torch.allclose(enc.latency_decode(spikes), torch.tensor([[1.0, 0.5, 0.25, 0.0, 0.75]]))


def test_log_latency_matches_rc_charging_time():
    tau, theta = 5.0, 0.2
    x = torch.tensor([0.25, 0.5, 1.0, 3.0, 0.1])
    times = enc.latency_times(x, steps=100, mode="log", tau=tau, threshold=theta)
    for value, t in zip(x.tolist(), times.tolist()):
        if value <= theta:
            assert math.isinf(t)
        else:
            # an RC membrane v(t) = x (1 - exp(-t / tau)) reaches theta at t = tau ln(x / (x - theta))
            assert t == round(tau * math.log(value / (value - theta)))
    spikes = enc.latency_encode(x, 100, mode="log", tau=tau, threshold=theta)
    assert torch.equal(enc.first_spike_decode(spikes, no_spike=float("inf")), times)
    # times beyond the window mean no spike
    short = enc.latency_encode(torch.tensor([0.25]), 3, mode="log", tau=tau, threshold=theta)
    assert short.sum() == 0


@pytest.mark.parametrize("threshold", [0.05, 0.2])
def test_delta_reconstructs_signal_within_threshold(threshold):
    t = torch.linspace(0, 4 * math.pi, 300)
    signal = torch.stack([torch.sin(t), 0.5 * torch.cos(3 * t) + t / 10], dim=1)[:, :, None]  # [T, B=2, F=1]
    events = enc.delta_encode(signal, threshold)
    assert events.shape == (300, 2, 2, 1)
    assert torch.all(events >= 0) and torch.equal(events, events.round())
    rebuilt = enc.delta_decode(events, threshold, initial=signal[0])
    assert torch.all((signal - rebuilt).abs() < threshold + 1e-6)
    # ON events only while the signal rises, OFF only while it falls
    rise = torch.diff(signal, dim=0, prepend=signal[:1])
    assert torch.all(events[:, :, 0][rise <= 0] == 0) and torch.all(events[:, :, 1][rise >= 0] == 0)


def test_delta_counts_hand_example():
    signal = torch.tensor([0.0, 0.25, 0.35, 0.1, -0.3])[:, None]  # [T, B=1]
    events = enc.delta_encode(signal, 0.1)
    # reference 0 -> 0.2 (2 ON) -> 0.3 (1 ON) -> 0.1 (2 OFF) -> -0.3 (4 OFF)
    assert events[:, 0, 0].tolist() == [0, 2, 1, 0, 0]
    assert events[:, 0, 1].tolist() == [0, 0, 0, 2, 4]


def test_population_code_peaks_at_nearest_centre_and_decodes():
    x = torch.tensor([0.0, 0.3, 0.5, 0.62, 1.0])
    act = enc.population_encode(x, neurons=11, low=0.0, high=1.0)
    assert act.shape == (5, 11)
    centres = np.linspace(0, 1, 11)
    for value, row in zip(x.tolist(), act):
        assert int(row.argmax()) == int(np.argmin(np.abs(centres - value)))
        expected = np.exp(-((value - centres) ** 2) / (2 * 0.1**2))
        np.testing.assert_allclose(row.numpy(), expected, rtol=1e-5)
    # centre of mass is exact where the population is symmetric around the value
    assert abs(float(enc.population_decode(act[2], 0.0, 1.0)) - 0.5) < 1e-6
    assert abs(float(enc.population_decode(act[1], 0.0, 1.0)) - 0.3) < 1e-3
    spikes = enc.population_encode(x, 11, 0.0, 1.0, steps=20)
    assert spikes.shape == (20, 5, 11)
    first = enc.first_spike_decode(spikes)
    assert torch.equal(first.argmin(-1), act.argmax(-1))  # the best-tuned cell fires first


def test_membrane_and_count_decoders():
    v = torch.tensor([[1.0, -2.0], [3.0, 0.0], [2.0, 1.0]])[:, :, None]  # [T=3, B=2, 1]
    assert enc.membrane_decode(v, "max").flatten().tolist() == [3.0, 1.0]
    assert enc.membrane_decode(v, "mean").flatten().tolist() == pytest.approx([2.0, -1 / 3])
    assert enc.membrane_decode(v, "last").flatten().tolist() == [2.0, 1.0]
    s = torch.tensor([[0.0, 1.0], [1.0, 1.0], [0.0, 0.0]])[:, :, None]
    assert enc.spike_count(s).flatten().tolist() == [1.0, 2.0]
    assert enc.first_spike_decode(torch.zeros(4, 2)).tolist() == [4.0, 4.0]


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="steps"):
        enc.rate_encode(torch.rand(2), 0)
    with pytest.raises(ValueError, match="mode"):
        enc.latency_encode(torch.rand(2), 5, mode="cubic")
    with pytest.raises(TypeError, match="x must"):
        enc.rate_encode([0.1], 5)
    with pytest.raises(ValueError, match="threshold"):
        enc.delta_encode(torch.rand(5, 2), 0.0)
    with pytest.raises(ValueError, match="neurons"):
        enc.population_encode(torch.rand(2), 1, 0.0, 1.0)
