"""The fused LIF + average pooling engine (snnkit.kernels.lif_avgpool) against the same two layers run
apart (the C++ LIF engine, or the reference dynamics, then nn.AvgPool2d): identical pooled spikes and
last membranes, gradients (input, initial state, tau, threshold) equal to float64 tolerance; and where
Sequential uses it (not under hooks, not for pools it does not compute)."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import snnkit
from snnkit.functional import LIFParameters, lif_multistep
from snnkit.kernels import lif_cpu
from snnkit.neurons import LIF, Sequential
from snnkit.synapses import TimeDistributed

from engine_oracles import reference_engine_run

pytestmark = pytest.mark.skipif(lif_cpu.load() is None, reason="no C++ compiler: the C++ engine is not built")


def _unfused(xs, v0, p, k):
    s, v = lif_multistep(xs, v0, p)
    T, B = s.shape[:2]
    return nn.functional.avg_pool2d(s.reshape(T * B, *s.shape[2:]), k).reshape(T, B, *s.shape[2:3], -1, xs.shape[4] // k), v


def _grads(fn, xs, v0, p, k, w):
    out, v = fn(xs, v0, p, k)
    leaves = [t for t in (xs, v0, p.tau_mem, p.v_th) if isinstance(t, torch.Tensor) and t.requires_grad]
    return (out, v) + torch.autograd.grad((out * w).sum() + 0.3 * v.sum(), leaves)


@settings(max_examples=50, deadline=None)
@given(T=st.integers(1, 6), B=st.integers(1, 2), C=st.integers(1, 3), H=st.integers(2, 7), W=st.integers(2, 7),
       k=st.sampled_from([2, 3]), channels_last=st.booleans(), reset=st.sampled_from(["hard", "subtract", "none"]),
       surrogate=st.sampled_from(["atan", "sigmoid", "triangle"]), decay_input=st.booleans(),
       per_channel=st.booleans(), learn=st.booleans(), seed=st.integers(0, 2**16))
def test_fused_lif_avgpool_equals_lif_then_pool(T, B, C, H, W, k, channels_last, reset, surrogate, decay_input,
                                                per_channel, learn, seed):
    if H < k or W < k:
        return  # no output: the fused path is not taken (kernels.lif_avgpool returns None)
    g = torch.Generator().manual_seed(seed)
    base = torch.randn(T * B, C, H, W, generator=g, dtype=torch.float64) * 0.9 + 0.4
    if channels_last:
        base = base.contiguous(memory_format=torch.channels_last)
    xs = base.view(T, B, C, H, W).requires_grad_()
    v0 = (torch.randn(B, C, H, W, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    pshape = (C, 1, 1) if per_channel else ()
    tau = (torch.rand(pshape, generator=g, dtype=torch.float64) * 6 + 2).requires_grad_(learn)
    th = (torch.rand(pshape, generator=g, dtype=torch.float64) * 0.5 + 0.6).requires_grad_(learn)
    p = LIFParameters(tau_mem=tau, v_th=th, reset=reset, v_reset=-0.1, decay_input=decay_input, surrogate=surrogate)
    w = torch.randn(T, B, C, H // k, W // k, generator=g, dtype=torch.float64)
    ref = _grads(_unfused, xs, v0, p, k, w)
    got = _grads(lambda *a: snnkit.kernels.lif_avgpool(*a), xs, v0, p, k, w)
    assert torch.equal(got[0], ref[0]), "pooled spikes differ"
    assert torch.equal(got[1], ref[1]), "last membranes differ"
    for a, b in zip(ref[2:], got[2:]):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
    # the output keeps the input's layout (the next convolution gets channels-last input without a copy)
    folded = got[0].reshape(T * B, C, H // k, W // k)
    assert folded.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)


def _net(k=2, **pool):
    torch.manual_seed(0)
    return Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), LIF(tau_mem=5.0, v_th=0.5),
                      TimeDistributed(nn.AvgPool2d(k, **pool)), TimeDistributed(nn.Flatten()), nn.Linear(4 * 4 * 4, 3),
                      LIF(tau_mem=5.0, v_th=0.5))


@pytest.fixture
def fused_calls(monkeypatch):
    calls = []
    original = lif_cpu.lif_avgpool_cpp
    monkeypatch.setattr(lif_cpu, "lif_avgpool_cpp", lambda *a: calls.append(a[-1]) or original(*a))
    return calls


def test_sequential_fuses_lif_and_pooling_with_the_same_values(fused_calls):
    """forward and run take the fused pass; outputs, states and weight gradients equal the unfused run
    (the same network with the reference engine, which fuses nothing)."""
    net, x = _net(), (torch.rand(6, 3, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.4).float()
    out = net(x)
    out.sum().backward()
    grads = [q.grad.clone() for q in net.parameters()]
    assert fused_calls == [2]
    run_out, state = net.run(x)
    assert fused_calls == [2, 2] and torch.equal(run_out, out) and state[2] is None
    ref, ref_state, ref_grads = reference_engine_run(net, x)
    assert torch.equal(out, ref) and out.sum() > 0
    torch.testing.assert_close(state[1], ref_state[1], rtol=1e-6, atol=1e-6)
    for a, c in zip(grads, ref_grads):
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-5)


def test_hooks_turn_the_fusion_off(fused_calls):
    """A monitor hooked on the LIF sees its spikes: that pair runs unfused."""
    net, x = _net(), (torch.rand(4, 2, 2, 8, 8) < 0.4).float()
    seen = []
    handle = net[1].register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    net(x)
    handle.remove()
    assert seen == [torch.Size([4, 2, 4, 8, 8])] and fused_calls == []
    net(x)
    assert fused_calls == [2]


@pytest.mark.parametrize("pool", [dict(stride=1), dict(padding=1), dict(ceil_mode=True), dict(divisor_override=3)])
def test_other_poolings_run_unfused(fused_calls, pool):
    net = Sequential(LIF(tau_mem=5.0, v_th=0.5), TimeDistributed(nn.AvgPool2d(2, **pool)))
    x = torch.rand(3, 2, 2, 6, 6) * 2
    assert torch.equal(net(x), net[1](net[0](x))) and fused_calls == []


def test_long_sequences_fall_back_beyond_the_scratch_bound(fused_calls, monkeypatch):
    monkeypatch.setattr(lif_cpu, "MAX_POOL_SCRATCH", 8)
    net, x = _net(), (torch.rand(4, 2, 2, 8, 8) < 0.4).float()
    out = net(x)
    with snnkit.use_engine("reference"):
        assert torch.equal(out, net(x))
    assert fused_calls == []


def test_pairs_accept_what_the_lif_alone_accepts():
    """A float32 state with half-precision input (mixed precision) is allowed by LIF.run; the pair with
    its pooling (not fused: no engine for half input) accepts it too and gives the unfused result."""
    net = Sequential(LIF(tau_mem=5.0, v_th=0.5), TimeDistributed(nn.AvgPool2d(2)))
    x, v0 = (torch.rand(3, 2, 2, 4, 4) * 2).bfloat16(), torch.zeros(2, 2, 4, 4)
    out, state = net.run(x, [v0, None])
    s, v = net[0].run(x, v0)
    assert torch.equal(out, net[1](s)) and torch.equal(state[0], v)
