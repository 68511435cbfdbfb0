"""Fair ANN twins: the twin is the spiking model's architecture with the spiking nonlinearity replaced.

Oracle: the spiking model itself. Walking both module trees in order, every LIF maps to the twin's
stand-in (ReLU or the LIF's own leaky membrane + ReLU) and every other module has the same type and the
same parameter shapes, so widths and parameter counts are equal by construction and checked."""
import pytest
import torch
from torch import nn

from snnkit import models
from snnkit.models._common import RateUnit
from snnkit.neurons import LIF


@pytest.mark.parametrize("twin,unit", [("rate", "RateUnit"), ("relu", "ReLU")])
def test_mlp_twin_is_the_same_network_with_lif_replaced(twin, unit):
    cfg = dict(in_features=7, num_classes=3, hidden=12, layers=2, steps=9)
    snn = models.create("mlp", spiking=True, **cfg)
    ann = models.create("mlp", spiking=False, twin=twin, **cfg)
    snn_layers = [m for m in snn if not isinstance(m, LIF)]
    ann_layers = [m for m in ann.net if type(m).__name__ != unit]
    assert [type(m) for m in snn_layers] == [type(m) for m in ann_layers]
    assert [type(m).__name__ for m in ann.net if type(m) not in {type(x) for x in snn_layers}] == [unit] * 2
    assert [p.shape for p in snn.parameters()] == [p.shape for p in ann.parameters()]
    x = torch.rand(9, 4, 7)
    assert ann(x).shape == snn(x).shape == (9, 4, 3)
    assert "same layers and widths" in ann.twin_note


def test_rate_unit_is_the_lif_membrane_read_as_a_rate():
    """Oracle: the LIF membrane equation written out, v[t] = exp(-1/tau) v[t-1] + x[t], then ReLU."""
    x = torch.randn(20, 3, 5)
    v_ref, out = torch.zeros(3, 5), []
    beta = torch.exp(torch.tensor(-1 / 10.0))
    for x_t in x:
        v_ref = beta * v_ref + x_t
        out.append(torch.relu(v_ref))
    assert torch.allclose(RateUnit(10.0)(x), torch.stack(out), atol=1e-6)


def test_flat_twin_keeps_the_width_and_reports_more_parameters():
    cfg = dict(in_features=10, num_classes=4, hidden=64, steps=20)
    snn = models.create("mlp", spiking=True, **cfg)
    flat = models.create("mlp", spiking=False, twin="flat", **cfg)
    assert flat.net[0].out_features == 64                       # no bottleneck
    assert sum(p.numel() for p in flat.parameters()) == 20 * 10 * 64 + 64 + 64 * 4 + 4
    assert sum(p.numel() for p in flat.parameters()) > sum(p.numel() for p in snn.parameters())
    assert "more parameters" in flat.twin_note


def test_every_ann_form_says_which_twin_it_is():
    for name in models.names():
        if True in models.forms(name) and False in models.forms(name):
            cfg = dict(in_features=4, num_classes=2, steps=16)
            try:
                ann = models.create(name, spiking=False, **cfg)
            except (TypeError, ValueError):
                continue
            assert getattr(ann, "twin_note", ""), name
