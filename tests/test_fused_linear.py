"""The fused Linear + LIF engine (snnkit.kernels.linear_lif) against the same two layers run apart
(F.linear, then the reference LIF dynamics of snnkit.functional): identical spikes and last membranes,
gradients (input, weight, bias, initial state, tau, threshold) equal to float64 tolerance; its spatial
form (online training) against autograd through the reference step with the state detached between
steps; and where Sequential and online training use it (not under hooks, autocast, subclasses)."""
import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import snnkit
from snnkit.functional import LIFParameters, lif_multistep, lif_step
from snnkit.kernels import lif_cpu
from snnkit.neurons import IF, LIF, Sequential
from snnkit.synapses import TimeDistributed
from snnkit.training import online

from engine_oracles import reference_engine_run

pytestmark = pytest.mark.skipif(lif_cpu.load() is None, reason="no C++ compiler: the C++ engine is not built")


def _unfused(x, w, b, v0, p):
    return lif_multistep(nn.functional.linear(x, w, b), v0, p)


def _spatial_reference(x, w, b, v0, p, trace=None):
    """The SLTT definition: step by step, each step's state enters detached (no route through time).
    With ``trace`` (OTTT) the current keeps its value but the weight gradient reads the trace."""
    cur, v, out = nn.functional.linear(x, w, b), v0, []
    if trace is not None:
        mixed = nn.functional.linear(x + (trace - x).detach(), w, b)  # d/dw reads the trace, d/dx is W^T g
        cur = mixed + (cur - mixed).detach()
    for c in cur.unbind(0):
        s, v = lif_step(c, v.detach(), p)
        out.append(s)
    return torch.stack(out), v


def _grads(fn, leaves, weight_out, *args):
    s, v = fn(*args)
    loss = (s * weight_out).sum() + 0.3 * v.sum()
    wanted = [t for t in leaves if t is not None and t.requires_grad]
    return (s, v) + torch.autograd.grad(loss, wanted)


@settings(max_examples=60, deadline=None)
@given(T=st.integers(1, 7), lead=st.lists(st.integers(1, 3), min_size=1, max_size=2), n_in=st.integers(1, 9),
       n_out=st.integers(1, 9), bias=st.booleans(), reset=st.sampled_from(["hard", "subtract", "none"]),
       surrogate=st.sampled_from(["atan", "sigmoid", "triangle"]), decay_input=st.booleans(),
       per_neuron=st.booleans(), learn=st.booleans(), with_state=st.booleans(), input_grad=st.booleans(),
       seed=st.integers(0, 2**16))
def test_fused_linear_lif_equals_linear_then_lif(T, lead, n_in, n_out, bias, reset, surrogate, decay_input, per_neuron,
                                                 learn, with_state, input_grad, seed):
    g = torch.Generator().manual_seed(seed)
    f64 = dict(generator=g, dtype=torch.float64)
    x = (torch.rand(T, *lead, n_in, **f64) * 2).requires_grad_(input_grad)
    w = (torch.randn(n_out, n_in, **f64) * 0.8).requires_grad_()
    b = (torch.randn(n_out, **f64) * 0.3).requires_grad_() if bias else None
    v0 = (torch.randn(*lead, n_out, **f64) * 0.3).requires_grad_() if with_state else None
    pshape = (n_out,) if per_neuron else ()
    tau = (torch.rand(pshape, **f64) * 6 + 2).requires_grad_(learn)
    th = (torch.rand(pshape, **f64) * 0.5 + 0.6).requires_grad_(learn)
    p = LIFParameters(tau_mem=tau, v_th=th, reset=reset, v_reset=-0.1, decay_input=decay_input, surrogate=surrogate)
    weight_out = torch.randn(T, *lead, n_out, **f64)
    leaves = [x, w, b, v0, tau, th]
    ref = _grads(_unfused, leaves, weight_out, x, w, b, v0, p)
    got = _grads(lambda *a: snnkit.kernels.linear_lif(*a), leaves, weight_out, x, w, b, v0, p)
    assert torch.equal(got[0], ref[0]), "spikes differ"
    assert torch.equal(got[1], ref[1]), "last membranes differ"
    assert len(got) == len(ref)
    for a, c in zip(ref[2:], got[2:]):
        torch.testing.assert_close(c, a, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 7), B=st.integers(1, 3), n_in=st.integers(1, 9), n_out=st.integers(1, 9),
       bias=st.booleans(), reset=st.sampled_from(["hard", "subtract", "none"]), decay_input=st.booleans(),
       with_state=st.booleans(), per_neuron=st.booleans(), traced=st.booleans(), seed=st.integers(0, 2**16))
