"""Real-valued (current-encoded) input on Loihi 2 as graded spikes: the quantised network follows the float
model (reference path) and snnkit's simulator is bit-exact against the REAL Lava runtime and the real
lava-dl netx loader (``input_message_bits``)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.hardware.loihi import lava_available, quantize_for_loihi, run_lava, run_netx, simulate

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"


def _model_and_input(seed: int = 0, steps: int = 30, batch: int = 6):
    torch.manual_seed(seed)
    model = N.Sequential(nn.Linear(12, 24), N.LIF(tau_mem=6.0, reset="hard"), nn.Linear(24, 4),
                         N.LIF(tau_mem=6.0, reset="hard"))
    with torch.no_grad():
        model[0].weight.mul_(2.0)
        model[2].weight.mul_(4.0)
    x = torch.randn(steps, batch, 12, generator=torch.Generator().manual_seed(seed + 1))  # direct encoding
    return model, x


def test_graded_input_network_follows_the_float_model():
    model, x = _model_and_input()
    net = quantize_for_loihi(model, input_max=float(x.abs().max()), input_bits=8)
    assert net.layers[0].num_message_bits == 8 and net.layers[1].num_message_bits == 0
    assert all(r["weight_rel_error"] < 0.01 for r in net.report)
    with torch.no_grad():
        ref = model(x).numpy().astype(bool)
    out = net.run(x)["spikes"]
    assert ref.sum() > 50
    assert (out == ref).mean() > 0.9        # 8-bit input rounding shifts a few spike times
    assert abs(int(out.sum()) - int(ref.sum())) < 0.1 * ref.sum()
    # the payload is the scaled, rounded input; beyond input_max it clips to the signed message range
    payload = net.graded_input(x)
    assert np.abs(payload).max() == 127
    np.testing.assert_allclose(payload / net.input_scale, x.numpy(), atol=0.5 / net.input_scale)
    assert net.graded_input(x * 10).max() == 127


def test_too_many_input_bits_say_what_fits():
    model, x = _model_and_input()
    with pytest.raises(ValueError, match="input_bits=16 is too many"):
        quantize_for_loihi(model, input_max=float(x.abs().max()), input_bits=16)


def test_binary_only_network_refuses_real_values_with_the_fix():
    model, x = _model_and_input()
    net = quantize_for_loihi(model)
    with pytest.raises(ValueError, match="input_max"):
        net.run(x)
    with pytest.raises(ValueError, match="input_max"):
        quantize_for_loihi(model, input_max=float("nan"))


@pytest.mark.lava
@pytest.mark.skipif(not lava_available() and not _REQUIRED, reason="Lava environment missing: run .ci/install_lava.sh")
def test_graded_input_bit_exact_against_real_lava_and_netx(tmp_path):
    model, x = _model_and_input(seed=3, steps=25, batch=1)
    net = quantize_for_loihi(model, input_max=float(x.abs().max()), input_bits=8, for_netx=True)
    payload = net.graded_input(x[:, 0])                      # [T, N_in] integers
    ref = simulate(net.layers, payload)
    assert sum(int(s.sum()) for s in ref["spikes"]) > 20
    path = net.write_netx(str(tmp_path / "graded.net"))
    lava = run_lava([(net.layers, payload)], mode="fixed", timeout=240)[0]
    netx = run_netx(path, [payload], n_layers=len(net.layers), input_message_bits=8, timeout=240)[0]
    for got, label in ((lava, "Lava processes"), (netx, "lava-dl netx")):
        for key in ("spikes", "u", "v"):
            for i, (a, b) in enumerate(zip(ref[key], got[key])):
                assert np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64)), \
                    f"{label}: layer {i} {key} differs in {int((a != b).sum())} of {a.size} values"
