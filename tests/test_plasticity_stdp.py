"""Pair and triplet STDP against the analytic window and the peers (spikingjelly, norse)."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from snnkit.plasticity import DelayedDenseView, PairSTDP, TripletSTDP

torch.set_num_threads(1)  # tiny tensors: a thread pool only adds launch latency


def _pair(dt_steps: int, n_steps: int = 60) -> tuple[torch.Tensor, torch.Tensor]:
    """One pre spike at step 5 and one post spike ``dt_steps`` later (negative: post first)."""
    pre, post = torch.zeros(n_steps, 1, 1), torch.zeros(n_steps, 1, 1)
    t_pre = 5 if dt_steps >= 0 else 5 - dt_steps
    pre[t_pre, 0, 0] = 1
    post[t_pre + dt_steps, 0, 0] = 1
    return pre, post


@pytest.mark.parametrize("dt_steps", [1, 3, 10, 25, -1, -4, -12, -30])
def test_single_pair_gives_the_analytic_window(dt_steps):
    a_plus, a_minus, tau_plus, tau_minus = 0.8, 0.5, 12.0, 30.0
    w = torch.zeros(1, 1)
    rule = PairSTDP(w, tau_pre=tau_plus, tau_post=tau_minus, a_plus=a_plus, a_minus=a_minus, dt=1.0)
    pre, post = _pair(dt_steps)
    rule.run(pre, post)
    d = abs(dt_steps)
    expected = a_plus * math.exp(-d / tau_plus) if dt_steps > 0 else -a_minus * math.exp(-d / tau_minus)
    assert w.item() == pytest.approx(expected, rel=1e-5)


def test_fast_multistep_equals_stepping_for_both_orders():
    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(30, 4, 7, generator=g) < 0.2).float()
    post = (torch.rand(30, 4, 5, generator=g) < 0.2).float()
    for order in ("trace_first", "weight_first"):
        a, b = torch.zeros(5, 7), torch.zeros(5, 7)
        fast = PairSTDP(a, order=order, update="accumulate").run(pre, post)
        stepped = PairSTDP(b, order=order, update="accumulate")
        slow = sum(stepped.step(p, q) for p, q in zip(pre, post))
        torch.testing.assert_close(fast, slow, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- spikingjelly
class _Replay(nn.Module):
    """Emits the post spikes it is called with (so the learner's output monitor sees them)."""

    def forward(self, x):
        return x


def _sj_learner(step_mode, synapse, f_pre=None, f_post=None, tau_pre=4.0, tau_post=6.0):
    learning = pytest.importorskip("spikingjelly.activation_based.learning")
    sn = _Replay()
    kw = {}
    if f_pre is not None:
        kw = {"f_pre": f_pre, "f_post": f_post}
    return learning.STDPLearner(step_mode, synapse, sn, tau_pre=tau_pre, tau_post=tau_post, **kw), sn


def test_identical_to_spikingjelly_linear_multistep():
    g = torch.Generator().manual_seed(1)
    T, B, n_in, n_out = 20, 8, 30, 12
    pre = (torch.rand(T, B, n_in, generator=g) < 0.2).float()
    post = (torch.rand(T, B, n_out, generator=g) < 0.2).float()
    fc_sj = nn.Linear(n_in, n_out, bias=False)
    fc_ours = nn.Linear(n_in, n_out, bias=False)
    fc_ours.weight.data.copy_(fc_sj.weight.data)
    learner, sn = _sj_learner("m", fc_sj)
    fc_sj(pre)
    sn(post)
    learner.step(on_grad=True)
    # spikingjelly's default f_pre = f_post = identity scales both branches by the weight itself
    ours = PairSTDP(fc_ours, tau_pre=4.0, tau_post=6.0, a_plus=lambda w: w, a_minus=lambda w: w,
                    method="euler", increment="one", update="grad")
    ours.run(pre, post)
    torch.testing.assert_close(fc_ours.weight.grad, fc_sj.weight.grad, rtol=1e-5, atol=1e-5)


def test_identical_to_spikingjelly_weight_dependent_per_step_updates():
    g = torch.Generator().manual_seed(2)
    T, B, n_in, n_out = 15, 4, 10, 6
    pre = (torch.rand(T, B, n_in, generator=g) < 0.3).float()
    post = (torch.rand(T, B, n_out, generator=g) < 0.3).float()
    fc_sj = nn.Linear(n_in, n_out, bias=False)
    nn.init.uniform_(fc_sj.weight, 0.0, 1.0)
    fc_ours = nn.Linear(n_in, n_out, bias=False)
    fc_ours.weight.data.copy_(fc_sj.weight.data)

    def f_pre(w):
        return 0.02 * w.clamp_min(0)

    def f_post(w):
        return 0.01 * (1 - w).clamp_min(0)

    learner, sn = _sj_learner("s", fc_sj, f_pre, f_post)
    opt = torch.optim.SGD(fc_sj.parameters(), lr=1.0)
    ours = PairSTDP(fc_ours, tau_pre=4.0, tau_post=6.0, a_plus=f_post, a_minus=f_pre, method="euler",
                    increment="one", update="immediate", lr=1.0)
    for p, q in zip(pre, post):
        opt.zero_grad()
        fc_sj(p)
        sn(q)
        learner.step(on_grad=True)
        opt.step()
        ours.step(p, q)
    torch.testing.assert_close(fc_ours.weight, fc_sj.weight, rtol=1e-5, atol=1e-6)


def test_identical_to_spikingjelly_conv2d():
    g = torch.Generator().manual_seed(3)
    T, B = 6, 2
    pre = (torch.rand(T, B, 3, 9, 9, generator=g) < 0.3).float()
    conv_sj = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
    conv_ours = nn.Conv2d(3, 4, 3, stride=2, padding=1, bias=False)
    conv_ours.weight.data.copy_(conv_sj.weight.data)
    post = (torch.rand(T, B, 4, 5, 5, generator=g) < 0.3).float()
    learner, sn = _sj_learner("s", conv_sj, f_pre=lambda w: torch.ones_like(w), f_post=lambda w: torch.ones_like(w))
    for p, q in zip(pre, post):
        conv_sj(p)
        sn(q)
    learner.step(on_grad=True)  # consumes all records with fixed weights
    ours = PairSTDP(conv_ours, tau_pre=4.0, tau_post=6.0, a_plus=1.0, a_minus=1.0, method="euler",
                    update="grad")
    for p, q in zip(pre, post):
        ours.step(p, q)
    torch.testing.assert_close(conv_ours.weight.grad, conv_sj.weight.grad, rtol=1e-5, atol=1e-5)


# --------------------------------------------------------------------------- norse
@pytest.mark.parametrize("algorithm", ["additive", "multiplicative_relu", "multiplicative_pow"])
def test_identical_to_norse(algorithm):
    stdp = pytest.importorskip("norse.torch.functional.stdp")
    g = torch.Generator().manual_seed(4)
    T, B, n_in, n_out = 40, 5, 16, 8
    pre = (torch.rand(T, B, n_in, generator=g) < 0.2).float()
    post = (torch.rand(T, B, n_out, generator=g) < 0.2).float()
    w0 = torch.rand(n_out, n_in, generator=g)
    dt, tau_pre, tau_post, a_pre, a_post = 1e-3, 20e-3, 30e-3, 1.5, 0.7
    mu = 0.5 if algorithm == "multiplicative_pow" else 1.0
    p = stdp.STDPParameters(a_pre=torch.tensor(a_pre), a_post=torch.tensor(a_post),
                            tau_pre_inv=torch.tensor(1 / tau_pre), tau_post_inv=torch.tensor(1 / tau_post),
                            w_min=0.0, w_max=1.0, eta_plus=0.05, eta_minus=0.04, stdp_algorithm=algorithm,
                            mu=mu, hardbound=True)
    state = stdp.STDPState(torch.zeros(B, n_in), torch.zeros(B, n_out))
    w_norse = w0.clone()
    for zp, zq in zip(pre, post):
        w_norse, state = stdp.stdp_step_linear(zp, zq, w_norse, state, p, dt=dt)
    w = w0.clone()
    ours = PairSTDP(w, tau_pre=tau_pre, tau_post=tau_post, dt=dt, method="euler", increment="dt_over_tau",
                    trace_scale_pre=a_pre, trace_scale_post=a_post, a_plus=0.05, a_minus=0.04,
                    weight_dependence="additive" if algorithm == "additive" else "multiplicative", mu=mu,
                    w_min=0.0, w_max=1.0, update="immediate")
    ours.run(pre, post)
    torch.testing.assert_close(w, w_norse, rtol=1e-5, atol=1e-6)


# --------------------------------------------------------------------------- delayed synapses
def test_delayed_synapse_sees_the_delayed_pre_spike():
    """A delay of d steps shifts the window: pre at 5, post at 5 + d + 2 is a +2 pair at the synapse."""
    w = torch.zeros(1, 2)
    delays = torch.tensor([[0, 4]])
    rule = PairSTDP(DelayedDenseView(w, delays), tau_pre=10.0, tau_post=10.0, a_plus=1.0, a_minus=1.0)
    pre, post = torch.zeros(40, 1, 2), torch.zeros(40, 1, 1)
    pre[5, 0, :] = 1
    post[11, 0, 0] = 1
    rule.run(pre, post)
    torch.testing.assert_close(w, torch.tensor([[math.exp(-6 / 10), math.exp(-2 / 10)]]), rtol=1e-5, atol=1e-7)


# --------------------------------------------------------------------------- triplet
def test_triplet_pre_post_post_matches_the_analytic_value():
    a2p, a3p, tp, ty = 0.3, 0.2, 16.8, 125.0
    w = torch.zeros(1, 1)
    rule = TripletSTDP(w, tau_plus=tp, tau_y=ty, a2_plus=a2p, a3_plus=a3p, a2_minus=0.0, a3_minus=0.0)
    pre, post = torch.zeros(60, 1, 1), torch.zeros(60, 1, 1)
    pre[5], post[12], post[30] = 1, 1, 1
    rule.run(pre, post)
    expected = a2p * math.exp(-7 / tp) + a2p * math.exp(-25 / tp) + a3p * math.exp(-25 / tp) * math.exp(-18 / ty)
    assert w.item() == pytest.approx(expected, rel=1e-5)


def _pairing_protocol(rule_factory, delta_ms: float, freq_hz: float, n_pairs: int = 5) -> float:
    """Sjoestroem-style protocol: ``n_pairs`` pre/post pairs at ``freq_hz`` (dt = 2 ms)."""
    dt = 2.0
    period = int(round(1000.0 / freq_hz / dt))
    shift = int(round(delta_ms / dt))
    start = 50 + max(0, -shift)
    T = start + n_pairs * period + abs(shift) + 10
    pre, post = torch.zeros(T, 1, 1), torch.zeros(T, 1, 1)
    for k in range(n_pairs):
        pre[start + k * period] = 1
        post[start + k * period + shift] = 1
    w = torch.zeros(1, 1)
    rule_factory(w, dt).run(pre, post)
    return w.item()


def test_triplet_frequency_dependence_of_pairing():
    """Pfister & Gerstner 2006, visual cortex (all-to-all, minimal): at low frequency post-pre depresses
    and pre-post barely potentiates; at 50 Hz both orders potentiate. Pair STDP cannot do this."""
    def triplet(w, dt):
        return TripletSTDP(w, dt=dt)

    # 1 Hz: pairs 1 s apart interact as little as at the paper's 0.1 Hz (tau_y = 125 ms)
    low_plus, low_minus = _pairing_protocol(triplet, 10, 1.0), _pairing_protocol(triplet, -10, 1.0)
    high_plus, high_minus = _pairing_protocol(triplet, 10, 50, 60), _pairing_protocol(triplet, -10, 50, 60)
    assert low_minus < 0 and abs(low_plus) < 0.1 * abs(low_minus)
    assert high_plus > 0 and high_minus > 0

    def pair(w, dt):
        return PairSTDP(w, tau_pre=16.8, tau_post=33.7, a_plus=5e-3, a_minus=7e-3, dt=dt)

    assert _pairing_protocol(pair, -10, 50, 60) < 0  # a pair rule keeps depressing


def test_bad_arguments_name_the_parameter():
    with pytest.raises(ValueError, match="order"):
        PairSTDP(torch.zeros(2, 2), order="sideways")
    with pytest.raises(ValueError, match="w_min"):
        PairSTDP(torch.zeros(2, 2), weight_dependence="multiplicative")
    with pytest.raises(ValueError, match="tau"):
        PairSTDP(torch.zeros(2, 2), tau_pre=-1.0)
    with pytest.raises(ValueError, match="pre"):
        PairSTDP(torch.zeros(2, 2)).run(torch.zeros(3, 2), torch.zeros(3, 1, 2))


def test_stdp_on_snnkit_delayed_linear_uses_the_layer_delays():
    """On snnkit.synapses.DelayedLinear the rule reads the layer's integer delays; the layer itself
    delivers a pre spike d steps later (checked on its forward), and STDP sees that arrival time."""
    delays_module = pytest.importorskip("snnkit.synapses.delays")
    layer = delays_module.DelayedLinear(2, 1, max_delay=6, mode="random")
    with torch.no_grad():
        layer.delays.copy_(torch.tensor([[0.0, 4.0]]))
        layer.weight.fill_(1.0)
    pre = torch.zeros(40, 1, 2)
    pre[5, 0, 1] = 1
    with torch.no_grad():
        arrival = (layer(pre)[:, 0, 0] > 0.5).nonzero().flatten().tolist()  # (FFT path: ~1e-8 elsewhere)
    assert arrival == [9]
    with torch.no_grad():
        layer.weight.zero_()
    pre[5, 0, 0] = 1
    post = torch.zeros(40, 1, 1)
    post[11, 0, 0] = 1
    PairSTDP(layer, tau_pre=10.0, tau_post=10.0, a_plus=1.0, a_minus=1.0).run(pre, post)
    torch.testing.assert_close(layer.weight.detach(), torch.tensor([[math.exp(-6 / 10), math.exp(-2 / 10)]]),
                               rtol=1e-5, atol=1e-7)


def test_pre_offset_is_diehl_and_cooks_post_triggered_rule():
    """dw = a+ (x_pre - x_tar) at each post spike (Diehl & Cook 2015), written out by hand."""
    import torch

    from snnkit.plasticity import PairSTDP

    w = torch.full((2, 3), 0.5)
    rule = PairSTDP(w, tau_pre=10.0, a_plus=0.1, a_minus=0.0, pre_offset=0.4)
    pre_spikes = [torch.tensor([[1.0, 0.0, 0.0]]), torch.tensor([[0.0, 0.0, 1.0]])]
    post_spikes = [torch.tensor([[0.0, 0.0]]), torch.tensor([[1.0, 0.0]])]
    trace = torch.zeros(1, 3)
    expected = w.clone()
    for pre, post in zip(pre_spikes, post_spikes):
        trace = trace * math.exp(-1 / 10.0) + pre
        expected += 0.1 * post.t() @ (trace - 0.4)
        rule.step(pre, post)
    torch.testing.assert_close(w, expected)
    assert w[0, 1] < 0.5 and w[0, 0] > 0.5 and torch.equal(w[1], torch.full((3,), 0.5))
