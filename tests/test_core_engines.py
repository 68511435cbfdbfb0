"""Fused engines (pure-torch and C++) against the reference definition in snnkit.functional:
identical spikes, and states and gradients (inputs, tau, threshold) equal to float64 tolerance."""
import pytest
import torch
from hypothesis import given, settings, strategies as st

import snnkit
from snnkit.functional import LIFParameters, LIParameters, li_multistep, lif_multistep
from snnkit.kernels import lif_cpu, lif_multistep_fused

ENGINES = {"fused": lif_multistep_fused}
if lif_cpu.load() is not None:
    ENGINES["cpp"] = lif_cpu.lif_multistep_cpp

SURROGATES = snnkit.surrogate.names()


def _run(fn, xs, v0, p, w):
    s, v = fn(xs, v0, p)
    loss = (s * w).sum() + 0.3 * v.sum()
    leaves = [t for t in (xs, v0, p.tau_mem, p.v_th) if isinstance(t, torch.Tensor) and t.requires_grad]
    return (s, v) + torch.autograd.grad(loss, leaves)


@settings(max_examples=60, deadline=None)
@given(
    T=st.integers(1, 12), B=st.integers(1, 3), feat=st.lists(st.integers(1, 5), min_size=1, max_size=2),
    reset=st.sampled_from(["hard", "subtract", "none"]), surrogate=st.sampled_from(SURROGATES),
    decay_input=st.booleans(), detach=st.booleans(), per_neuron=st.booleans(), learn=st.booleans(),
    v_reset=st.sampled_from([0.0, -0.3]), engine=st.sampled_from(sorted(ENGINES)), seed=st.integers(0, 2**16),
)
def test_fused_engines_match_reference(T, B, feat, reset, surrogate, decay_input, detach, per_neuron, learn,
                                       v_reset, engine, seed):
    g = torch.Generator().manual_seed(seed)
    shape = (T, B, *feat)
    xs = (torch.randn(shape, generator=g, dtype=torch.float64) * 0.9 + 0.3).requires_grad_()
    v0 = (torch.randn(shape[1:], generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    pshape = tuple(feat) if per_neuron else ()
    tau = (torch.rand(pshape, generator=g, dtype=torch.float64) * 8 + 2).requires_grad_(learn)
    th = (torch.rand(pshape, generator=g, dtype=torch.float64) * 0.5 + 0.75).requires_grad_(learn)
    p = LIFParameters(tau_mem=tau, v_th=th, reset=reset, v_reset=v_reset, decay_input=decay_input,
                      surrogate=surrogate, detach_reset=detach)
    w = torch.randn(shape, generator=g, dtype=torch.float64)
    ref = _run(lif_multistep, xs, v0, p, w)
    got = _run(ENGINES[engine], xs, v0, p, w)
    assert torch.equal(ref[0], got[0]), "spikes differ"
    for a, b in zip(ref[1:], got[1:]):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("engine", sorted(ENGINES))
def test_float32_engines_match_reference_spikes(engine):
    xs = torch.randn(50, 8, 64) + 0.2
    p = LIFParameters(tau_mem=9.0)
    assert torch.equal(lif_multistep(xs, None, p)[0], ENGINES[engine](xs, None, p)[0])


def test_engine_switch_and_errors():
    lif = snnkit.neurons.LIF()
    x = torch.rand(5, 2, 3)
    outs = []
    for name in ["reference", "fused", "auto"]:
        with snnkit.use_engine(name):
            outs.append(lif(x))
    assert all(torch.equal(outs[0], o) for o in outs)
    with pytest.raises(ValueError, match="engine"):
        snnkit.set_engine("turbo")
    assert snnkit.kernels.get_engine() == "auto"


def test_hidden_state_memory_is_one_float_per_neuron_step():
    """The fused engine keeps only the pre-reset membrane for backward (not 4-5 tensors per step)."""
    xs = torch.randn(20, 4, 16, requires_grad=True)
    saved = []

    def pack(t):
        saved.append(t.numel() * t.element_size())
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        s, _ = lif_multistep_fused(xs, None, LIFParameters())
    per_step_floats = xs.numel() * 4
    assert sum(saved) <= per_step_floats + 4 * 16 * 4 * 3  # h (float per neuron-step) + [B, F]-sized vectors


@pytest.mark.skipif("cpp" not in ENGINES, reason="no C++ compiler: the C++ engine is not built")
def test_cpp_engine_keeps_memory_order_and_reuses_buffers():
    """A channels-last [T, B, C, H, W] input (what a channels-last convolution emits) runs without a
    copy: spikes and gradients equal the reference on the same values, outputs keep the input's strides,
    and a second call, served from the engine's buffer cache (the tensors are >= 4 MB), is as exact."""
    g = torch.Generator().manual_seed(3)
    T, B, C, H, W = 4, 8, 8, 128, 128
    base = torch.randn(T * B, C, H, W, generator=g, dtype=torch.float64) * 0.9 + 0.3
    xs_cl = base.contiguous(memory_format=torch.channels_last).view(T, B, C, H, W).requires_grad_()
    xs_ref = base.view(T, B, C, H, W).clone().requires_grad_()
    assert not xs_cl.is_contiguous() and xs_ref.is_contiguous()
    tau = (torch.rand(C, 1, 1, generator=g, dtype=torch.float64) * 8 + 2).requires_grad_()
    th = (torch.rand(C, 1, 1, generator=g, dtype=torch.float64) * 0.5 + 0.75).requires_grad_()
    v0 = torch.randn(B, C, H, W, generator=g, dtype=torch.float64) * 0.3
    p = LIFParameters(tau_mem=tau, v_th=th)
    w = torch.randn(T, B, C, H, W, generator=g, dtype=torch.float64)
    ref = _run(lif_multistep, xs_ref, v0, p, w)
    lif_cpu.release_buffers()
    for call in range(2):
        got = _run(lif_cpu.lif_multistep_cpp, xs_cl, v0, p, w)
        assert got[0].stride() == xs_cl.stride(), "spikes lost the input's memory order"
        assert torch.equal(ref[0], got[0]), f"spikes differ (call {call})"
        for a, b in zip(ref[1:], got[1:]):
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
        del got
        assert lif_cpu.cached_buffer_bytes() >= xs_cl.numel() * 8  # freed outputs went back to the cache
    assert lif_cpu.release_buffers() > 0 and lif_cpu.cached_buffer_bytes() == 0


@pytest.mark.skipif("cpp" not in ENGINES, reason="no C++ compiler: the C++ engine is not built")
def test_cpp_buffer_cache_can_be_disabled():
    import os
    import subprocess
    import sys

    code = ("import torch; from snnkit.functional import LIFParameters; from snnkit.kernels import lif_cpu\n"
            "s, v = lif_cpu.lif_multistep_cpp(torch.randn(4, 512, 4096), None, LIFParameters()); del s\n"
            "print(lif_cpu.cached_buffer_bytes())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "SNNKIT_CPU_BUFFER_CACHE_MB": "0"}).stdout
    assert out.split()[-1] == "0"


@pytest.mark.skipif("cpp" not in ENGINES, reason="no C++ compiler: the C++ engine is not built")
@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 12), reset=st.sampled_from(["hard", "subtract", "none"]), decay_input=st.booleans(),
       per_neuron=st.booleans(), data=st.data())
def test_cpp_forward_records_the_membranes_after_chosen_steps(T, reset, decay_input, per_neuron, data):
    """The recording forward (SLTT-K's states) gives the reference's post-reset membranes after the asked
    steps, and the same spikes and last membrane, without a graph."""
    after = sorted(data.draw(st.sets(st.integers(0, T - 1), max_size=T)))
    g = torch.Generator().manual_seed(T)
    xs = torch.randn(T, 3, 5, generator=g, dtype=torch.float64) * 0.9 + 0.3
    v0 = torch.randn(3, 5, generator=g, dtype=torch.float64) * 0.3
    tau = torch.rand(5, generator=g, dtype=torch.float64) * 8 + 2 if per_neuron else 6.0
    p = LIFParameters(tau_mem=tau, v_th=0.9, reset=reset, v_reset=-0.2, decay_input=decay_input)
    s_ref, v_seq = lif_multistep(xs, v0, p, record_membrane=True)
    s, v_last, v_rec = lif_cpu.lif_forward_recording(xs, v0, p, after)
    assert torch.equal(s, s_ref) and torch.equal(v_last, v_seq[-1]) and torch.equal(v_rec, v_seq[after])
    with pytest.raises(RuntimeError, match="ascending"):
        lif_cpu.lif_forward_recording(xs, v0, p, [T])


@pytest.mark.skipif("cpp" not in ENGINES, reason="no C++ compiler: the C++ engine is not built")
@settings(max_examples=40, deadline=None)
@given(T=st.integers(1, 12), feat=st.integers(1, 700), decay_input=st.booleans(), per_neuron=st.booleans(),
       dtype=st.sampled_from([torch.float32, torch.float64]), seed=st.integers(0, 2**16))
def test_cpp_leaky_integration_equals_the_reference_li(T, feat, decay_input, per_neuron, dtype, seed):
    """The engine's integration alone (OTTT's presynaptic traces) gives the reference LI's membranes to the
    bit, for one tau or one per neuron; widths above the engine's block of 512 cross a block boundary."""
    g = torch.Generator().manual_seed(seed)
    xs = (torch.rand(T, 2, feat, generator=g, dtype=torch.float64) < 0.3).to(dtype) * 1.5
    v0 = (torch.randn(2, feat, generator=g, dtype=torch.float64) * 0.3).to(dtype)
    tau = torch.rand(feat, generator=g, dtype=torch.float64) * 8 + 2 if per_neuron else 6.0
    p = LIParameters(tau_mem=tau, decay_input=decay_input)
    ref, _ = li_multistep(xs, v0, p)
    assert torch.equal(lif_cpu.leaky_integrate_cpp(xs, v0, p.beta(xs), decay_input), ref)
    assert torch.equal(snnkit.kernels.leaky_integrate(xs, v0, p.beta(xs), decay_input), ref)  # "auto" takes it
    with snnkit.use_engine("reference"):  # the fused scan
        torch.testing.assert_close(snnkit.kernels.leaky_integrate(xs, v0, p.beta(xs), decay_input), ref)
    with pytest.raises(RuntimeError, match="beta 1 or"):
        lif_cpu.load().leaky_integrate(xs.reshape(T, -1), v0.reshape(-1), torch.ones(3, dtype=dtype), False)


@pytest.mark.skipif("cpp" not in ENGINES, reason="no C++ compiler: the C++ engine is not built")
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("T", [300, 5000])
def test_cpp_backward_over_long_sequences_matches_reference(T, threads):
    """The C++ backward recomputes the membranes block by block into a per-thread buffer whose width shrinks
    past T = 4096 and to each thread's share of the neurons: on one thread, at T = 300 two blocks of 512 and
    88 neurons, at T = 5000 of 416 and 184; on two, blocks of 304 and 296."""
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        _check_long_backward(T)
    finally:
        torch.set_num_threads(before)


def _check_long_backward(T):
    g = torch.Generator().manual_seed(T)
    xs = (torch.randn(T, 1, 600, generator=g, dtype=torch.float64) * 0.5 + 0.2).requires_grad_()
    v0 = (torch.randn(1, 600, generator=g, dtype=torch.float64) * 0.3).requires_grad_()
    tau = (torch.rand(600, generator=g, dtype=torch.float64) * 8 + 2).requires_grad_()
    th = (torch.rand(600, generator=g, dtype=torch.float64) * 0.5 + 0.75).requires_grad_()
    p = LIFParameters(tau_mem=tau, v_th=th, reset="subtract")
    w = torch.randn(T, 1, 600, generator=g, dtype=torch.float64)
    ref = _run(lif_multistep, xs, v0, p, w)
    got = _run(ENGINES["cpp"], xs, v0, p, w)
    assert torch.equal(ref[0], got[0]) and ref[0].sum() > T, "spikes differ (or too few to test)"
    for a, b in zip(ref[1:], got[1:]):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-9)
