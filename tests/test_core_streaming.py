"""Streaming: ``Sequential.step`` (each layer's own single-step path) gives, step after step, exactly what
the multi-step engines give on the whole sequence (the oracle), with and without a graph; the surrogate's
no-graph shortcut is the same Heaviside step as its autograd Function."""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torch import nn

import snnkit.neurons as N
from snnkit import kernels, surrogate
from snnkit.functional import LIFParameters, lif_step
from snnkit.kernels import lif_cpu
from snnkit.synapses import RecurrentCell, TimeDistributed


def _net() -> N.Sequential:
    torch.manual_seed(0)
    net = N.Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), N.LIF(tau_mem=4.0),
                       TimeDistributed(nn.AvgPool2d(2)), TimeDistributed(nn.Flatten()), nn.Linear(4 * 4 * 4, 16),
                       N.ALIF(tau_mem=5.0), RecurrentCell(N.CubaLIF(tau_syn=3.0, tau_mem=6.0), nn.Linear(16, 16)),
                       nn.Linear(16, 5), N.LI(tau_mem=4.0))
    with torch.no_grad():
        for p in net.parameters():
            p.mul_(2.0)
    return net


def _stream(net: N.Sequential, x: torch.Tensor) -> torch.Tensor:
    out, state = [], None
    for x_t in x.unbind(0):
        y, state = net.step(x_t, state)
        out.append(y)
    return torch.stack(out)


