"""Sigma-delta neurons (Lava's ``SigmaDelta`` process, ``lava.proc.sdn``, fixed point): snnkit's simulator
against the REAL Lava runtime on random small nets with graded spikes between layers (Dense with
``num_message_bits``), ReLU and unit activations, biases, state/spike exponents."""
from __future__ import annotations

import os

import numpy as np
import pytest

from snnkit.hardware.loihi import LoihiLayer, lava_available, run_lava, simulate

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"


def random_sdn_net(rng, n_in):
    layers, n_prev = [], n_in
    for i in range(int(rng.integers(1, 4))):
        n = int(rng.integers(2, 7))
        layers.append(LoihiLayer(
            weights=2 * rng.integers(-128, 128, (n, n_prev)), du=0, dv=0, neuron="sigma_delta",
            vth=int(rng.integers(0, 400)), act_mode=str(rng.choice(["relu", "unit"])),
            bias_mant=rng.integers(-30, 30, n) if rng.random() < 0.5 else None,
            state_exp=int(rng.integers(0, 4)), spike_exp=int(rng.integers(0, 3)),
            weight_exp=int(rng.integers(-2, 3)), num_message_bits=16 if i or rng.random() < 0.5 else 0))
        n_prev = n
    return layers


def _input(rng, layers, steps):
    if layers[0].num_message_bits:
        return rng.integers(-20, 60, (steps, layers[0].n_in)) * (rng.random((steps, layers[0].n_in)) < 0.5)
    return rng.random((steps, layers[0].n_in)) < 0.5


def test_sigma_delta_reconstructs_its_input_within_the_threshold():
    """A sigma-delta chain's decoded output tracks its activation: sum of sent deltas = act - residue."""
    layer = LoihiLayer(weights=np.eye(3, dtype=np.int64) * 2, du=0, dv=0, neuron="sigma_delta", vth=5,
                       act_mode="unit", num_message_bits=16)
    x = np.random.default_rng(0).integers(-9, 10, (40, 3))
    out = simulate([layer], x)
    decoded = np.cumsum(out["spikes"][0], axis=0)
    assert np.all(np.abs(decoded - out["v"][0]) < 5)       # |residue| below the threshold
    assert np.array_equal(out["u"][0][1:], np.cumsum(2 * x, axis=0)[:-1])  # sigma: one step of latency


def test_graded_values_need_message_bits():
    layers = [LoihiLayer(weights=np.ones((2, 3), np.int64), du=0, dv=0, vth=3, neuron="sigma_delta"),
              LoihiLayer(weights=np.ones((1, 2), np.int64), du=0, dv=0, vth=3)]
    with pytest.raises(ValueError, match="num_message_bits"):
        simulate(layers, np.zeros((3, 3), bool))


@pytest.mark.lava
@pytest.mark.skipif(not lava_available() and not _REQUIRED, reason="Lava environment missing: run .ci/install_lava.sh")
def test_sigma_delta_nets_bit_exact_against_real_lava():
    rng = np.random.default_rng(3)
    trials = []
    for _ in range(6):
        layers = random_sdn_net(rng, 4)
        trials.append((layers, _input(rng, layers, 30)))
    # and a ReLU ANN converted by sigma_delta_network, its input presented as graded spikes
    import torch
    from torch import nn

    from snnkit.hardware.loihi import sigma_delta_network

    torch.manual_seed(1)
    ann = nn.Sequential(nn.Linear(12, 9), nn.ReLU(), nn.Linear(9, 4))
    calib = torch.rand(32, 12)
    sdn = sigma_delta_network(ann, calib)
    seq = np.zeros((6, 12), np.int64)
    seq[0] = sdn.encode(calib[:1])[0]
    trials.append((sdn.layers, seq))
    lava = run_lava(trials, mode="fixed", timeout=300)
    sent = 0
    for k, ((layers, x), out) in enumerate(zip(trials, lava)):
        ref = simulate(layers, x)
        for key in ("spikes", "u", "v"):
            for i, (a, b) in enumerate(zip(ref[key], out[key])):
                assert np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64)), \
                    f"trial {k} layer {i} {key}: {int((a != b).sum())} of {a.size} differ"
        sent += sum(int(np.count_nonzero(s)) for s in ref["spikes"])
    assert sent > 100


def test_relu_ann_deployed_as_sigma_delta_matches_its_accuracy_on_real_digits():
    """A ReLU MLP trained briefly on real MNIST digits, deployed as a sigma-delta network: the fixed-point
    network reaches the ANN's accuracy (oracle: the float ANN on the same digits) and its logits follow."""
    import torch
    from torch import nn

    from snnkit.data import load_mnist_arrays
    from snnkit.hardware.loihi import sigma_delta_network

    torch.manual_seed(0)
    xs, ys = load_mnist_arrays("train")
    xt, yt = load_mnist_arrays("test")
    x, y = torch.as_tensor(xs[:2000]).float() / 255.0, torch.as_tensor(ys[:2000])
    x_test, y_test = torch.as_tensor(xt[:500]).float() / 255.0, torch.as_tensor(yt[:500])
    ann = nn.Sequential(nn.Flatten(), nn.Linear(784, 48), nn.ReLU(), nn.Linear(48, 10))
    opt = torch.optim.Adam(ann.parameters(), lr=3e-3)
    for _ in range(4):
        for i in range(0, 2000, 100):
            loss = nn.functional.cross_entropy(ann(x[i:i + 100]), y[i:i + 100])
            opt.zero_grad()
            loss.backward()
            opt.step()
    with torch.no_grad():
        logits = ann(x_test).double().numpy()
    net = sigma_delta_network(ann, x[:500])
    out = net.run(x_test)
    acc_ann = float((logits.argmax(1) == y_test.numpy()).mean())
    acc_sdn = float((out.argmax(1) == y_test.numpy()).mean())
    assert acc_ann > 0.8
    assert acc_sdn >= acc_ann - 0.01, (acc_ann, acc_sdn)
    assert np.abs(out - logits).max() < 0.05 * np.abs(logits).max()