def test_spatial_form_equals_the_detached_reference(T, B, n_in, n_out, bias, reset, decay_input, with_state,
                                                    per_neuron, traced, seed):
    g = torch.Generator().manual_seed(seed)
    f64 = dict(generator=g, dtype=torch.float64)
    x = (torch.rand(T, B, n_in, **f64) * 2).requires_grad_()
    w = (torch.randn(n_out, n_in, **f64) * 0.8).requires_grad_()
    b = (torch.randn(n_out, **f64) * 0.3).requires_grad_() if bias else None
    v0 = torch.randn(B, n_out, **f64) * 0.3 if with_state else torch.zeros(B, n_out, dtype=torch.float64)
    # one tau and threshold for all (the engine broadcasts them) or one per neuron
    tau = 3 + torch.rand(n_out, **f64) * 3 if per_neuron else torch.tensor(4.0, dtype=torch.float64)
    th = 0.5 + torch.rand(n_out, **f64) * 0.4 if per_neuron else 0.7
    p = LIFParameters(tau_mem=tau, v_th=th, reset=reset, decay_input=decay_input)
    weight_out = torch.randn(T, B, n_out, **f64)
    trace = torch.rand(T, B, n_in, **f64) * 3 if traced else None  # OTTT: the weight gradient reads it
    s_ref, _ = _spatial_reference(x, w, b, v0, p, trace)
    ref = torch.autograd.grad((s_ref * weight_out).sum(), [t for t in (x, w, b) if t is not None])
    s, v = snnkit.kernels.linear_lif(x, w, b, v0, p, spatial=True, weight_grad_input=trace)
    got = torch.autograd.grad((s * weight_out).sum(), [t for t in (x, w, b) if t is not None])
    assert torch.equal(s, s_ref) and not v.requires_grad
    for a, c in zip(ref, got):
        torch.testing.assert_close(c, a, rtol=1e-9, atol=1e-9)


def _net(linear=nn.Linear):
    torch.manual_seed(0)
    return Sequential(linear(12, 16), LIF(tau_mem=5.0, v_th=0.5), TimeDistributed(nn.Linear(16, 3)), LIF(tau_mem=5.0, v_th=0.5))


@pytest.fixture
def fused_calls(monkeypatch):
    calls = []
    original = lif_cpu.linear_lif_cpp
    monkeypatch.setattr(lif_cpu, "linear_lif_cpp",
                        lambda x, w, *a: calls.append((tuple(w.shape), a[3])) or original(x, w, *a))
    return calls


def _input(T=6, B=3):
    return (torch.rand(T, B, 12, generator=torch.Generator().manual_seed(1)) < 0.4).float() * 2


def test_sequential_fuses_linear_and_lif_with_the_same_values(fused_calls):
    """forward and run take the fused pass for both pairs (bare and time-distributed Linear); outputs,
    states and weight gradients equal the same network on the reference engine (which fuses nothing)."""
    net, x = _net(), _input()
    out = net(x)
    out.sum().backward()
    grads = [q.grad.clone() for q in net.parameters()]
    assert fused_calls == [((16, 12), False), ((3, 16), False)]
    run_out, state = net.run(x)
    assert len(fused_calls) == 4 and torch.equal(run_out, out) and state[0] is None and state[2] is None
    ref, ref_state, ref_grads = reference_engine_run(net, x)
    assert torch.equal(out, ref) and out.sum() > 0
    for a, c in zip(state, ref_state):
        assert (a is None and c is None) or torch.equal(a, c)
    for a, c in zip(grads, ref_grads):
        torch.testing.assert_close(a, c, rtol=1e-4, atol=1e-5)


