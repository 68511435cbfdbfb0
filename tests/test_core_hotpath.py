"""The hot path reads nothing back to the host: no ``.item()``/``bool()``/``.tolist()`` per forward,
step or backward (each is a device sync on CUDA and a graph break for torch.compile), parameters are
checked when set, layers run on the meta device, and ``torch.compile(fullgraph=True)`` traces a network.
Oracles: a dispatch mode that sees every scalar read, the meta device (which has no values to read), and
the eager network for the compiled one."""
import math

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import snnkit
from snnkit.neurons import ALIF, IF, LI, LIF, CubaLIF, Izhikevich, Sequential

LAYERS = {
    "lif": lambda: LIF(tau_mem=5.0),
    "plif": lambda: LIF(learn_tau=True, learn_threshold=True, shape=4, decay_input=True, reset="subtract"),
    "if": lambda: IF(),
    "cuba": lambda: CubaLIF(learn_tau=True),
    "alif": lambda: ALIF(),
    "li": lambda: LI(learn_tau=True, shape=4),
    "izhikevich": lambda: Izhikevich("chattering"),
}
ENGINES = ["auto", "fused", "reference"]


class CountHostReads(TorchDispatchMode):
    """Counts the ops that copy a tensor value into Python (``item``, ``bool``, ``int``, ``float``)."""

    def __init__(self):
        super().__init__()
        self.reads = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func is torch.ops.aten._local_scalar_dense.default:
            self.reads.append(str(func))
        return func(*args, **(kwargs or {}))


@pytest.fixture
def count_reads(monkeypatch):
    """``.tolist()`` and ``.numpy()`` read CPU tensors without the dispatcher: count those too."""
    mode = CountHostReads()
    for name in ("tolist", "numpy"):
        original = getattr(torch.Tensor, name)

        def spy(self, *a, _original=original, _name=name, **k):
            mode.reads.append(_name)
            return _original(self, *a, **k)
        monkeypatch.setattr(torch.Tensor, name, spy)
    return mode


def _input(name, shape=(6, 3, 4)):
    return torch.rand(shape) * (15.0 if name == "izhikevich" else 1.5)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_no_host_reads_per_forward_step_or_backward(name, engine, count_reads):
    layer = LAYERS[name]()
    x = _input(name).requires_grad_()
    with snnkit.use_engine(engine):
        layer(x)                                  # first call: lazy set-up (C++ build, caches) may read
        with count_reads:
            out = layer(x)
            out.sum().backward()
            o, state = layer.step(x[0].detach())
            layer.step(x[1].detach(), state)
    assert count_reads.reads == [], f"{name}/{engine}: host reads {count_reads.reads}"


def test_debug_mode_scans_inputs_and_reads_the_host(count_reads):
    lif = LIF()
    x = torch.rand(4, 2, 3)
    snnkit.set_debug(True)
    try:
        with count_reads:
            lif(x)
        assert len(count_reads.reads) >= 1
        x[2, 1, 0] = float("inf")
        with pytest.raises(ValueError, match=r"NaN or inf, first at index \(2, 1, 0\)"):
            lif(x)
        with pytest.raises(ValueError, match="NaN or inf"):
            lif.step(x[2])
    finally:
        snnkit.set_debug(False)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layers_run_on_the_meta_device(name, engine):
    """Meta tensors carry shapes but no values: any value read in the hot path would raise."""
    layer = LAYERS[name]().to("meta")
    x = torch.empty(5, 2, 4, device="meta", requires_grad=True)
    with snnkit.use_engine(engine):
        out = layer(x)
        out.sum().backward()
        s, state = layer.step(x[0].detach())
    assert out.shape == x.shape and out.device.type == "meta" and s.shape == (2, 4)
    assert x.grad is not None and x.grad.shape == x.shape
    repr(layer)  # extra_repr must not read a meta value


