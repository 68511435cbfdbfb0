"""Issue 19's attacks on the Loihi backend's inputs, one regression test each, named after the attack:
graded spike values, an outlier weight that zeroes a layer, NaN weights, NaN calibration data."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.hardware.loihi import LoihiLayer, LoihiQuantizationWarning, quantize_for_loihi, simulate


@pytest.mark.parametrize("value", [0.5, 7, -1, np.nan])
def test_simulate_attack_graded_spike_values_are_refused(value):
    layer = LoihiLayer(weights=np.ones((2, 3), np.int64), du=0, dv=0, vth=10)
    x = np.zeros((4, 3))
    x[1, 2] = value
    with pytest.raises(ValueError, match="spikes_in must hold spikes, 0 or 1"):
        simulate([layer], x)
    ok = np.zeros((4, 3))
    ok[1, 2] = 1
    assert simulate([layer], ok)["u"][0].any()  # 0/1 floats are still spikes


def test_quantizer_attack_one_huge_weight_zeroes_the_rest_warns():
    lin = nn.Linear(30, 1, bias=False)
    with torch.no_grad():
        lin.weight.uniform_(0.1, 1.0)
        lin.weight[0, 0] = 1e30
    model = N.Sequential(lin, N.LIF(tau_mem=5.0))
    with pytest.warns(LoihiQuantizationWarning, match="zeroes 29 of 30 nonzero weights"):
        net = quantize_for_loihi(model, (30,))
    assert np.count_nonzero(net.layers[0].weights) == 1  # the warning states what really happened


def test_quantizer_attack_nan_weight_is_refused():
    lin = nn.Linear(4, 2)
    with torch.no_grad():
        lin.weight[1, 1] = float("nan")
    with pytest.raises(ValueError, match="NaN|finite"):
        quantize_for_loihi(N.Sequential(lin, N.LIF(tau_mem=5.0)), (4,))


def test_conversion_attack_nan_calibration_data_is_refused():
    from snnkit.conversion import convert

    ann = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))
    data = torch.rand(16, 4)
    data[3, 1] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        convert(ann, data, T=4)
