"""Bit-exactness against the REAL Lava runtime (lava-nc 0.10.0, Loihi2SimCfg fixed_pt and floating_pt)
and real lava-dl netx: snnkit's simulator must give identical u, v and spikes.

Needs the Lava environment from `bash .ci/install_lava.sh` (.venv-lava); all trials of a test run in
one Lava subprocess. Trial counts: 4 extreme + 20 random fixed-point networks, 4 floating-point
networks, 4 netx files."""
from __future__ import annotations

import os

import numpy as np
import pytest

from snnkit.hardware.loihi import LoihiLayer, lava_available, run_lava, run_netx, simulate
from snnkit.hardware.loihi.fixed_point import MAX_DELAY, UV_HALF
from snnkit.hardware.loihi.netx import NetxIncompatible, read_netx, write_netx

# CI sets SNNKIT_REQUIRE_LAVA=1 after .ci/install_lava.sh, so a broken install fails instead of skipping.
_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"
pytestmark = [pytest.mark.lava,
              pytest.mark.skipif(not lava_available() and not _REQUIRED,
                                 reason="Lava environment missing: run .ci/install_lava.sh")]

N_RANDOM = 20


def _weights(rng, mode, shape):
    lo, hi = {1: (-256, 255), 2: (0, 255), 3: (-255, 0), 0: (-256, 255)}[mode]
    return rng.integers(lo, hi + 1, shape)


def random_network(rng, n_in, allow_recurrent=True):
    layers, n_prev = [], n_in
    for _ in range(int(rng.integers(1, 4))):
        n = int(rng.integers(3, 10))
        mode = int(rng.choice([0, 1, 2, 3]))
        delays = rng.integers(0, MAX_DELAY + 1, (n, n_prev)) if rng.random() < 0.5 else None
        if delays is not None and rng.random() < 0.5:
            delays[0, 0] = MAX_DELAY
        rec = None
        if allow_recurrent and rng.random() < 0.3:
            rec = _weights(rng, int(rng.choice([1, 2, 3])), (n, n))
        layers.append(LoihiLayer(
            weights=_weights(rng, mode, (n, n_prev)), sign_mode=mode or None,
            num_weight_bits=int(rng.integers(1, 9)), weight_exp=int(rng.integers(-3, 5)),
            du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
            vth=int(np.exp(rng.uniform(0, np.log(131071)))),
            bias_mant=rng.integers(-4096, 4096, n) if rng.random() < 0.5 else None,
            bias_exp=int(rng.integers(0, 8)), delays=delays, recurrent_weights=rec))
        n_prev = n
    return layers


def extreme_networks(n_in):
    ones = lambda *s: np.ones(s, np.int64)  # noqa: E731
    wrap = [LoihiLayer(weights=255 * ones(4, n_in), sign_mode=2, weight_exp=4, du=0, dv=0, vth=131071)]
    clip = [LoihiLayer(weights=-255 * ones(4, n_in), sign_mode=3, weight_exp=4, du=4095, dv=0, vth=1000)]
    delays = np.full((3, n_in), MAX_DELAY)
    delays[:, 0] = 0
    max_delay = [LoihiLayer(weights=200 * ones(3, n_in), du=4095, dv=100, vth=50, delays=delays),
                 LoihiLayer(weights=np.array([[-256, 255, -3], [1, -1, 2]]), sign_mode=1, du=10, dv=4095, vth=0,
                            delays=np.array([[MAX_DELAY, 1, 0], [5, MAX_DELAY, 2]]))]
    saturate = [LoihiLayer(weights=255 * ones(5, n_in), weight_exp=7, du=0, dv=0, vth=131071,
                           bias_mant=np.full(5, 4095), bias_exp=7)]
    return {"u_wrap": wrap, "v_clip": clip, "max_delay": max_delay, "int32_saturation": saturate}


