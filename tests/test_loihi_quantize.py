"""Loihi quantiser: ranges refused with clear errors, float model (reference path) reproduced by the
fixed-point network, QAT's fake quantisation on the quantiser's grid, deployed accuracy after QAT."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.hardware.loihi import (LoihiLayer, effective_weights, fake_quantize_weights, quantize_for_loihi,
                                   quantize_weights, simulate, weight_scale)
from snnkit.ir import IntegerDelayLinear, RecurrentCell


def _layer(**kw):
    base = dict(weights=np.ones((2, 3), np.int64), du=0, dv=0, vth=10)
    base.update(kw)
    return LoihiLayer(**base)


@pytest.mark.parametrize("field,value,match", [
    ("du", 4096, "du"), ("dv", -1, "dv"), ("vth", 1 << 17, "vth"), ("bias_exp", 8, "bias_exp"),
    ("bias_mant", np.array([4096, 0]), "bias_mant"), ("delays", np.full((2, 3), 63), "delays"),
    ("weights", np.full((2, 3), 256), "weights"), ("weight_exp", 8, "weight_exp"),
    ("num_weight_bits", 0, "num_weight_bits"),
])
def test_out_of_range_values_are_refused(field, value, match):
    with pytest.raises(ValueError, match=match):
        simulate([_layer(**{field: value})], np.zeros((3, 3), bool))


def test_sign_mode_ranges_are_refused():
    with pytest.raises(ValueError, match="excitatory"):
        _layer(weights=np.array([[-1, 2, 3], [0, 0, 0]]), sign_mode=2).validate()
    with pytest.raises(ValueError, match="inhibitory"):
        _layer(weights=np.array([[-256, 0, 0], [0, 0, 0]])).validate()


def test_model_features_loihi_cannot_run_raise():
    with pytest.raises(ValueError, match="resets to 0"):
        quantize_for_loihi(nn.Sequential(nn.Linear(3, 2), N.LIF(reset="hard", v_reset=0.5)))
    with pytest.raises(ValueError, match="maximum 62"):
        quantize_for_loihi(nn.Sequential(IntegerDelayLinear(torch.ones(2, 3), torch.full((2, 3), 70)), N.LIF()))
    with pytest.raises(ValueError, match="LIF where Linear weights"):   # a neuron reading the input directly
        quantize_for_loihi(N.Sequential(N.LIF(reset="hard"), nn.Linear(3, 2), N.LIF(reset="hard")), input_shape=(3,))


@pytest.mark.parametrize("kind", ["lif", "cuba_recurrent_delay"])
def test_fixed_point_network_follows_float_model(kind):
    torch.manual_seed(0)
    if kind == "lif":
        model = N.Sequential(nn.Linear(10, 32), N.LIF(tau_mem=8.0), nn.Linear(32, 4), N.LIF(tau_mem=8.0))
    else:
        model = N.Sequential(nn.Linear(10, 32), RecurrentCell(N.CubaLIF(tau_syn=4.0, tau_mem=8.0), nn.Linear(32, 32)),
                             IntegerDelayLinear(torch.randn(4, 32) * 0.5, torch.randint(0, 5, (4, 32))), N.LIF())
    with torch.no_grad():
        model[0].weight.mul_(3)
    net = quantize_for_loihi(model)
    assert all(r["weight_rel_error"] < 0.01 for r in net.report)
    x = (torch.rand(100, 8, 10, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    with torch.no_grad():
        ref = model(x).numpy().astype(bool)
    out = net.run(x)["spikes"]
    assert ref.sum() > 100
    # Recurrent + CUBA (bias mapped at steady state) drift more than a feed-forward LIF net.
    assert (out == ref).mean() > (0.95 if kind == "lif" else 0.75)
    assert abs(int(out.sum()) - int(ref.sum())) < 0.1 * ref.sum()


def test_qat_fake_quantisation_is_the_quantiser_grid():
    torch.manual_seed(3)
    for w in (torch.randn(6, 5), torch.rand(6, 5), -torch.rand(6, 5)):
        k = weight_scale(w)
        w_int = effective_weights(quantize_weights(w.numpy().astype(np.float64), k))
        np.testing.assert_allclose(fake_quantize_weights(w).detach().numpy() * k, w_int, atol=1e-3)
        w.requires_grad_(True)
        fake_quantize_weights(w).sum().backward()
        assert torch.equal(w.grad, torch.ones_like(w))  # straight-through


def _example():
    path = Path(__file__).resolve().parents[1] / "examples" / "deploy" / "loihi_deploy.py"
    spec = importlib.util.spec_from_file_location("loihi_deploy_example", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.slow
def test_deployed_accuracy_drop_with_qat_is_small():
    res = _example().run(epochs=8, qat_epochs=2, seed=0)
    assert res["float_accuracy"] > 0.5  # 5 classes: chance is 0.2
    assert res["drop_with_qat_vs_float"] < 0.05
    assert res["drop_without_qat"] < 0.1


def test_chip_profile_matches_simulator_limits():
    from snnkit.hardware.loihi import fixed_point as fp
    from snnkit.hardware.loihi import load_profile
    prof = load_profile("loihi2")
    assert (1 << prof["neuron"]["decay_bits"]) - 1 == fp.MAX_DECAY
    assert (1 << prof["neuron"]["threshold_mantissa_bits"]) - 1 == fp.MAX_VTH
    assert prof["neuron"]["bias_exponent_max"] == fp.BIAS_EXP_MAX
    assert prof["synapse"]["max_delay"] == fp.MAX_DELAY
    assert 1 << (prof["neuron"]["state_bits"] - 1) == fp.UV_HALF
    with pytest.raises(ValueError, match="not found"):
        load_profile("loihi9")