def test_hooks_subclasses_and_autocast_turn_the_fusion_off(fused_calls):
    net, x = _net(), _input()
    seen = []
    handle = net[0].register_forward_hook(lambda _m, _i, out: seen.append(out.shape))
    net(x)
    handle.remove()
    assert seen == [torch.Size([6, 3, 16])] and [c[0] for c in fused_calls] == [(3, 16)]

    class Scaled(nn.Linear):  # computes something else than nn.Linear: never fused
        def forward(self, inp):
            return 2 * super().forward(inp)
    fused_calls.clear()
    net = _net(Scaled)
    out = net(x)
    assert [c[0] for c in fused_calls] == [(3, 16)]
    assert torch.equal(out, net[3](net[2](net[1](net[0](x)))))

    fused_calls.clear()
    net = _net()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = net(x)
    assert fused_calls == [] and out.dtype == torch.bfloat16


def test_lif_subclasses_that_override_run_are_not_fused(fused_calls):
    class Counting(LIF):
        runs = 0

        def run(self, x, state=None, record_membrane=False):
            Counting.runs += 1
            return super().run(x, state, record_membrane)
    torch.manual_seed(0)
    net = Sequential(nn.Linear(12, 16), Counting(tau_mem=5.0, v_th=0.5))
    net(_input())
    assert Counting.runs == 1 and fused_calls == []


@pytest.mark.parametrize("method", ["sltt", "ottt"])
def test_online_training_takes_the_spatial_form_and_keeps_its_gradient(fused_calls, method):
    """SLTT and OTTT (the weight gradient reading the trace) through the fused spatial pass equal the same
    method with the pairs run apart (a hook on each LIF turns the fusion off there and changes nothing
    else); both are checked against their definition in tests/test_training_online.py."""
    net, x, y = _net(), _input(T=9), torch.tensor([0, 1, 2])
    loss_fn = snnkit.training.losses.get_loss("ce_count")

    def grads(method):
        net.zero_grad()
        online.backward(net, x, y, loss_fn, method=method, chunk_steps=4)
        return [q.grad.clone() for q in net.parameters()]
    fused = grads(method)
    assert fused_calls == [((16, 12), True), ((3, 16), True)] * 3  # chunks of 3, 3, 3
    handles = [net[i].register_forward_hook(lambda *_: None) for i in (1, 3)]
    fused_calls.clear()
    apart = grads(method)
    for h in handles:
        h.remove()
    assert fused_calls == [] and all(g.abs().sum() > 0 for g in apart)
    for a, c in zip(apart, fused):
        torch.testing.assert_close(c, a, rtol=1e-5, atol=1e-6)
    if method == "ottt":  # the trace matters: SLTT's weight gradient (reading the input) differs
        assert not torch.allclose(grads("sltt")[0], fused[0], atol=1e-6)


def test_weight_grad_input_is_for_the_spatial_form_and_shaped_like_x():
    x, w = torch.rand(3, 2, 4), torch.randn(5, 4)
    p = LIFParameters(tau_mem=4.0)
    with pytest.raises(ValueError, match="spatial=True"):
        snnkit.kernels.linear_lif(x, w, None, None, p, weight_grad_input=torch.rand(3, 2, 4))
    with pytest.raises(ValueError, match=r"shaped like x \(3, 2, 4\); got spatial=True and shape \(3, 2, 5\)"):
        snnkit.kernels.linear_lif(x, w, None, None, p, spatial=True, weight_grad_input=torch.rand(3, 2, 5))


@settings(max_examples=40, deadline=None)
@given(pairs=st.integers(1, 3), steps=st.integers(1, 3), rows=st.integers(1, 4),
       bias=st.lists(st.booleans(), min_size=3, max_size=3),
       reset=st.sampled_from(["hard", "subtract", "none"]), decay_input=st.booleans(), with_state=st.booleans(),
       per_neuron=st.booleans(), x_grad=st.booleans(), seed=st.integers(0, 2**16))
