"""Neuron models against analytic solutions and an independent numpy integrator; streaming,
state hygiene, surrogates and bad input."""
import math

import numpy as np
import pytest
import torch

import snnkit
from snnkit import functional as F
from snnkit.neurons import ALIF, IF, LI, LIF, CubaLIF, Izhikevich

# ---------------------------------------------------------------- analytic oracles


def test_li_impulse_response_is_exponential():
    tau, dt = 7.0, 0.5
    x = torch.zeros(30, 1, 1)
    x[0] = 1.0
    v = LI(tau_mem=tau, dt=dt)(x)[:, 0, 0].double()
    t = torch.arange(30, dtype=torch.float64)
    torch.testing.assert_close(v, torch.exp(-dt * t / tau), rtol=1e-5, atol=1e-7)


def test_cuba_impulse_response_is_difference_of_exponentials():
    tau_syn, tau_mem = 3.0, 8.0
    x = torch.zeros(40, 1, 1, dtype=torch.float64)
    x[0] = 1.0
    cell = CubaLIF(tau_syn=tau_syn, tau_mem=tau_mem, v_th=1e9).double()
    _, (i, v) = cell.run(x)
    vs, state = [], None
    for xt in x:
        _, state = cell.step(xt, state)
        vs.append(state[1])
    a, b = math.exp(-1 / tau_syn), math.exp(-1 / tau_mem)
    t = torch.arange(40, dtype=torch.float64)
    expected = (a ** (t + 1) - b ** (t + 1)) / (a - b)
    torch.testing.assert_close(torch.stack(vs)[:, 0, 0], expected)


@pytest.mark.parametrize("c", [0.1337, 0.377, 0.7731])  # strict threshold: avoid exact hits
def test_if_subtractive_reset_counts_exactly(c):
    T = 200
    s = IF(v_th=1.0)(torch.full((T, 1, 1), c, dtype=torch.float64))
    assert int(s.sum()) == math.floor(c * T + 1e-9)


def test_lif_constant_input_rate_matches_closed_form():
    tau, I = 10.0, 0.15       # h grows to I / (1 - beta) > 1; time to threshold from 0 after a hard reset
    beta = math.exp(-1 / tau)
    n = math.ceil(math.log(1 - (1 - beta) / I) / math.log(beta))    # first n with I (1-b^n)/(1-b) > 1
    s = LIF(tau_mem=tau)(torch.full((10 * n, 1, 1), I, dtype=torch.float64))[:, 0, 0]
    times = torch.nonzero(s).flatten()
    assert times[0].item() == n - 1 and torch.all(torch.diff(times) == n)


def test_alif_threshold_rises_by_beta_adapt():
    x = torch.zeros(20, 1, 1)
    x[0] = 2.0
    layer = ALIF(tau_mem=5.0, tau_adapt=50.0, beta_adapt=0.7)
    s, (v, a) = layer.run(x)
    assert s[0].item() == 1.0 and s.sum().item() == 1
    assert a.item() == pytest.approx(math.exp(-1 / 50.0) ** 19, rel=1e-5)


# ---------------------------------------------------------------- Izhikevich vs numpy


def _izhikevich_numpy(a, b, c, d, current, steps, dt):
    v, u, spikes, vs = -65.0, b * -65.0, [], []
    for t in range(steps):
        v_new = v + dt * (0.04 * v * v + 5 * v + 140 - u + current)
        u = u + dt * a * (b * v - u)
        v = v_new
        if v > 30.0:
            spikes.append(t)
            v, u = c, u + d
        vs.append(v)
    return np.array(spikes), np.array(vs)


def _isis(name, current=10.0, steps=2000, dt=0.5):
    a, b, c, d = F.IZHIKEVICH_PRESETS[name]
    x = torch.full((steps, 1, 1), current, dtype=torch.float64)
    s, vs = Izhikevich(name, dt=dt).double().run(x, record_membrane=True)
    ours = torch.nonzero(s[:, 0, 0]).flatten().numpy()
    ref, ref_v = _izhikevich_numpy(a, b, c, d, current, steps, dt)
    np.testing.assert_array_equal(ours, ref)
    np.testing.assert_allclose(vs[:, 0, 0].numpy(), ref_v, rtol=1e-9, atol=1e-9)
    return np.diff(ours) * dt


def test_regular_spiking_adapts():
    isi = _isis("regular_spiking")
    assert len(isi) > 5 and isi[-1] > 1.5 * isi[0] and np.all(np.diff(isi[:4]) >= 0)


def test_fast_spiking_does_not_adapt():
    isi = _isis("fast_spiking")
    steady = isi[2:]             # after the onset transient the rate stays constant (tonic, no adaptation)
    assert len(isi) > 20 and steady.max() <= 1.2 * steady.min()


def test_chattering_fires_bursts():
    isi = _isis("chattering")
    short, long_ = isi.min(), isi.max()
    assert long_ > 4 * short          # bimodal: fast intra-burst intervals, long pauses between bursts
    assert np.sum(isi < 2 * short) >= 2 * np.sum(isi > long_ / 2)


@pytest.mark.parametrize("name", sorted(F.IZHIKEVICH_PRESETS))
def test_every_preset_matches_numpy_and_has_gradient(name):
    _isis(name, current=10.0, steps=400)
    x = torch.full((100, 2, 3), 10.0, requires_grad=True)
    Izhikevich(name)(x).sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


