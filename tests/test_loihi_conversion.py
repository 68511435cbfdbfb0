"""ANN-to-SNN converted networks on Loihi 2: converted with ``reset="zero", v_init=0.0`` (Lava's LIF resets
to 0 and starts at 0) and one threshold per layer, an MLP and a Conv1d net quantise and follow the float
SNN. Oracles: the float converted SNN (reference path: layer by layer, each Loihi layer fed the float
model's input, to the tolerances of tests/test_loihi_mappings.py; deployed, the predicted class) and the
REAL Lava runtime (bit-exact)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from snnkit import conversion as C
from snnkit.conversion.architectures import cnn1d, mlp, train_classifier
from snnkit.hardware.loihi import lava_available, quantize_for_loihi, run_lava, simulate
from loihi_oracles import layer_by_layer, without_biases

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"
V_TOL = 0.10             # membrane readouts: ||dv|| / ||v|| without biases (tests/test_loihi_mappings.py)
SPIKE_AGREEMENT = 0.97   # hidden layers fed the float model's input (tests/test_loihi_mappings.py)
LOIHI_READY = dict(reset="zero", v_init=0.0, channel_wise=False)


@pytest.fixture(scope="module")
def task():
    torch.manual_seed(0)
    x = torch.randn(600, 16)
    y = (x @ torch.randn(16, 4)).argmax(1)
    anns = {"mlp": mlp(in_features=16, hidden=(32, 24), num_classes=4),
            "cnn1d": cnn1d(in_channels=1, length=16, channels=(4, 6), num_classes=4)}
    return {name: train_classifier(ann, x, y, epochs=6, seed=0) for name, ann in anns.items()}, x


@pytest.mark.parametrize("name, kinds", [("mlp", ["dense", "dense", "dense"]), ("cnn1d", ["conv", "conv", "dense"])])
def test_zero_reset_conversion_runs_on_loihi_and_follows_the_float_snn(task, name, kinds):
    anns, x = task
    snn = C.convert(anns[name], x[:300], **LOIHI_READY)
    xs = C.encode(x[:20], 40)
    input_max = float(xs.abs().max())
    net = quantize_for_loihi(snn, input_shape=(16,), input_max=input_max)
    assert [r["kind"] for r in net.report] == kinds and net.readout == "sum"
    with torch.no_grad():
        ref = snn(xs).numpy()
    out = net.run(xs)["v"]
    # deployed (biases integrate during Lava's one step of latency per layer): the predicted class
    assert (out[-1].argmax(-1) == ref.sum(0).argmax(-1)).mean() >= 0.75
    unbiased = without_biases(snn)
    agreement, error = layer_by_layer(quantize_for_loihi(unbiased, input_shape=(16,), input_max=input_max),
                                      unbiased, xs)
    with torch.no_grad():
        hidden = snn[:3](xs)
    assert hidden.sum() > 200 and min(agreement) >= SPIKE_AGREEMENT and error <= V_TOL, (agreement, error)


def test_the_default_conversion_is_refused_with_the_loihi_ready_setting_named(task):
    anns, x = task
    with pytest.raises(ValueError, match="reset='zero', v_init=0.0"):
        quantize_for_loihi(C.convert(anns["mlp"], x[:300]), input_shape=(16,), input_max=4.0)
    with pytest.raises(ValueError, match="per-neuron thresholds"):
        quantize_for_loihi(C.convert(anns["mlp"], x[:300], **{**LOIHI_READY, "channel_wise": True}),
                           input_shape=(16,), input_max=4.0)


@pytest.mark.lava
@pytest.mark.skipif(not lava_available() and not _REQUIRED, reason="Lava environment missing: run .ci/install_lava.sh")
def test_zero_reset_conversion_bit_exact_against_real_lava(task):
    anns, x = task
    trials = []
    for name in ("mlp", "cnn1d"):
        snn = C.convert(anns[name], x[:300], **LOIHI_READY)
        xs = C.encode(x[:1], 25)
        net = quantize_for_loihi(snn, input_shape=(16,), input_max=float(xs.abs().max()))
        trials.append((name, net.layers, net.graded_input(xs[:, 0])))
    lava = run_lava([(layers, payload) for _, layers, payload in trials], mode="fixed", timeout=300)
    for (name, layers, payload), got in zip(trials, lava):
        ref = simulate(layers, payload)
        assert sum(int(s.sum()) for s in ref["spikes"]) > 20, name
        for key in ("spikes", "u", "v"):
            for i, (a, b) in enumerate(zip(ref[key], got[key])):
                assert np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64)), \
                    f"{name}: layer {i} {key} differs in {int((a != b).sum())} of {a.size} values"