def _assert_identical(ref, lava, label):
    for key in ("spikes", "u", "v"):
        for i, (a, b) in enumerate(zip(ref[key], lava[key])):
            assert a.shape == b.shape, f"{label} layer {i} {key}: shapes {a.shape} vs {b.shape}"
            assert np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64)), \
                f"{label} layer {i} {key}: {int((a != b).sum())} of {a.size} values differ"


def test_fixed_point_bit_exact_against_lava():
    rng = np.random.default_rng(2024)
    n_in, steps = 6, 80
    trials, labels = [], []
    for name, layers in extreme_networks(n_in).items():
        trials.append((layers, np.ones((steps, n_in), bool) if name != "max_delay" else rng.random((steps, n_in)) < 0.5))
        labels.append(name)
    for k in range(N_RANDOM):
        trials.append((random_network(rng, n_in), rng.random((steps, n_in)) < rng.uniform(0.1, 0.9)))
        labels.append(f"random{k}")
    lava = run_lava(trials, mode="fixed", timeout=240)
    total_spikes = 0
    refs = {}
    for (layers, x), label, out in zip(trials, labels, lava):
        ref = simulate(layers, x, engine="fast")
        _assert_identical(ref, out, label)
        _assert_identical(simulate(layers, x, engine="step"), out, label + " (step engine)")
        total_spikes += sum(int(s.sum()) for s in ref["spikes"])
        refs[label] = ref
    # The extremes were really reached (checked on the simulator, which equals Lava above).
    assert (refs["u_wrap"]["u"][0] < 0).any(), "u never wrapped around"
    assert refs["v_clip"]["v"][0].min() == -(UV_HALF - 1), "v never hit the negative clip"
    assert total_spikes > 1000
    modes = {lay.sign_mode for t, _ in trials for lay in t}
    assert {None, 1, 2, 3} <= modes


def test_floating_point_models_match_lava():
    rng = np.random.default_rng(7)
    trials = []
    for _ in range(4):
        layers = []
        n_prev = 5
        for _ in range(2):
            n = int(rng.integers(3, 8))
            layers.append(LoihiLayer(weights=rng.integers(-4, 6, (n, n_prev)).astype(float),
                                     du=float(rng.integers(0, 64)) / 64, dv=float(rng.integers(0, 64)) / 64,
                                     vth=float(rng.integers(1, 20)), bias_mant=rng.integers(-1, 2, n).astype(float),
                                     delays=rng.integers(0, 4, (n, n_prev)) if rng.random() < 0.5 else None))
            n_prev = n
        trials.append((layers, rng.random((40, 5)) < 0.5))
    lava = run_lava(trials, mode="float", timeout=120)
    for k, ((layers, x), out) in enumerate(zip(trials, lava)):
        ref = simulate(layers, x, mode="float")
        for key in ("spikes", "u", "v"):
            for a, b in zip(ref[key], out[key]):
                np.testing.assert_array_equal(a.astype(float), np.asarray(b, float), err_msg=f"trial {k} {key}")


def test_netx_written_by_snnkit_runs_identically_in_lava_dl(tmp_path):
    rng = np.random.default_rng(11)
    n_in, steps = 6, 70
    written = 0
    for k in range(6):
        layers = random_network(rng, n_in, allow_recurrent=False)
        for layer in layers:  # keep to what netx can hold: no weight exponent, bias exponent fixed at 6
            layer.weight_exp, layer.num_weight_bits = 0, 8
            layer.bias_exp = 6
            if layer.bias_mant is not None:
                layer.bias_mant = layer.bias_mant // 8
            if not np.any(layer.weights):
                layer.weights[0, 0] = 1
        try:
            path = write_netx(layers, tmp_path / f"net{k}.net")
        except NetxIncompatible:
            continue  # refusals are checked against real netx in test_loihi_netx.py
        written += 1
        xs = [rng.random((steps, n_in)) < 0.5]
        real = run_netx(path, xs, n_layers=len(layers), timeout=120)
        for x, out in zip(xs, real):
            _assert_identical(simulate(read_netx(path), x), out, f"netx{k} read")
            _assert_identical(simulate(layers, x), out, f"netx{k} original")
    assert written >= 3
