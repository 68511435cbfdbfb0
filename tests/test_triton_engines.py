"""Triton kernels of every neuron model against the reference definitions in snnkit.functional,
run on CPU through Triton's interpreter: identical spikes; final states and gradients (inputs, initial
state, time constants, threshold) within float32 tolerance; across shapes, reset modes, surrogates,
shared and per-neuron parameters and mixed precision; the dispatcher and torch.compile with the
kernels as custom ops.

Triton decides when a kernel is decorated whether it is compiled or interpreted, so the cases run in
one subprocess (this file run as a script) that sets ``TRITON_INTERPRET=1`` before anything imports
triton; each pytest test checks one case's result. CI installs triton (.ci/requirements-gpu.txt).
"""
import json
import os
import subprocess
import sys
from pathlib import Path

if __name__ == "__main__":
    os.environ["TRITON_INTERPRET"] = "1"

import pytest  # noqa: E402
import torch  # noqa: E402

import snnkit  # noqa: E402

CASES: dict = {}


def case(fn):
    CASES[fn.__name__] = fn
    return fn


# ---------------------------------------------------------------- the cases (run in the subprocess)


def _compare(ref_fn, fn, xs, state, leaves, spiking=True, rtol=1e-4, atol=1e-5, ref_xs=None):
    """Both engines, the same random weighting of every output; equal spikes, close states/gradients."""
    results = []
    for f, x in ((ref_fn, xs if ref_xs is None else ref_xs), (fn, xs)):
        out, last = f(x, state)
        last = last if isinstance(last, tuple) else (last,)
        g = torch.Generator().manual_seed(7)
        loss = (out.float() * torch.randn(out.shape, generator=g)).sum()
        loss = loss + sum((s.float() * torch.randn(s.shape, generator=g)).sum() for s in last)
        wrt = [t for t in (x, *state, *leaves) if isinstance(t, torch.Tensor) and t.requires_grad]
        results.append((out, last, torch.autograd.grad(loss, wrt)))
    (ref_out, ref_last, ref_g), (out, last, grads) = results
    if spiking:
        assert torch.equal(out.float(), ref_out.float()), "spikes differ"
    else:
        torch.testing.assert_close(out.float(), ref_out.float(), rtol=1e-6, atol=1e-6)
    for a, b in zip(ref_last + ref_g, last + grads):
        torch.testing.assert_close(b.float(), a.float(), rtol=rtol, atol=atol)


def _data(seed, shape, n_state, scale=0.9, offset=0.4):
    g = torch.Generator().manual_seed(seed)
    xs = (torch.randn(shape, generator=g) * scale + offset).requires_grad_()
    state = tuple((torch.randn(shape[1:], generator=g) * 0.3).requires_grad_() for _ in range(n_state))
    return g, xs, state


def _param(g, shape, low, high, learn):
    return (torch.rand(shape, generator=g) * (high - low) + low).requires_grad_(learn)


@case
def lif_every_reset_and_surrogate():
    from snnkit import functional as F
    from snnkit.kernels import triton_engine as te
    for i, (reset, surrogate) in enumerate((r, s) for r in ("hard", "subtract", "none")
                                           for s in snnkit.surrogate.names()):
        g, xs, (v0,) = _data(i, (5, 2, 3), 1)
        tau, th = _param(g, (3,), 2, 10, True), _param(g, (3,), 0.6, 1.0, True)
        p = F.LIFParameters(tau_mem=tau, v_th=th, reset=reset, surrogate=surrogate, decay_input=i % 2 == 0,
                            detach_reset=i % 3 == 0, v_reset=-0.2 if i % 4 == 0 else 0.0)
        _compare(lambda x, s: F.lif_multistep(x, s[0], p), lambda x, s: te.lif_multistep_triton(x, s[0], p),
                 xs, (v0,), (tau, th))


def _shapes():
    from hypothesis import strategies as st
    return dict(T=st.integers(1, 8), B=st.integers(1, 3), feat=st.lists(st.integers(1, 5), min_size=1, max_size=2),
                per_neuron=st.booleans(), learn=st.booleans(), seed=st.integers(0, 2**16))


