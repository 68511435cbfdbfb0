"""Losses against snntorch's implementations (the oracle) and an independent numpy computation;
firing-rate regularisers and the rate monitor against hand-computed rates."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from snnkit import models, neurons, training


@pytest.fixture()
def batch():
    g = torch.Generator().manual_seed(0)
    spikes = (torch.rand(10, 6, 4, generator=g) < 0.4).float()
    membrane = torch.randn(10, 6, 4, generator=g)
    labels = torch.randint(0, 4, (6,), generator=g)
    return spikes, membrane, labels


def test_losses_match_snntorch(batch) -> None:
    sf = pytest.importorskip("snntorch.functional")
    spikes, membrane, labels = batch
    torch.testing.assert_close(training.ce_count_loss(spikes, labels), sf.ce_count_loss()(spikes, labels))
    torch.testing.assert_close(training.ce_max_membrane_loss(membrane, labels),
                               sf.ce_max_membrane_loss()(membrane, labels))
    # snntorch truncates rate * T to int targets: pick rates where that is exact (T = 10)
    torch.testing.assert_close(training.mse_count_loss(spikes, labels, 0.8, 0.2),
                               sf.mse_count_loss(correct_rate=0.8, incorrect_rate=0.2)(spikes, labels))


def _np_ce(logits: np.ndarray, labels: np.ndarray) -> float:
    z = logits - logits.max(1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(1, keepdims=True))
    return float(-logp[np.arange(len(labels)), labels].mean())


def test_membrane_losses_match_numpy(batch) -> None:
    _, membrane, labels = batch
    v, y = membrane.double().numpy(), labels.numpy()
    assert training.ce_mean_membrane_loss(membrane, labels).item() == pytest.approx(_np_ce(v.mean(0), y), rel=1e-5)
    e = np.exp(v - v.max(-1, keepdims=True))
    summed = (e / e.sum(-1, keepdims=True)).sum(0)  # DCLS: sum over time of softmax(v)
    assert training.ce_softmax_sum_loss(membrane, labels).item() == pytest.approx(_np_ce(summed, y), rel=1e-5)
    assert torch.equal(training.predict(membrane, "ce_softmax_sum"), torch.from_numpy(summed.argmax(1)))


def test_loss_errors_name_the_problem(batch) -> None:
    spikes, _, labels = batch
    with pytest.raises(ValueError, match="loss='nope'.*allowed"):
        training.get_loss("nope")
    with pytest.raises(ValueError, match="labels must have shape"):
        training.ce_count_loss(spikes, labels[:3])


def test_rate_regulariser_penalises_outside_bounds() -> None:
    s = torch.zeros(10, 2, 5)
    s[:, 0, :] = 1.0  # sample 0 fires every step (rate 1), sample 1 never (rate 0)
    reg = training.FiringRateRegularizer({"a": training.RateBound(lower=0.1, upper=0.5)})
    # hand computation: sample 0 above upper by 0.5, sample 1 below lower by 0.1
    assert reg({"a": s}).item() == pytest.approx((0.5 ** 2 + 0.1 ** 2) / 2)
    target = training.FiringRateRegularizer({"*": {"target": 0.2, "weight": 2.0}})
    assert target({"b": s}).item() == pytest.approx(2.0 * (0.8 ** 2 + 0.2 ** 2) / 2)
    # a bound keyed by the module path applies to the recorded name "path:Class", and only to it
    by_path = training.FiringRateRegularizer({"1": training.RateBound(lower=0.1, upper=0.5)})
    assert by_path({"1:LIF": s}).item() == pytest.approx((0.5 ** 2 + 0.1 ** 2) / 2)
    assert by_path({"2:LIF": s}).item() == 0.0
    with pytest.raises(ValueError, match="lower=0.6 must be <= upper=0.5"):
        training.RateBound(lower=0.6, upper=0.5)
    with pytest.raises(ValueError, match="rate_reg.x key"):
        training.regularizer_from_config({"x": {"taget": 0.1}})


def test_monitor_rates_equal_the_layer_spikes() -> None:
    torch.manual_seed(0)
    model = models.create("mlp", spiking=True, in_features=12, num_classes=3, hidden=20)
    x = (torch.rand(15, 4, 12) < 0.5).float() * 3
    mon = training.FiringRateMonitor(model)
    model(x)
    hidden_spikes, _ = model[1].run(model[0](x))  # independent: run the layers by hand
    assert list(mon.rates()) == ["1:LIF"]  # named by path and class; the LI readout does not spike: not listed
    assert mon.rates()["1:LIF"] == pytest.approx(hidden_spikes.mean().item())
    assert isinstance(model[1], neurons.LIF)
    mon.remove()


def test_monitor_keeps_the_fused_engine_passes_and_sees_what_hooks_see(monkeypatch) -> None:
    # On a snnkit Sequential the monitor observes instead of hooking: the Linear + LIF pair stays one fused
    # engine pass, and it records what a hook-based SpikeRecorder records (an independent path: hooks on
    # the layers, which turn the fusion off), outputs with their graph for the rate regularisers
    from snnkit.analysis.activity import SpikeRecorder
    from snnkit.kernels import lif_cpu
    from snnkit.synapses import TimeDistributed

    torch.manual_seed(0)
    model = neurons.Sequential(torch.nn.Linear(12, 20), neurons.LIF(tau_mem=4.0, v_th=0.5),
                               TimeDistributed(torch.nn.Linear(20, 8)), neurons.LIF(tau_mem=4.0, v_th=0.5),
                               torch.nn.Linear(8, 3), neurons.LI(tau_mem=4.0))
    x = (torch.rand(15, 4, 12) < 0.5).float() * 3
    fused: list[int] = []
    real = lif_cpu.linear_lif_cpp
    monkeypatch.setattr(lif_cpu, "linear_lif_cpp", lambda *a, **k: fused.append(1) or real(*a, **k))
    with SpikeRecorder(model) as hooks:
        want = model(x)
    assert not fused  # hooks: the layers ran apart
    mon = training.FiringRateMonitor(model)
    got = model(x)
    if lif_cpu.load() is not None:
        assert len(fused) == 2  # both pairs fused while monitored
    torch.testing.assert_close(got, want)
    assert mon.rates() == pytest.approx(hooks.rates()) and set(mon.rates()) == {"1:LIF", "3:LIF"}
    assert all(o.requires_grad for o in mon.outputs.values())
    for name, spikes in mon.outputs.items():
        torch.testing.assert_close(spikes.detach(), hooks.spikes[name][0])
    mon.remove()
    model(x)
    assert mon.rates() == pytest.approx(hooks.rates())  # removed: saw nothing more
    # a spiking layer nested deeper than the Sequential's children: hooks, as before
    nested = neurons.Sequential(torch.nn.Sequential(torch.nn.Linear(12, 5), neurons.LIF(tau_mem=4.0)))
    deep = training.FiringRateMonitor(nested)
    nested(x)
    assert len(deep.rates()) == 1 and deep._handles  # recorded through its hook
    deep.remove()
    # LIF + pooling is not fused while observed (its spikes are never stored): the LIF's rate is recorded
    pooled = neurons.Sequential(neurons.LIF(tau_mem=4.0, v_th=0.5), TimeDistributed(torch.nn.AvgPool2d(2)))
    frames = torch.rand(6, 2, 3, 8, 8) * 2
    with SpikeRecorder(pooled) as hooks:
        pooled(frames)
    mon = training.FiringRateMonitor(pooled)
    pooled(frames)
    assert mon.rates() == pytest.approx(hooks.rates()) and len(mon.rates()) == 1
    mon.remove()