def test_step_by_step_equals_the_multistep_run_without_a_graph():
    net = _net()
    x = (torch.rand(30, 3, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    with torch.no_grad():
        ref = net(x)
        got = _stream(net, x)
        hidden = net[:2](x)
    assert hidden.sum() > 50, "the conv LIF layer must spike"
    torch.testing.assert_close(got, ref, rtol=1e-5, atol=1e-5)


def test_step_by_step_gradients_equal_the_multistep_gradients():
    x = (torch.rand(12, 2, 2, 8, 8, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    grads = []
    for run in (lambda n: n(x), lambda n: _stream(n, x)):
        net = _net()
        run(net).pow(2).sum().backward()
        grads.append([p.grad.clone() for p in net.parameters()])
    assert any(g.abs().sum() > 0 for g in grads[0])
    for a, b in zip(*grads):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", surrogate.names())
def test_no_graph_spike_equals_the_autograd_spike(name):
    x = torch.tensor([-1.0, -1e-7, 0.0, 1e-7, 2.0])
    sg = surrogate.get(name)
    assert torch.equal(sg(x), surrogate.spike(x, sg))           # no graph: the shortcut
    y = x.clone().requires_grad_(True)
    assert torch.equal(sg(y).detach(), surrogate.spike(x, sg))  # graph: the Function


def _fresh_step(lif: N.LIF, x: torch.Tensor, v: torch.Tensor):
    """The oracle: one step with the parameters rebuilt from the layer as it is now."""
    from snnkit.functional import lif_step
    return lif_step(x, v, lif.params())


@pytest.mark.parametrize("learn", [False, True])
def test_kept_step_parameters_follow_every_change_of_the_layer(learn):
    """LIF.step keeps its decay and threshold between calls; every way of changing what they come from
    (in-place updates as an optimiser makes them, load_state_dict, new tensors, attributes, dtype) gives
    the values of the parameters rebuilt afresh."""
    torch.manual_seed(0)
    lif = N.LIF(tau_mem=4.0, v_th=0.6, learn_tau=learn, learn_threshold=learn, shape=8)
    x, v = torch.rand(3, 8) * 0.8, torch.rand(3, 8) * 0.5

    def check(xx=x, vv=v):
        with torch.no_grad():
            got, ref = lif.step(xx, vv), _fresh_step(lif, xx, vv)
        assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])
        return got

    first = check()
    with torch.no_grad():
        lif._log_tau_mem.add_(0.7)       # an optimiser's in-place step
        lif.v_th.sub_(0.2)
    assert not torch.equal(check()[1], first[1])
    state = {k: t * 1.1 for k, t in lif.state_dict().items()}
    lif.load_state_dict(state)
    check()
    new_th = torch.full((8,), 0.3)
    lif.v_th = nn.Parameter(new_th) if learn else new_th   # a new tensor: a new parameter, or the buffer replaced
    check()
    lif.dt, lif.reset = 0.5, "subtract"
    check()
    check(x.double(), v.double())


def test_step_trains_tau_and_threshold_through_fresh_parameters():
    """With a graph to build, the learnable tau and threshold get their gradient from every step."""
    torch.manual_seed(0)
    lif = N.LIF(tau_mem=4.0, v_th=0.5, learn_tau=True, learn_threshold=True)
    xs = torch.rand(5, 3, 6)
    v, total = None, 0.0
    for x_t in xs.unbind(0):
        s, v = lif.step(x_t, v)
        total = total + s.sum() + v.sum()
    got = torch.autograd.grad(total, [lif._log_tau_mem, lif.v_th])
    out, v_seq = lif.run(xs, None, record_membrane=True)
    ref = torch.autograd.grad(out.sum() + v_seq.sum(), [lif._log_tau_mem, lif.v_th])
    assert all(g.abs().sum() > 0 for g in got)
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


def test_subclasses_with_their_own_params_are_not_kept():
    class Scaled(N.LIF):
        scale = 1.0

        def params(self):
            p = super().params()
            from dataclasses import replace
            return replace(p, v_th=p.v_th * self.scale)
    lif, x = Scaled(tau_mem=4.0, v_th=0.5), torch.full((2, 3), 0.7)
    with torch.no_grad():
        assert lif.step(x)[0].sum() == 6
        lif.scale = 2.0
        assert lif.step(x)[0].sum() == 0


needs_cpp = pytest.mark.skipif(lif_cpu.load() is None, reason="no C++ compiler: the C++ engine is not built")


@needs_cpp
@settings(max_examples=80, deadline=None)
@given(shape=st.lists(st.integers(1, 7), min_size=1, max_size=3), reset=st.sampled_from(["hard", "subtract", "none"]),
       decay_input=st.booleans(), per_neuron=st.booleans(), double=st.booleans(), leak=st.booleans(),
       seed=st.integers(0, 2**16))
def test_the_engines_no_graph_step_equals_the_reference_step(shape, reset, decay_input, per_neuron, double, leak,
                                                             seed):
    """kernels.lif_step (the C++ forward for one step, constants broadcast inside it when scalar) against
    snnkit.functional.lif_step: the same spikes and membranes to the bit."""
    g = torch.Generator().manual_seed(seed)
    dtype = torch.float64 if double else torch.float32
    x = torch.randn(*shape, generator=g, dtype=dtype) * 1.5
    v = torch.randn(*shape, generator=g, dtype=dtype) * 0.5
    pshape = tuple(shape[-1:]) if per_neuron else ()
    tau = torch.rand(pshape, generator=g, dtype=dtype) * 6 + 1.5
    p = LIFParameters(tau_mem=tau if leak else None,  # None: IF, beta = 1
                      v_th=torch.rand(pshape, generator=g, dtype=dtype) * 0.5 + 0.5, reset=reset, v_reset=-0.2,
                      decay_input=decay_input)
    with torch.no_grad():
        got = kernels.lif_step(x, v, p)
    ref = lif_step(x, v, p)
    assert torch.equal(got[0], ref[0]) and torch.equal(got[1], ref[1])


@needs_cpp
def test_streaming_takes_the_engines_step_only_without_a_graph(monkeypatch):
    calls = []
    original = lif_cpu.lif_step_cpp
    monkeypatch.setattr(lif_cpu, "lif_step_cpp", lambda *a: calls.append(1) or original(*a))
    net = _net()
    x = (torch.rand(6, 3, 2, 8, 8, generator=torch.Generator().manual_seed(2)) < 0.3).float()
    with torch.no_grad():
        got = _stream(net, x)
        with kernels.use_engine("reference"):
            ref = _stream(net, x)
    assert len(calls) == 6 and torch.equal(got, ref)  # one LIF layer, six steps; "reference" takes none
    calls.clear()
    _stream(net, x).sum().backward()  # a graph is wanted: the reference step builds it
    assert calls == [] and net[0].module.weight.grad.abs().sum() > 0


@needs_cpp
def test_the_engine_names_wrong_sized_constants():
    with pytest.raises(RuntimeError, match="beta and th 1 or 6"):
        lif_cpu.load().lif_forward(torch.zeros(1, 6), torch.zeros(6), torch.ones(2), torch.ones(6), 0, 0.0, False,
                                   False, torch.empty(0, dtype=torch.int64))


def test_a_vmapped_step_runs_the_reference_ops():
    """torch.func.vmap over LIF.step (an ensemble of inputs): its tensors have no storage for the engine,
    so the step takes the reference ops, and each slice equals the step run alone."""
    lif = N.LIF(tau_mem=5.0, v_th=0.5)
    x = torch.randn(4, 3, 8, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        got = torch.func.vmap(lambda a: lif.step(a)[0])(x)
        assert torch.equal(got, torch.stack([lif.step(a)[0] for a in x])) and got.sum() > 0