def _hypothesis(n):
    from hypothesis import HealthCheck, settings
    return settings(max_examples=n, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@case
def lif_and_if_properties():
    from hypothesis import given, strategies as st
    from snnkit import functional as F
    from snnkit.kernels import triton_engine as te

    @_hypothesis(25)
    @given(reset=st.sampled_from(["hard", "subtract", "none"]), surrogate=st.sampled_from(snnkit.surrogate.names()),
           decay_input=st.booleans(), detach=st.booleans(), leak=st.booleans(), **_shapes())
    def check(reset, surrogate, decay_input, detach, leak, T, B, feat, per_neuron, learn, seed):
        g, xs, (v0,) = _data(seed, (T, B, *feat), 1)
        pshape = tuple(feat) if per_neuron else ()
        tau = _param(g, pshape, 2, 10, learn) if leak else None
        th = _param(g, pshape, 0.6, 1.0, learn)
        p = F.LIFParameters(tau_mem=tau, v_th=th, reset=reset, surrogate=surrogate, decay_input=decay_input and leak,
                            detach_reset=detach)
        _compare(lambda x, s: F.lif_multistep(x, s[0], p), lambda x, s: te.lif_multistep_triton(x, s[0], p),
                 xs, (v0,), (tau, th))
    check()


@case
def alif_properties():
    from hypothesis import given, strategies as st
    from snnkit import functional as F
    from snnkit.kernels import triton_engine as te

    @_hypothesis(20)
    @given(reset=st.sampled_from(["hard", "subtract", "none"]), surrogate=st.sampled_from(snnkit.surrogate.names()),
           decay_input=st.booleans(), detach=st.booleans(), beta_adapt=st.sampled_from([0.0, 0.4, 1.8]), **_shapes())
    def check(reset, surrogate, decay_input, detach, beta_adapt, T, B, feat, per_neuron, learn, seed):
        g, xs, state = _data(seed, (T, B, *feat), 2)
        pshape = tuple(feat) if per_neuron else ()
        tau_mem, tau_adapt = _param(g, pshape, 2, 10, learn), _param(g, pshape, 5, 50, learn)
        th = _param(g, pshape, 0.5, 1.0, learn)
        p = F.ALIFParameters(tau_adapt=tau_adapt, beta_adapt=beta_adapt, lif=F.LIFParameters(
            tau_mem=tau_mem, v_th=th, reset=reset, decay_input=decay_input, surrogate=surrogate, detach_reset=detach))
        _compare(lambda x, s: F.alif_multistep(x, s, p), lambda x, s: te.alif_multistep_triton(x, s, p),
                 xs, state, (tau_mem, tau_adapt, th))
    check()


@case
def cuba_lif_properties():
    from hypothesis import given, strategies as st
    from snnkit import functional as F
    from snnkit.kernels import triton_engine as te

    @_hypothesis(15)
    @given(reset=st.sampled_from(["hard", "subtract", "none"]), surrogate=st.sampled_from(snnkit.surrogate.names()),
           decay_input=st.booleans(), detach=st.booleans(), **_shapes())
    def check(reset, surrogate, decay_input, detach, T, B, feat, per_neuron, learn, seed):
        g, xs, state = _data(seed, (T, B, *feat), 2)
        pshape = tuple(feat) if per_neuron else ()
        tau_syn, tau_mem = _param(g, pshape, 2, 8, learn), _param(g, pshape, 2, 10, learn)
        th = _param(g, pshape, 0.6, 1.0, learn)
        p = F.CubaLIFParameters(tau_syn=tau_syn, lif=F.LIFParameters(
            tau_mem=tau_mem, v_th=th, reset=reset, decay_input=decay_input, surrogate=surrogate, detach_reset=detach))
        _compare(lambda x, s: F.cuba_lif_multistep(x, s, p), lambda x, s: te.cuba_lif_multistep_triton(x, s, p),
                 xs, state, (tau_syn, tau_mem, th))
    check()


@case
def li_properties():
    from hypothesis import given, strategies as st
    from snnkit import functional as F
    from snnkit.kernels import triton_engine as te

    @_hypothesis(10)
    @given(decay_input=st.booleans(), method=st.sampled_from(["exp", "euler"]), **_shapes())
    def check(decay_input, method, T, B, feat, per_neuron, learn, seed):
        g, xs, (v0,) = _data(seed, (T, B, *feat), 1)
        tau = _param(g, tuple(feat) if per_neuron else (), 2, 10, learn)
        p = F.LIParameters(tau_mem=tau, decay_input=decay_input, method=method)
        _compare(lambda x, s: F.li_multistep(x, s[0], p), lambda x, s: te.li_multistep_triton(x, s[0], p),
                 xs, (v0,), (tau,), spiking=False)
    check()


@case
def izhikevich_properties():
    from hypothesis import given, strategies as st
    from snnkit import functional as F
    from snnkit.kernels import triton_engine as te

    @_hypothesis(10)
    @given(preset=st.sampled_from(sorted(F.IZHIKEVICH_PRESETS)), surrogate=st.sampled_from(snnkit.surrogate.names()),
           detach=st.booleans(), T=st.integers(1, 8), B=st.integers(1, 3), seed=st.integers(0, 2**16))
    def check(preset, surrogate, detach, T, B, seed):
        g = torch.Generator().manual_seed(seed)
        xs = (torch.rand((T, B, 3), generator=g) * 40).requires_grad_()
        v0 = (torch.rand((B, 3), generator=g) * 40 - 60).requires_grad_()   # some start near the peak
        u0 = (torch.rand((B, 3), generator=g) * 4 - 14).requires_grad_()
        p = F.IzhikevichParameters.preset(preset, dt=1.0, surrogate=snnkit.surrogate.get(surrogate),
                                          detach_reset=detach)
        _compare(lambda x, s: F.izhikevich_multistep(x, s, p), lambda x, s: te.izhikevich_multistep_triton(x, s, p),
                 xs, (v0, u0), (), rtol=2e-4, atol=1e-3)
    check()


@case
def mixed_precision_has_float32_state():
    """float16/bfloat16 inputs: the kernel computes in float32, so it matches the float32 reference on
    the same (upcast) values; spikes come back in the input dtype, the state in float32."""
    from snnkit import functional as F
    from snnkit.kernels import triton_engine as te
    for dtype in (torch.float16, torch.bfloat16):
        g, xs, (v0,) = _data(3, (6, 2, 8), 1)
        x_low = xs.detach().to(dtype).requires_grad_()
        x_ref = x_low.detach().float().requires_grad_()
        tau, th = _param(g, (8,), 2, 10, True), _param(g, (8,), 0.6, 1.0, True)
        p = F.LIFParameters(tau_mem=tau, v_th=th, reset="subtract")
        s, v = te.lif_multistep_triton(x_low, v0, p)
        assert s.dtype == dtype and v.dtype == torch.float32
        _compare(lambda x, st: F.lif_multistep(x, st[0], p), lambda x, st: te.lif_multistep_triton(x, st[0], p),
                 x_low, (v0,), (tau, th), ref_xs=x_ref, rtol=1e-2, atol=1e-2)
        out, v_last = te.li_multistep_triton(x_low, None, F.LIParameters())
        assert out.dtype == v_last.dtype == torch.float32
        for a, b in zip((out, v_last), F.li_multistep(x_ref.detach(), None, F.LIParameters())):
            torch.testing.assert_close(a, b)
        for run, ref, p, scale in (
                (te.cuba_lif_multistep_triton, F.cuba_lif_multistep, F.CubaLIFParameters(), 1.0),
                (te.alif_multistep_triton, F.alif_multistep, F.ALIFParameters(beta_adapt=0.5), 1.0),
                (te.izhikevich_multistep_triton, F.izhikevich_multistep, F.IzhikevichParameters(), 20.0)):
            x16 = (x_ref.detach() * scale).to(dtype)
            s, state = run(x16, None, p)
            s_ref, state_ref = ref(x16.float(), None, p)
            assert s.dtype == dtype and torch.equal(s.float(), s_ref), run.__name__
            for a, b in zip(state, state_ref):
                assert a.dtype == torch.float32
                torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-4)