def test_spatial_chain_equals_its_pairs_one_by_one(pairs, steps, rows, bias, reset, decay_input, with_state, per_neuron,
                                                   x_grad, seed):
    """The chain of Linear + LIF pairs with given currents (SLTT-K's chosen steps, one autograd node) has
    the spikes and the input, weight and bias gradients of the SLTT definition applied pair after pair."""
    g = torch.Generator().manual_seed(seed)
    f64 = dict(generator=g, dtype=torch.float64)
    widths = [int(n) for n in torch.randint(1, 7, (pairs + 1,), generator=g)]
    x = (torch.rand(steps, rows, widths[0], **f64) * 2).requires_grad_(x_grad)
    ws = [(torch.randn(widths[j + 1], widths[j], **f64) * 0.9).requires_grad_() for j in range(pairs)]
    bs = [(torch.randn(widths[j + 1], **f64) * 0.3).requires_grad_() if bias[j] else None for j in range(pairs)]
    ps = [LIFParameters(tau_mem=3 + torch.rand(widths[j + 1], **f64) * 3 if per_neuron else 4.0 + j,
                        v_th=0.5 + 0.1 * j, reset=reset, decay_input=decay_input) for j in range(pairs)]
    v0s = [torch.randn(rows, widths[j + 1], **f64) * 0.3 if with_state else None for j in range(pairs)]
    weight_out = torch.randn(steps, rows, widths[-1], **f64)
    leaves = [t for t in (x, *ws, *bs) if t is not None and t.requires_grad]
    # the oracle, pair after pair; each pair's current is its Linear's output on the previous spikes
    h, currents = x, []
    for w, b, p, v0 in zip(ws, bs, ps, v0s):
        currents.append(nn.functional.linear(h, w, b).detach())
        h, _ = _spatial_reference(h, w, b, torch.zeros(rows, w.shape[0], dtype=torch.float64) if v0 is None else v0, p)
    ref = torch.autograd.grad((h * weight_out).sum(), leaves)
    out = snnkit.kernels.spatial_linear_lif_chain(x, list(zip(ws, bs, ps, currents, v0s)))
    assert torch.equal(out, h)
    got = torch.autograd.grad((out * weight_out).sum(), leaves)
    for a, c in zip(ref, got):
        torch.testing.assert_close(c, a, rtol=1e-9, atol=1e-9)


def test_sltt_k_takes_the_chain_with_the_kept_linear_outputs(monkeypatch):
    """SLTT-K's chosen steps run the bare Linear + LIF pairs in a row as one chain on the Linear outputs
    its forward pass kept (their gradients against the reference: tests/test_training_online.py); a
    time-distributed Linear keeps no outputs and runs apart."""
    chains = []
    original = lif_cpu.spatial_chain_cpp
    monkeypatch.setattr(lif_cpu, "spatial_chain_cpp", lambda x, layers, wb, events: chains.append(
        [tuple(w.shape) for w in wb[::2]]) or original(x, layers, wb, events))
    loss, y = snnkit.training.losses.get_loss("ce_count"), torch.tensor([0, 1, 2])
    net, x = _net(), _input(T=20)
    online.backward(net, x, y, loss, method="sltt_k", k=3, generator=torch.Generator().manual_seed(5))
    assert chains and all(c == [(16, 12)] for c in chains)
    chains.clear()
    bare = Sequential(nn.Linear(12, 16), LIF(tau_mem=5.0, v_th=0.5), nn.Linear(16, 3), LIF(tau_mem=5.0, v_th=0.5))
    online.backward(bare, x, y, loss, method="sltt_k", k=3, generator=torch.Generator().manual_seed(5))
    assert chains and all(c == [(16, 12), (3, 16)] for c in chains)


def test_if_layers_fuse_and_mismatched_dtypes_get_nn_linears_error(fused_calls):
    torch.manual_seed(0)
    net = Sequential(nn.Linear(12, 16).double(), IF(v_th=0.5))
    x = _input().double()
    out = net(x)
    with snnkit.use_engine("reference"):
        ref = net(x)
    assert torch.equal(out, ref) and out.sum() > 0 and fused_calls == [((16, 12), False)]
    with pytest.raises(RuntimeError, match="dtype"):  # float32 input, float64 weight: not fused, nn.Linear says why
        net(_input())
    assert len(fused_calls) == 1

