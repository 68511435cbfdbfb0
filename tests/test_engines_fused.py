"""Fused engines of CUBA-LIF, ALIF, LI and Izhikevich against the reference definitions in
snnkit.functional: identical spikes, and final states and gradients (inputs, initial state, time
constants, threshold) equal to float64 tolerance."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import snnkit
from snnkit import functional as F
from snnkit.kernels import alif_fused, cuba_lif_multistep_fused, izhikevich_fused, li_multistep_fused

SURROGATES = snnkit.surrogate.names()
COMMON = dict(T=st.integers(1, 10), B=st.integers(1, 3), feat=st.lists(st.integers(1, 4), min_size=1, max_size=2),
              per_neuron=st.booleans(), learn=st.booleans(), seed=st.integers(0, 2**16))


def _tensors(g, T, B, feat, n_state):
    shape = (T, B, *feat)
    xs = (torch.randn(shape, generator=g, dtype=torch.float64) * 0.9 + 0.4).requires_grad_()
    state = tuple((torch.randn(shape[1:], generator=g, dtype=torch.float64) * 0.3).requires_grad_()
                  for _ in range(n_state))
    return xs, state


def _param(g, shape, low, high, learn):
    return (torch.rand(shape, generator=g, dtype=torch.float64) * (high - low) + low).requires_grad_(learn)


def _compare(ref_fn, fused_fn, xs, state, leaves, spiking=True):
    """Run both, reduce every output with fixed random weights, compare outputs and gradients."""
    results = []
    for fn in (ref_fn, fused_fn):
        out, last = fn(xs, state)
        last = last if isinstance(last, tuple) else (last,)
        g = torch.Generator().manual_seed(7)
        loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum()
        loss = loss + sum((s * torch.randn(s.shape, generator=g, dtype=s.dtype)).sum() for s in last)
        wrt = [t for t in (xs, *state, *leaves) if isinstance(t, torch.Tensor) and t.requires_grad]
        results.append((out, last, torch.autograd.grad(loss, wrt, allow_unused=True)))
    (ref_out, ref_last, ref_g), (out, last, grads) = results
    if spiking:
        assert torch.equal(out, ref_out), "spikes differ"
    else:
        torch.testing.assert_close(out, ref_out, rtol=1e-12, atol=1e-12)
    for a, b in zip(ref_last + ref_g, last + grads):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


@settings(max_examples=40, deadline=None)
@given(reset=st.sampled_from(["hard", "subtract", "none"]), surrogate=st.sampled_from(SURROGATES),
       decay_input=st.booleans(), detach=st.booleans(), **COMMON)
def test_cuba_lif_fused_matches_reference(reset, surrogate, decay_input, detach, T, B, feat, per_neuron, learn, seed):
    g = torch.Generator().manual_seed(seed)
    xs, state = _tensors(g, T, B, feat, 2)
    pshape = tuple(feat) if per_neuron else ()
    tau_syn, tau_mem = _param(g, pshape, 2, 8, learn), _param(g, pshape, 2, 10, learn)
    th = _param(g, pshape, 0.6, 1.0, learn)
    p = F.CubaLIFParameters(tau_syn=tau_syn, lif=F.LIFParameters(
        tau_mem=tau_mem, v_th=th, reset=reset, decay_input=decay_input, surrogate=surrogate, detach_reset=detach))
    _compare(lambda x, s: F.cuba_lif_multistep(x, s, p), lambda x, s: cuba_lif_multistep_fused(x, s, p),
             xs, state, (tau_syn, tau_mem, th))


@settings(max_examples=40, deadline=None)
@given(reset=st.sampled_from(["hard", "subtract", "none"]), surrogate=st.sampled_from(SURROGATES),
       decay_input=st.booleans(), detach=st.booleans(), beta_adapt=st.sampled_from([0.0, 0.4, 1.8]), **COMMON)
def test_alif_fused_matches_reference(reset, surrogate, decay_input, detach, beta_adapt, T, B, feat, per_neuron,
                                      learn, seed):
    g = torch.Generator().manual_seed(seed)
    xs, state = _tensors(g, T, B, feat, 2)
    pshape = tuple(feat) if per_neuron else ()
    tau_mem, tau_adapt = _param(g, pshape, 2, 10, learn), _param(g, pshape, 5, 50, learn)
    th = _param(g, pshape, 0.5, 1.0, learn)
    p = F.ALIFParameters(tau_adapt=tau_adapt, beta_adapt=beta_adapt, lif=F.LIFParameters(
        tau_mem=tau_mem, v_th=th, reset=reset, decay_input=decay_input, surrogate=surrogate, detach_reset=detach))
    _compare(lambda x, s: F.alif_multistep(x, s, p), lambda x, s: alif_fused.alif_multistep_fused(x, s, p),
             xs, state, (tau_mem, tau_adapt, th))


@settings(max_examples=30, deadline=None)
@given(decay_input=st.booleans(), method=st.sampled_from(["exp", "euler"]), **COMMON)
def test_li_fused_matches_reference(decay_input, method, T, B, feat, per_neuron, learn, seed):
    g = torch.Generator().manual_seed(seed)
    xs, (v0,) = _tensors(g, T, B, feat, 1)
    tau = _param(g, tuple(feat) if per_neuron else (), 2, 10, learn)
    p = F.LIParameters(tau_mem=tau, decay_input=decay_input, method=method)
    _compare(lambda x, s: F.li_multistep(x, s[0], p), lambda x, s: li_multistep_fused(x, s[0], p),
             xs, (v0,), (tau,), spiking=False)


@pytest.mark.parametrize("engine", ["reference", "fused", "auto"])
@pytest.mark.parametrize("at_rest", [False, True])
def test_li_returns_output_and_final_state_of_the_step_loop(engine, at_rest):
    """LI's multi-step paths (dispatcher and layer) return ``(membranes, final membrane)`` like every
    neuron; both equal ``li_step`` applied step by step from the same initial membrane."""
    g = torch.Generator().manual_seed(3)
    xs = torch.randn(7, 2, 5, generator=g, dtype=torch.float64)
    v0 = None if at_rest else torch.randn(2, 5, generator=g, dtype=torch.float64)
    layer = snnkit.neurons.LI(tau_mem=4.0, decay_input=True).double()
    p = layer.params()  # the layer's tau (stored as a log) exactly
    v, trace = torch.zeros_like(xs[0]) if v0 is None else v0, []
    for x in xs.unbind(0):
        v = F.li_step(x, v, p)
        trace.append(v)
    with snnkit.kernels.use_engine(engine):
        results = [snnkit.kernels.li(xs, v0, p), layer.run(xs, v0)]
    for out, final in results:
        torch.testing.assert_close(out, torch.stack(trace), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(final, v, rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(preset=st.sampled_from(sorted(F.IZHIKEVICH_PRESETS)), surrogate=st.sampled_from(SURROGATES),
       detach=st.booleans(), dt=st.sampled_from([0.25, 0.5, 1.0]), T=st.integers(1, 40), B=st.integers(1, 3),
       feat=st.lists(st.integers(1, 4), min_size=1, max_size=2), seed=st.integers(0, 2**16))
def test_izhikevich_fused_matches_reference(preset, surrogate, detach, dt, T, B, feat, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (T, B, *feat)
    xs = (torch.rand(shape, generator=g, dtype=torch.float64) * 20).requires_grad_()
    v0 = (torch.rand(shape[1:], generator=g, dtype=torch.float64) * 40 - 70).requires_grad_()
    u0 = (torch.rand(shape[1:], generator=g, dtype=torch.float64) * 4 - 14).requires_grad_()
    p = F.IzhikevichParameters.preset(preset, dt=dt, surrogate=snnkit.surrogate.get(surrogate), detach_reset=detach)
    _compare(lambda x, s: F.izhikevich_multistep(x, s, p), lambda x, s: izhikevich_fused.izhikevich_multistep_fused(x, s, p),
             xs, (v0, u0), ())


def test_dispatcher_uses_fused_engines_and_the_reference_switch():
    """The layers route through the fused engines by default (one autograd node per sequence) and
    through the reference loop under use_engine('reference') (one node per step and more)."""
    from snnkit.neurons import ALIF, LI, CubaLIF, Izhikevich
    for layer, scale in ((CubaLIF(), 2.0), (ALIF(), 2.0), (LI(), 1.0), (Izhikevich(), 15.0)):
        x = (torch.rand(12, 2, 3) * scale).requires_grad_()
        fused_out = layer(x)
        with snnkit.use_engine("reference"):
            ref_out = layer(x)
        torch.testing.assert_close(fused_out, ref_out)
        names = {type(fn).__name__ for fn in _graph_nodes(fused_out.grad_fn)}
        assert any(n.startswith("_Fused") for n in names), (type(layer).__name__, names)
        assert not any(n.startswith("_Fused") for n in _names(ref_out.grad_fn))


def _graph_nodes(fn, seen=None):
    seen = set() if seen is None else seen
    if fn is None or fn in seen:
        return seen
    seen.add(fn)
    for nxt, _ in fn.next_functions:
        _graph_nodes(nxt, seen)
    return seen


def _names(fn):
    return {type(f).__name__ for f in _graph_nodes(fn)}


def test_learnable_izhikevich_and_beta_adapt_fall_back_to_reference():
    p = F.IzhikevichParameters(a=torch.tensor(0.02, requires_grad=True))
    assert not izhikevich_fused.supports(p)
    assert not alif_fused.supports(F.ALIFParameters(beta_adapt=torch.tensor(1.0, requires_grad=True)))
    x = torch.full((20, 1, 1), 10.0)
    s, _ = snnkit.kernels.izhikevich(x, None, p)
    assert torch.equal(s, F.izhikevich_multistep(x, None, p)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_low_precision_spikes_match_reference(dtype):
    x = (torch.rand(30, 4, 8) * 2).to(dtype)
    p = F.CubaLIFParameters(lif=F.LIFParameters(tau_mem=8.0))
    assert torch.equal(cuba_lif_multistep_fused(x, None, p)[0], F.cuba_lif_multistep(x, None, p)[0])


@pytest.mark.parametrize("model, floats", [("cuba", 2), ("alif", 2), ("li", 1), ("izhikevich", 1)])
def test_fused_engines_save_few_floats_per_neuron_step(model, floats):
    """Backward memory: the fused engines keep ``floats`` values per neuron and step (CUBA: the currents
    and the pre-reset membrane; ALIF: membrane and adaptation; LI: the membranes; Izhikevich: the
    pre-reset membrane), against 3-4 for the reference loop."""
    from snnkit.neurons import ALIF, LI, CubaLIF, Izhikevich
    layer, scale = {"cuba": (CubaLIF(learn_tau=True), 1.5), "alif": (ALIF(learn_tau=True), 1.5),
                    "li": (LI(learn_tau=True), 1.0), "izhikevich": (Izhikevich(), 15.0)}[model]
    T, B, N = 20, 4, 16
    x = (torch.rand(T, B, N) * scale).requires_grad_()
    sizes = {}

    def pack(t):
        sizes[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
        return t

    for engine in ("fused", "reference"):
        sizes.clear()
        with snnkit.use_engine(engine), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            layer(x)
        per_step = sum(sizes.values()) / (T * B * N * 4)
        if engine == "fused":
            assert per_step <= floats + 0.25, per_step   # + a few [B, N] vectors (1/T each)
            fused = per_step
    if model != "li":
        assert per_step > fused + 0.9    # the reference keeps at least one more float per neuron and step