@case
def dispatcher_forces_triton_for_every_layer():
    from snnkit.neurons import ALIF, IF, LI, LIF, CubaLIF, Izhikevich
    for layer, scale in ((LIF(learn_tau=True, shape=4), 1.5), (IF(), 1.5), (CubaLIF(), 1.5), (ALIF(), 1.5),
                         (LI(), 1.0), (Izhikevich("chattering"), 15.0)):
        x = (torch.rand(6, 2, 4) * scale).requires_grad_()
        with snnkit.use_engine("reference"):
            ref = layer(x)
        with snnkit.use_engine("triton"):
            out = layer(x)
        names = set()
        fn = [out.grad_fn]
        while fn:
            f = fn.pop()
            if f is not None and type(f).__name__ not in names:
                names.add(type(f).__name__)
                fn.extend(n for n, _ in f.next_functions)
        assert any(n.startswith("_Triton") for n in names), (type(layer).__name__, names)
        torch.testing.assert_close(out.float(), ref, rtol=1e-5, atol=1e-5)


@case
def compiles_with_triton_custom_ops():
    from snnkit.neurons import ALIF, LI, LIF, Sequential
    torch.manual_seed(0)
    net = Sequential(torch.nn.Linear(5, 6), LIF(learn_tau=True, shape=6), ALIF(), torch.nn.Linear(6, 3), LI())
    x = torch.rand(3, 2, 5) * 3
    with snnkit.use_engine("triton"):
        ref = net(x)
        ref.sum().backward()
        grads = [p.grad.clone() for p in net.parameters()]
        net.zero_grad()
        out = torch.compile(net, fullgraph=True, backend="aot_eager")(x)
        out.sum().backward()
    torch.testing.assert_close(out, ref)
    for p, g in zip(net.parameters(), grads):
        torch.testing.assert_close(p.grad, g)


