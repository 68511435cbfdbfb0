"""The mechanism of the Diehl & Cook example (examples/plasticity/diehl_cook_mnist.py) against direct
computations: the neuron-assignment and vote rule against explicit loops, the LIF membrane against its
closed form, the lateral inhibition and refractory period spike by spike, the adaptive threshold against
its closed form, and one learning step (STDP summed over the digit, clamp, normalisation) against a
double loop over spike pairs."""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import pytest
import torch

from snnkit.plasticity import AdaptiveThreshold


def _example():
    path = Path(__file__).resolve().parents[1] / "examples" / "plasticity" / "diehl_cook_mnist.py"
    spec = importlib.util.spec_from_file_location("diehl_cook_mnist_example", path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod                  # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


dc = _example()


def test_assignment_and_vote_match_explicit_loops():
    g = torch.Generator().manual_seed(1)
    counts = torch.randint(0, 6, (300, 12), generator=g).float()
    labels = torch.randint(0, 10, (300,), generator=g)
    test_counts = torch.randint(0, 6, (50, 12), generator=g).float()
    assigned = dc.assign_labels(counts, labels)
    for n in range(12):
        means = [sum(counts[i, n].item() for i in range(300) if labels[i] == c) / int((labels == c).sum())
                 for c in range(10)]
        assert assigned[n].item() == max(range(10), key=lambda c: means[c])
    predicted = dc.vote(test_counts, assigned)
    for i in range(50):
        scores = {}
        for c in range(10):
            members = [n for n in range(12) if assigned[n] == c]
            if members:
                scores[c] = sum(test_counts[i, n].item() for n in members) / len(members)
        assert predicted[i].item() == max(scores, key=lambda c: scores[c])


def test_normalise_gives_the_fixed_sum_and_keeps_proportions():
    model = dc.DiehlCook(7, n_in=30)
    before = model.w.clone() * 3
    model.w.copy_(before)
    model.normalise()
    torch.testing.assert_close(model.w.sum(1), torch.full((7,), model.p.w_sum))
    torch.testing.assert_close(model.w / model.w[:, :1], before / before[:, :1])


def _constant_drive(model, current, steps):
    n_in = model.w.shape[1]
    model.w.zero_()
    model.w[:, 0] = current                      # input 0 spikes every step: a constant current
    spikes = torch.zeros(steps, 1, n_in)
    spikes[:, :, 0] = 1
    return model.simulate(spikes, learn=False)[:, 0]


def test_membrane_matches_the_closed_form_and_refractory_period():
    p = dc.DiehlCookParameters()
    model = dc.DiehlCook(1, n_in=3, p=p)
    beta, current = math.exp(-p.dt / p.tau_mem), 0.5
    out = _constant_drive(model, current, 200)[:, 0]
    times = out.nonzero().flatten().tolist()
    # from rest: v_t = I (1 - beta^(t+1)) / (1 - beta) crosses 13 mV first at this step
    first = next(t for t in range(200) if current * (1 - beta ** (t + 1)) / (1 - beta) > p.v_th)
    assert times[0] == first
    # afterwards: held at 5 mV for the refractory steps, then integrates from 5 mV again
    ref = int(p.refractory / p.dt)
    k = next(k for k in range(1, 200) if p.v_reset * beta ** k + current * (1 - beta ** k) / (1 - beta) > p.v_th)
    assert times[1] - times[0] == ref - 1 + k
    assert all(b - a == times[1] - times[0] for a, b in zip(times, times[1:]))


def test_one_spike_inhibits_every_other_neuron_one_step_later():
    spikes = torch.zeros(4, 1, 3)
    spikes[0, 0, :2] = spikes[1, 0, 1] = 1

    def run(inhibition):
        model = dc.DiehlCook(3, n_in=3, p=dc.DiehlCookParameters(inhibition=inhibition))
        model.w.zero_()
        model.w[0, 0] = 14.0                      # neuron 0 fires at step 0
        model.w[1:, 1] = 8.0                      # neurons 1, 2 reach 8 beta + 8 > 13 mV at step 1
        return model.simulate(spikes, learn=False)[:, 0]

    free, inhibited = run(0.0), run(17.5)
    assert free.nonzero().tolist() == [[0, 0], [1, 1], [1, 2]]
    assert inhibited.nonzero().tolist() == [[0, 0]]   # 8 beta + 8 - 17.5 < 13: the others are silenced


def test_adaptive_threshold_matches_its_closed_form():
    tau, plus, dt = 50.0, 0.3, 2.0
    theta = AdaptiveThreshold(4, v_th=1.0, theta_plus=plus, tau_theta=tau, dt=dt)
    g = torch.Generator().manual_seed(0)
    s = (torch.rand(30, 2, 4, generator=g) < 0.3).float()
    for t in range(30):
        theta.step(s[t])
    d = math.exp(-dt / tau)
    expected = sum(plus * s[t].mean(0) * d ** (29 - t) for t in range(30))
    torch.testing.assert_close(theta.theta, expected)


def test_one_learning_step_matches_a_loop_over_spike_pairs():
    p = dc.DiehlCookParameters(duration=60.0, max_rate=255.0)
    g = torch.Generator().manual_seed(3)
    model = dc.DiehlCook(5, n_in=40, p=p, generator=g)
    w0, theta0 = model.w.clone(), model.theta.theta.clone()
    image = torch.rand(1, 40, generator=g)
    state = model.g.get_state()
    spikes = model.encode(image, torch.tensor([p.max_rate]))
    post = model.simulate(spikes, learn=True)     # the same presentation, to read its spikes
    assert post.sum() >= p.min_spikes             # shown once: no brighter repeat in this test
    model.theta.theta.copy_(theta0)
    model.g.set_state(state)
    counts = model.present(image, learn=True)
    assert torch.equal(counts, post.sum(0))
    decay = math.exp(-p.dt / p.tau_trace)
    pre, out = spikes[:, 0], post[:, 0]
    dw = torch.zeros_like(w0)
    for t in range(len(pre)):
        for u in range(t + 1):                    # traces include this step's spikes (pairs at t = u count)
            dw += p.nu_post * torch.outer(out[t], pre[u]) * decay ** (t - u)
            dw -= p.nu_pre * torch.outer(out[u], pre[t]) * decay ** (t - u)
    expected = (w0 + dw).clamp(0, p.w_max)
    expected *= p.w_sum / expected.sum(1, keepdim=True)
    torch.testing.assert_close(model.w, expected, rtol=1e-4, atol=1e-5)
    # theta: +theta_plus per spike, one decay over presentation and rest
    expected_theta = theta0 * math.exp(-(p.duration + p.rest) / p.tau_theta) + p.theta_plus * out.sum(0)
    torch.testing.assert_close(model.theta.theta, expected_theta)


def test_a_faint_digit_is_shown_again_brighter():
    p = dc.DiehlCookParameters(duration=50.0)
    model = dc.DiehlCook(4, n_in=20, p=p)
    faint = torch.full((1, 20), 0.05)
    state = model.g.get_state()
    once = model.simulate(model.encode(faint, torch.tensor([p.max_rate])), learn=False).sum()
    model.g.set_state(state)
    counts = model.present(faint, learn=False)
    assert once < p.min_spikes <= counts.sum()


@pytest.mark.parametrize("neurons", [1, 10])
def test_receptive_field_figure(neurons):
    from matplotlib.figure import Figure

    fig = dc.receptive_fields(torch.rand(neurons, 784), torch.arange(neurons) % 10)
    assert isinstance(fig, Figure)
    assert sum(len(ax.images) for ax in fig.axes) == neurons