# ---------------------------------------------------------------- input errors (issues 12.6, 19)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_two_dim_input_to_a_multistep_layer_names_the_fix(name):
    layer = LAYERS[name]()
    with pytest.raises(ValueError, match=r"shape \(32, 4\).*multi-step.*\.step\(x, state\).*unsqueeze\(0\)"):
        layer(torch.rand(32, 4))
    with pytest.raises(ValueError, match=r"T=0 time steps"):
        layer(torch.rand(0, 3, 4))
    s, _ = layer.step(torch.rand(32, 4) * (15 if name == "izhikevich" else 1))   # the fix works
    assert s.shape == (32, 4)


@pytest.mark.parametrize("make, match", [
    (lambda: LIF(v_th=math.nan), "v_th"),
    (lambda: LIF(v_reset=math.nan), "v_reset"),
    (lambda: LIF(tau_mem=math.nan), "tau_mem"),
    (lambda: IF(v_th=math.inf), "v_th"),
    (lambda: ALIF(beta_adapt=math.nan), "beta_adapt"),
    (lambda: ALIF(tau_adapt=-1.0), "tau_adapt"),
    (lambda: CubaLIF(tau_syn=math.nan), "tau_syn"),
    (lambda: LI(tau_mem=0.0), "tau_mem"),
    (lambda: Izhikevich(a=math.nan), "a"),
    (lambda: Izhikevich(d=math.inf), "d"),
    (lambda: snnkit.functional.LIFParameters(v_th=math.nan), "v_th"),
    (lambda: snnkit.functional.IzhikevichParameters(a=math.nan), "a"),
])
def test_non_finite_parameters_are_refused_when_set(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_parameters_assigned_or_loaded_later_are_checked_then():
    lif = LIF(shape=3, learn_threshold=True)
    with pytest.raises(ValueError, match="v_th must be finite"):
        lif.v_th = torch.nn.Parameter(torch.tensor([1.0, math.nan, 1.0]))
    alif = ALIF()
    with pytest.raises(ValueError, match="beta_adapt"):
        alif.beta_adapt = math.nan
    good = LIF(shape=3)
    state = good.state_dict()
    state["v_th"] = torch.tensor([1.0, 2.0, math.inf])
    with pytest.raises(ValueError, match="v_th must be finite"):
        LIF(shape=3).load_state_dict(state)
    state = LI(shape=2).state_dict()
    state["_log_tau_mem"] = torch.tensor([math.nan, 0.0])
    with pytest.raises(ValueError, match="tau_mem"):
        LI(shape=2).load_state_dict(state)
    euler = LIF(tau_mem=4.0, method="euler")
    with pytest.raises(ValueError, match="unstable"):
        euler.dt = 8.0


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_float64_input_runs_in_float64_and_matches_float32_spikes(name):
    layer = LAYERS[name]()
    x = _input(name)
    out64 = layer(x.double())
    assert out64.dtype == torch.float64
    torch.testing.assert_close(out64.float(), layer(x), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- torch.compile


def _net():
    torch.manual_seed(1)
    return Sequential(torch.nn.Linear(6, 8), LIF(learn_tau=True, shape=8), ALIF(), CubaLIF(), torch.nn.Linear(8, 4),
                      LI())


def _check_compiled(net, backend):
    x = torch.rand(3, 2, 6) * 3
    ref = net(x)
    ref.sum().backward()
    ref_grads = [p.grad.clone() for p in net.parameters()]
    net.zero_grad()
    torch._dynamo.reset()
    out = torch.compile(net, fullgraph=True, backend=backend)(x)   # fullgraph: any graph break raises
    out.sum().backward()
    torch.testing.assert_close(out, ref)
    for g, r in zip([p.grad for p in net.parameters()], ref_grads):
        torch.testing.assert_close(g, r, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["auto", "reference"])   # under compile "auto" takes the fused engines
def test_network_compiles_as_one_graph(engine):
    """Dynamo + AOT autograd trace forward and backward without a graph break (no C++ code generation)."""
    with snnkit.use_engine(engine):
        _check_compiled(_net(), "aot_eager")


@pytest.mark.slow
def test_network_compiles_with_inductor():
    """The default backend generates and runs C++ for a small network (tens of seconds on 2 cores)."""
    net = Sequential(torch.nn.Linear(6, 8), LIF(), torch.nn.Linear(8, 4))
    _check_compiled(net, "inductor")