def _main():
    torch.set_num_threads(1)
    import traceback
    only = sys.argv[1:]   # optional case names (for debugging one case)
    for name, fn in CASES.items():
        if only and name not in only:
            continue
        try:
            fn()
            print(json.dumps({"case": name, "ok": True}), flush=True)
        except Exception:   # report every case, do not stop at the first failure
            print(json.dumps({"case": name, "ok": False, "error": traceback.format_exc()[-3000:]}), flush=True)


# ---------------------------------------------------------------- the pytest side


@pytest.fixture(scope="module")
def interpreter_results():
    from snnkit.kernels import triton_engine
    if not triton_engine.installed():
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail("triton is missing in CI: .ci/requirements-gpu.txt installs it")
        pytest.skip("triton is not installed (pip install triton==3.9.0)")
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, TRITON_INTERPRET="1", PYTHONPATH=f"{root}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    proc = subprocess.run([sys.executable, __file__], capture_output=True, text=True, env=env, timeout=900)
    results = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            item = json.loads(line)
            results[item["case"]] = item
    assert results, f"the interpreter subprocess reported nothing (rc {proc.returncode}):\n{proc.stderr[-3000:]}"
    return results


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_triton_kernel_through_interpreter(name, interpreter_results):
    result = interpreter_results.get(name)
    assert result is not None, f"case {name} did not run"
    assert result["ok"], result["error"]


def test_forcing_triton_without_gpu_or_interpreter_says_why():
    if os.environ.get("TRITON_INTERPRET") == "1":
        pytest.skip("this process runs the interpreter")
    with snnkit.use_engine("triton"):
        with pytest.raises(RuntimeError, match="engine 'triton' was forced.*CUDA, or TRITON_INTERPRET=1"):
            snnkit.neurons.LIF()(torch.rand(3, 2, 4))
        with pytest.raises(RuntimeError, match="float64 is not supported"):
            snnkit.neurons.LI()(torch.rand(3, 2, 4, dtype=torch.float64))


if __name__ == "__main__":
    _main()