# ---------------------------------------------------------------- streaming and state hygiene


@pytest.mark.parametrize("make", [lambda: LIF(tau_mem=5.0), lambda: CubaLIF(), lambda: ALIF(), lambda: LI(),
                                  lambda: Izhikevich("chattering")])
def test_step_by_step_equals_multistep_and_no_state_leaks(make):
    layer = make()
    x = torch.rand(25, 3, 4) * (15.0 if isinstance(layer, Izhikevich) else 1.5)
    full = layer(x)
    state, outs = None, []
    for xt in x:
        o, state = layer.step(xt, state)
        outs.append(o)
    torch.testing.assert_close(torch.stack(outs), full)
    torch.testing.assert_close(layer(x), full)   # a second call starts from rest again
    first, st = layer.run(x[:10])
    rest, _ = layer.run(x[10:], st)
    torch.testing.assert_close(torch.cat([first, rest]), full)


def test_learnable_tau_and_threshold_per_neuron_get_gradients():
    plif = LIF(tau_mem=4.0, learn_tau=True, learn_threshold=True, shape=6, decay_input=True)
    x = torch.rand(30, 5, 6) * 2
    plif(x).sum().backward()
    params = dict(plif.named_parameters())
    assert set(params) == {"_log_tau_mem", "v_th"}
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in params.values())
    assert plif.tau_mem.shape == (6,)


def test_decay_mapping_round_trip():
    for method in ("exp", "euler"):
        beta = F.decay(torch.tensor([2.0, 10.0], dtype=torch.float64), 0.5, method)
        torch.testing.assert_close(F.tau_from_decay(beta, 0.5, method), torch.tensor([2.0, 10.0], dtype=torch.float64))


# ---------------------------------------------------------------- surrogates

# area under each surrogate on [-40, 40] (atan's heavy tails do not vanish there)
_INTEGRALS = {"fast_sigmoid": lambda a: 2 / a - 2 / (a * (1 + 40 * a)), "periodic": lambda a: 4 / math.pi,
              "atan": lambda a: 2 / math.pi * math.atan(math.pi / 2 * a * 40)}


@pytest.mark.parametrize("name", snnkit.surrogate.names())
def test_surrogate_forward_is_step_and_backward_is_its_derivative(name):
    sg = snnkit.surrogate.get(name)
    x = torch.linspace(-40, 40, 400001, dtype=torch.float64, requires_grad=True)
    out = sg(x)
    assert torch.equal(out, (x > 0).double())
    out.sum().backward()
    torch.testing.assert_close(x.grad, sg.derivative(x.detach()))
    area = torch.trapezoid(x.grad, x.detach()).item()
    assert area == pytest.approx(_INTEGRALS.get(name, lambda a: 1.0)(sg.alpha), rel=2e-3)


def test_surrogate_errors_name_the_parameter():
    with pytest.raises(ValueError, match="surrogate='nope'.*allowed"):
        snnkit.surrogate.get("nope")
    with pytest.raises(ValueError, match="alpha"):
        snnkit.surrogate.get("atan", alpha=-1)


# ---------------------------------------------------------------- bad input


def test_bad_input_gives_clear_errors():
    lif = LIF()
    with pytest.raises(ValueError, match=r"x must be time-major.*\(5,\)"):
        lif(torch.rand(5))
    with pytest.raises(TypeError, match="floating dtype"):
        lif(torch.ones(5, 2, 3, dtype=torch.int64))
    bad = torch.rand(5, 2, 3)
    bad[3, 1, 2] = float("nan")
    lif(bad)  # the NaN scan is a host read: only in debug mode
    snnkit.set_debug(True)
    try:
        with pytest.raises(ValueError, match=r"NaN or inf, first at index \(3, 1, 2\)"):
            lif(bad)
    finally:
        snnkit.set_debug(False)
    with pytest.raises(ValueError, match="tau_mem"):
        LIF(tau_mem=0.0)
    with pytest.raises(ValueError, match="dt"):
        LIF(dt=-1.0)
    with pytest.raises(ValueError, match="unstable"):
        LIF(tau_mem=1.0, dt=2.0, method="euler")
    with pytest.raises(ValueError, match="reset='soft'"):
        LIF(reset="soft")
    with pytest.raises(TypeError, match="state has dtype"):
        lif.run(torch.rand(5, 2, 3), torch.zeros(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="dt=2.0 ms is too large"):
        Izhikevich(dt=2.0)
    with pytest.raises(ValueError, match="preset='nope'"):
        Izhikevich("nope")


def test_cuba_syn_decay_and_its_deprecated_name_alpha():
    """``CubaLIFParameters.syn_decay`` is exp(-dt / tau_syn) (analytic); ``alpha`` still answers, with a warning."""
    import math
    from snnkit.functional import CubaLIFParameters
    p = CubaLIFParameters(tau_syn=4.0)
    like = torch.zeros((), dtype=torch.float64)
    assert float(p.syn_decay(like)) == pytest.approx(math.exp(-1 / 4.0))
    with pytest.warns(DeprecationWarning, match="syn_decay"):
        assert float(p.alpha(like)) == float(p.syn_decay(like))
