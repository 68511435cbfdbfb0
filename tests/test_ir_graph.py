"""snnkit -> NIR file (real `nir` package) -> snnkit: every supported layer survives the round trip
with identical outputs (oracle: the original model), and what NIR cannot express raises."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.functional import decay
from snnkit.ir import IntegerDelayLinear, RecurrentCell, SumPool2d, export_nir, import_nir, to_graph
from snnkit.synapses import TimeDistributed


def _models():
    torch.manual_seed(0)
    return {
        "mlp": (N.Sequential(nn.Linear(8, 16), N.LIF(tau_mem=5.0), nn.Linear(16, 4, bias=False),
                             N.CubaLIF(tau_syn=3.0, tau_mem=6.0), nn.Linear(4, 3), N.LI(tau_mem=4.0)), (8,)),
        "if_decay_input": (nn.Sequential(nn.Linear(8, 6), N.IF(reset="hard"), nn.Linear(6, 3),
                                         N.LIF(decay_input=True, tau_mem=3.0, method="euler")), (8,)),
        "conv2d_pool": (N.Sequential(TimeDistributed(nn.Conv2d(2, 4, 3, padding=1)), N.LIF(tau_mem=4.0),
                                     TimeDistributed(SumPool2d(2)), TimeDistributed(nn.AvgPool2d(2)),
                                     TimeDistributed(nn.Flatten()), nn.Linear(16, 5), N.LIF()), (2, 8, 8)),
        "conv1d": (N.Sequential(TimeDistributed(nn.Conv1d(2, 3, 3, stride=2)), N.LIF(),
                                TimeDistributed(nn.Flatten()), nn.Linear(12, 2), N.LIF()), (2, 9)),
        "recurrent": (N.Sequential(nn.Linear(8, 6), RecurrentCell(N.LIF(tau_mem=5.0), nn.Linear(6, 6, bias=False)),
                                   nn.Linear(6, 2), N.LIF()), (8,)),
        "delays": (N.Sequential(IntegerDelayLinear(torch.randn(6, 8), torch.randint(0, 4, (6, 8)), torch.randn(6)),
                                N.LIF(), nn.Linear(6, 2), N.LIF()), (8,)),
        "per_neuron_tau": (N.Sequential(nn.Linear(8, 5), N.LIF(tau_mem=4.0, shape=5)), (8,)),
    }


@pytest.mark.parametrize("name", list(_models()))
@pytest.mark.parametrize("method", ["euler", "exp"])
def test_round_trip_identical(tmp_path, name, method):
    model, shape = _models()[name]
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(3)
        if name == "per_neuron_tau":
            model[1]._log_tau_mem.copy_(torch.linspace(1.0, 3.0, 5))
    x = (torch.rand(25, 3, *shape, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    path = tmp_path / f"{name}.nir"
    export_nir(model, str(path), dt=1e-3, method=method, input_shape=shape)
    graph = nir.read(str(path))  # the real NIR reader
    assert isinstance(graph.nodes["input"], nir.Input)
    back = import_nir(str(path))
    with torch.no_grad():
        ref, out = model(x), back(x)
    assert ref.abs().sum() > 0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_time_constant_mapping_uses_decay():
    layer = N.LIF(tau_mem=7.0, dt=1.0)
    for method in ("euler", "exp"):
        g = to_graph(nn.Sequential(nn.Linear(3, 2), layer), dt=2e-3, method=method)
        tau = float(g.nodes["1"].tau[0])
        beta = float(layer.params().beta(torch.zeros(())))
        assert abs(float(decay(tau, 2e-3, method)) - beta) < 1e-6
        assert np.allclose(g.nodes["1"].r, 1 / (1 - beta), rtol=1e-5)


def test_delays_are_standard_nir_nodes():
    lin = IntegerDelayLinear(torch.ones(2, 3), torch.tensor([[0, 1, 2], [2, 2, 0]]))
    g = to_graph(nn.Sequential(lin, N.LIF()), dt=1e-3)
    delays = sorted(float(n.delay[0]) for n in g.nodes.values() if isinstance(n, nir.Delay))
    assert np.allclose(delays, [0.0, 1e-3, 2e-3])


def test_unsupported_raise_clear_errors():
    with pytest.raises(ValueError, match="max pooling"):
        to_graph(nn.Sequential(TimeDistributed(nn.MaxPool2d(2)), N.LIF()), input_shape=(1, 4, 4))
    with pytest.raises(ValueError, match="reset='subtract'"):
        to_graph(nn.Sequential(nn.Linear(3, 2), N.LIF(reset="subtract")))
    with pytest.raises(ValueError, match="ALIF"):
        to_graph(nn.Sequential(nn.Linear(3, 2), N.ALIF()))
    with pytest.raises(ValueError, match="input_shape"):
        to_graph(nn.Sequential(TimeDistributed(nn.Conv2d(1, 2, 3)), N.LIF()))
    with pytest.raises(ValueError, match="dt"):
        to_graph(nn.Sequential(nn.Linear(3, 2), N.LIF()), dt=-1)


def test_soft_reset_extension_round_trip(tmp_path):
    torch.manual_seed(2)
    model = N.Sequential(nn.Linear(4, 6), N.LIF(reset="subtract", tau_mem=5.0))
    with torch.no_grad():
        model[0].weight.mul_(4)
    path = tmp_path / "soft.nir"
    g = export_nir(model, str(path), dt=1e-3, extensions=True)
    assert g.nodes["1"].metadata["snnkit.reset"] == "subtract"
    x = (torch.rand(30, 2, 4) < 0.5).float()
    torch.testing.assert_close(import_nir(str(path))(x), model(x))


def test_snnkit_delayed_linear_exports_when_frozen(tmp_path):
    delays_mod = pytest.importorskip("snnkit.synapses.delays")
    torch.manual_seed(4)
    layer = delays_mod.DelayedLinear(6, 5, max_delay=5, mode="learned", init_delays="uniform")
    model = N.Sequential(layer, N.LIF(tau_mem=5.0), nn.Linear(5, 2), N.LIF())
    with pytest.raises(ValueError, match="freeze_delays"):
        to_graph(model)
    layer.freeze_delays()
    with torch.no_grad():
        layer.weight.mul_(3)
    path = tmp_path / "delayed.nir"
    export_nir(model, str(path), dt=1e-3)
    x = (torch.rand(30, 2, 6, generator=torch.Generator().manual_seed(0)) < 0.4).float()
    ref = model(x)
    assert ref[:, :, :].sum() > 0
    back = import_nir(str(path))
    assert type(back[0]) is delays_mod.DelayedLinear and back[0].is_frozen  # the same class comes back
    torch.testing.assert_close(back(x), ref)
