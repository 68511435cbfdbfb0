"""Event-driven synapses (``snnkit.kernels.set_event_driven``): the C++ kernels against torch's dense
``F.linear`` and its weight gradient, and training with them on against the reference engine (BPTT) and
the reference step functions with the state detached (online SLTT, SLTT-K), in float64."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from snnkit import kernels
from snnkit.kernels import lif_cpu
from snnkit.neurons import LIF, Sequential

from test_training_online import _online, _reference

pytestmark = pytest.mark.skipif(lif_cpu.load() is None, reason=f"C++ engine not built: {lif_cpu.build_error()}")


def _spikes(rows: int, cols: int, density: float, dtype=torch.float32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(rows, cols, generator=g) < density).to(dtype)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("cols", [1, 15, 16, 17, 70, 700])  # the AVX-512 scan takes 16 floats at a time
@pytest.mark.parametrize("threads", [1, 2])
def test_kernels_equal_the_dense_linear(dtype, cols, threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        x = _spikes(301, cols, 0.05, dtype)
        x[0] = 0  # a row without ones
        x[1, : max(1, cols // 20)] = 1  # a row of ones only, at the start
        ones = lif_cpu.spike_rows(x)
        assert ones is not None
        # the compressed rows are exactly x's nonzeros, row by row
        nz = x.nonzero()
        assert torch.equal(ones[1].long(), nz[:, 1])
        assert torch.equal(ones[0], torch.cat([torch.zeros(1, dtype=torch.long), (x != 0).sum(1).cumsum(0)]))
        g = torch.Generator().manual_seed(1)
        w, b = torch.randn(33, cols, generator=g, dtype=dtype), torch.randn(33, generator=g, dtype=dtype)
        grad = torch.randn(301, 33, generator=g, dtype=dtype)
        tol = dict(rtol=1e-12, atol=1e-12) if dtype == torch.float64 else dict(rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(lif_cpu.event_linear_into_cache(ones, w, b), nn.functional.linear(x, w, b), **tol)
        torch.testing.assert_close(lif_cpu.event_linear_into_cache(ones, w, None), x @ w.t(), **tol)
        torch.testing.assert_close(lif_cpu.event_weight_grad(ones, grad, cols), grad.t() @ x, **tol)
    finally:
        torch.set_num_threads(before)


@pytest.mark.parametrize("bad", [0.5, 2.0, -1.0, float("nan"), float("inf")])
@pytest.mark.parametrize("where", [(7, 3), (200, 699)])  # inside a 16-float block, in the scalar tail
def test_inputs_that_are_not_spikes_are_refused(bad, where):
    x = _spikes(300, 700, 0.05)
    assert lif_cpu.spike_rows(x) is not None
    x[where] = bad
    assert lif_cpu.spike_rows(x) is None


def test_inputs_denser_than_the_limit_are_refused():
    limit = lif_cpu.EVENT_MAX_DENSITY
    rows, cols = 400, 500
    at = torch.randperm(rows * cols, generator=torch.Generator().manual_seed(2))
    x = torch.zeros(rows, cols)
    x.view(-1)[at[: int(limit * rows * cols)]] = 1  # exactly at the limit
    assert lif_cpu.spike_rows(x) is not None
    x.view(-1)[at[int(limit * rows * cols)]] = 1  # one more
    assert lif_cpu.spike_rows(x) is None
    assert lif_cpu.spike_rows(_spikes(300, 700, 1.15 * limit)) is None  # passes the sample, refused by the count
    assert lif_cpu.spike_rows(_spikes(300, 700, 0.5)) is None  # refused by the sample


def _net(in_features=200, dtype=torch.float64):
    torch.manual_seed(5)
    return Sequential(nn.Linear(in_features, 64), LIF(tau_mem=5.0, v_th=0.3), nn.Linear(64, 64),
                      LIF(tau_mem=5.0, v_th=0.3), nn.Linear(64, 5), LIF(tau_mem=5.0, v_th=0.3)).to(dtype)


def _spike_input(T=30, B=4, F=200, density=0.05, dtype=torch.float64):
    g = torch.Generator().manual_seed(6)
    return (torch.rand(T, B, F, generator=g) < density).to(dtype), torch.randint(0, 5, (B,), generator=g)


def _count_event_calls(monkeypatch) -> list[int]:
    calls: list[int] = []
    real = lif_cpu.event_linear_into_cache

    def counted(ones, weight, bias):
        calls.append(weight.shape[1])
        return real(ones, weight, bias)
    monkeypatch.setattr(lif_cpu, "event_linear_into_cache", counted)
    return calls


def test_bptt_with_event_driven_synapses_equals_the_reference_engine(monkeypatch):
    model, (x, _) = _net(), _spike_input()
    calls = _count_event_calls(monkeypatch)

    def run():
        model.zero_grad()
        out = model(x)
        (out * torch.linspace(-1, 1, 5, dtype=x.dtype)).sum().backward()
        return out.detach(), [q.grad.clone() for q in model.parameters()]
    with kernels.use_engine("reference"):
        want, want_grads = run()
    with kernels.use_event_driven():
        got, got_grads = run()
    assert calls and calls[0] == 200, "the first layer's input is 5 % spikes: it must run event-driven"
    assert torch.equal(got, want) and want.sum() > 10
    for a, b in zip(got_grads, want_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("method", ["sltt", "sltt_k"])
def test_online_with_event_driven_synapses_equals_the_detached_reference(method, monkeypatch):
    model, (x, y) = _net(), _spike_input()
    loss_fn = lambda out, target: nn.functional.cross_entropy(out.sum(0), target)  # noqa: E731
    calls = _count_event_calls(monkeypatch)
    grads: list[int] = []
    real_grad = lif_cpu.event_weight_grad
    monkeypatch.setattr(lif_cpu, "event_weight_grad", lambda ones, g2, k: grads.append(k) or real_grad(ones, g2, k))
    if method == "sltt_k":
        chosen = torch.randperm(30, generator=torch.Generator().manual_seed(8))[:3].tolist()
        ref = _reference(model, x, y, loss_fn, set(chosen), 3)
        with kernels.use_event_driven():
            got = _online(model, x, y, loss_fn, method="sltt_k", k=3, generator=torch.Generator().manual_seed(8))
    else:
        ref = _reference(model, x, y, loss_fn, set(range(30)), 30)
        with kernels.use_event_driven():
            got = _online(model, x, y, loss_fn, method="sltt", chunk_steps=8)
    assert calls, "the graph-free or fused forward must run event-driven"
    assert grads, "so must the weight gradient (sltt_k: that of the chosen steps' chain node)"
    for a, b in zip(got, ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_inputs_that_are_not_spikes_take_the_dense_gemm_to_the_bit(monkeypatch):
    model = _net(dtype=torch.float32)
    x = torch.rand(20, 4, 200)  # analog input: not 0/1
    calls = _count_event_calls(monkeypatch)
    with kernels.use_event_driven(False):
        want = model(x)
    with kernels.use_event_driven():
        got = model(x)
    assert torch.equal(got, want)
    assert 200 not in calls  # the analog layer ran the dense GEMM


def test_ottt_weight_gradient_reads_its_trace_densely():
    model, (x, y) = _net(), _spike_input()
    loss_fn = lambda out, target: nn.functional.cross_entropy(out.sum(0), target)  # noqa: E731
    want = _online(model, x, y, loss_fn, method="ottt")
    with kernels.use_event_driven():
        got = _online(model, x, y, loss_fn, method="ottt")
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_the_switch_is_off_by_default_and_restored():
    assert kernels.get_event_driven() is False
    with kernels.use_event_driven():
        assert kernels.get_event_driven() is True
    assert kernels.get_event_driven() is False
    with pytest.raises(TypeError, match="True or False"):
        kernels.set_event_driven("yes")  # type: ignore[arg-type]


def test_trainer_event_driven_setting_trains_like_the_dense_engine(monkeypatch):
    # the Trainer runs float32; the event-driven sums differ from the GEMM's by rounding only, so an epoch
    # of SGD from the same start must end at the same weights to float32 rounding (a wrong gradient would not)
    from snnkit.training import Trainer, TrainerConfig

    x, _ = _spike_input(T=20, B=24, dtype=torch.float32)
    y = torch.randint(0, 5, (24,), generator=torch.Generator().manual_seed(9))
    calls = _count_event_calls(monkeypatch)
    weights = {}
    for events in (False, True):
        model = _net(dtype=torch.float32)
        trainer = Trainer(model, {"epochs": 1, "batch_size": 8, "loss": "ce_count", "optimizer": "sgd",
                                  "lr": 0.05, "progress": False, "event_driven": events, "seed": 0})
        trainer.fit((x, y))
        assert trainer.evaluate((x, y))["accuracy"] >= 0
        weights[events] = [q.detach().clone() for q in model.parameters()]
        assert bool(calls) == events  # used exactly when asked for
        assert kernels.get_event_driven() is False  # and the global setting restored
    for a, b in zip(weights[True], weights[False]):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    start = [q.detach() for q in _net(dtype=torch.float32).parameters()]
    assert max(float((a - b).abs().max()) for a, b in zip(weights[False], start)) > 1e-3  # it did train
    with pytest.raises(TypeError, match="event_driven"):
        TrainerConfig(event_driven=1)  # type: ignore[arg-type]
