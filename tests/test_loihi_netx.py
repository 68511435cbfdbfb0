"""lava-dl netx files: what snnkit writes runs in the REAL lava-dl 0.6.0 netx loader + Lava exactly as
snnkit simulates it, or is refused with the reason (and the refusal is checked against real netx: the
unchecked file really runs differently). The reader refuses malformed files (issue 19's attacks, one
test each, named after the attack) with snnkit's documented errors."""
from __future__ import annotations

import os

import h5py
import numpy as np
import pytest

from snnkit.errors import InvalidFileError, SizeLimitError
from snnkit.hardware.loihi import (LoihiLayer, NetxIncompatible, lava_available, read_netx, run_netx_files, simulate,
                                   write_netx)
from snnkit.hardware.loihi import netx as netx_mod

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"


def _layer(w, **kw):
    base = dict(du=int(kw.pop("du", 4095)), dv=int(kw.pop("dv", 0)), vth=int(kw.pop("vth", 131071)))
    return LoihiLayer(weights=np.asarray(w, np.int64), **base, **kw)


def _random_netx_net(rng, n_in):
    """Random nets within netx's format (no weight exponent, bias exponent 6), with the sign edge cases:
    all <= 0 holding a 0 (odd or even), all < 0 with a power-of-two minimum, one-signed, mixed."""
    layers, n_prev = [], n_in
    for _ in range(int(rng.integers(1, 3))):
        n = int(rng.integers(2, 6))
        case = rng.choice(["nonpos_zero_odd", "nonpos_zero_even", "neg_pow2", "exc", "inh", "mixed"])
        if case == "nonpos_zero_odd":
            w = -rng.integers(0, 256, (n, n_prev))
            w[0, 0], w[-1, -1] = 0, -int(rng.choice([129, 201, 255]))
        elif case == "nonpos_zero_even":
            w = -2 * rng.integers(0, 128, (n, n_prev))
            w[0, 0], w[-1, -1] = 0, -254
        elif case == "neg_pow2":
            w = -rng.integers(1, 128, (n, n_prev))
            w[-1, -1] = -128
        elif case == "exc":
            w = rng.integers(0, 256, (n, n_prev))
        elif case == "inh":
            w = -rng.integers(1, 256, (n, n_prev))
        else:
            w = 2 * rng.integers(-128, 128, (n, n_prev))
        w[0, -1] = w[0, -1] or (-2 if w.min() < 0 else 2)    # never all-zero
        delays = rng.integers(0, 9, (n, n_prev)) if rng.random() < 0.4 else None
        bias = rng.integers(-60, 60, n) if rng.random() < 0.5 else None
        layers.append(LoihiLayer(weights=w, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                                 vth=int(rng.integers(1, 400)), bias_mant=bias, bias_exp=6, delays=delays,
                                 meta={"case": str(case)}))
        n_prev = n
    return layers


def _same(a, b):
    return all(np.array_equal(x.astype(np.int64), np.asarray(y).astype(np.int64))
               for key in ("spikes", "u", "v") for x, y in zip(a[key], b[key]))


@pytest.mark.lava
@pytest.mark.skipif(not lava_available() and not _REQUIRED, reason="Lava environment missing: run .ci/install_lava.sh")
def test_netx_files_run_as_simulated_in_real_lava_dl_or_are_refused(tmp_path):
    rng = np.random.default_rng(13)
    n_in, steps = 5, 30
    nets = [[_layer([[-201, 0]], vth=50)],                          # the example: refused
            [_layer([[-254, 0, -2]], vth=50)],                      # all <= 0 with a 0, even grid: runs
            [_layer([[-128, -3]], vth=50)]]                         # all < 0, -128 -> -256 -> clipped: refused
    nets += [_random_netx_net(rng, n_in) for _ in range(9)]
    trials, kinds = [], []
    for k, layers in enumerate(nets):
        x = np.ones((steps, layers[0].n_in), bool) if k < 3 else rng.random((steps, layers[0].n_in)) < 0.6
        path = tmp_path / f"net{k}.net"
        try:
            write_netx(layers, path)
            kinds.append("written")
        except NetxIncompatible:
            netx_mod._write(layers, path, check=False)        # the file as an unchecked writer would leave it
            kinds.append("refused")
        trials.append((path, x, len(layers)))
    assert kinds[:3] == ["refused", "written", "refused"]
    assert {"written", "refused"} <= set(kinds[3:]), kinds
    real = run_netx_files(trials, timeout=240)
    for (path, x, _), kind, layers, out in zip(trials, kinds, nets, real):
        # snnkit's reader models real netx for every file, accepted or not
        assert _same(simulate(read_netx(path), x), out), f"{path.name}: read_netx disagrees with real netx"
        if kind == "written":
            assert _same(simulate(layers, x), out), f"{path.name}: written file runs differently in real netx"
        else:
            assert not _same(simulate(layers, x), out), f"{path.name}: refused although real netx runs it right"
    assert np.all(real[0]["u"][0] == 0), "the issue's W=[-201, 0] no longer gives u=0 in real Lava"


def test_read_netx_nonpositive_weights_with_zero_maximum_do_not_divide_by_zero(tmp_path):
    path = tmp_path / "net.net"
    netx_mod._write([_layer([[-201, 0], [-3, -7]], vth=50)], path, check=False)
    layers = read_netx(path)
    # lava-dl: mixed sign (infinite positive scale), 9 weight bits; Lava re-infers inhibitory -> all zero
    assert layers[0].num_weight_bits == 9
    out = simulate(layers, np.ones((4, 2), bool))
    assert np.all(out["u"][0] == 0)


def test_quantizer_for_netx_keeps_nonpositive_layers_runnable(tmp_path):
    import torch
    from torch import nn

    import snnkit.neurons as N
    from snnkit.hardware.loihi import quantize_for_loihi

    torch.manual_seed(0)
    lin = nn.Linear(6, 4, bias=False)
    with torch.no_grad():
        lin.weight.copy_(-lin.weight.abs())
        lin.weight[0, 0] = 0.0
    model = N.Sequential(lin, N.LIF(tau_mem=5.0, v_th=0.5))
    net = quantize_for_loihi(model, (6,), for_netx=True)
    w = net.layers[0].weights
    assert w.max() == 0 and w.min() < 0 and not np.any(w % 2)
    write_netx(net.layers, tmp_path / "q.net")          # raises NetxIncompatible if netx would differ


# ---------------------------------------------------------------------------------------- reader attacks


def _valid_file(tmp_path):
    layers = [_layer(np.array([[3, 5, 0], [1, 2, 7]]), vth=20, delays=np.ones((2, 3), np.int64),
                     bias_mant=np.array([1, -2]), bias_exp=6)]
    return write_netx(layers, tmp_path / "ok.net")


def _replace(path, name, data, **kw):
    with h5py.File(path, "r+") as f:
        del f[name]
        f.create_dataset(name, data=data, **kw)
    return path


@pytest.mark.parametrize("field,value", [("neuron/vThMant", 12.7), ("neuron/iDecay", 4097.0),
                                         ("neuron/vDecay", -1), ("neuron/vThMant", np.nan)])
def test_netx_attack_fractional_or_out_of_range_neuron_parameter(tmp_path, field, value):
    path = _replace(_valid_file(tmp_path), f"layer/1/{field}", value)
    with pytest.raises(InvalidFileError, match=field.split("/")[-1]) as exc:
        read_netx(path)
    assert exc.value.path == str(path) and "allowed" in str(exc.value)


@pytest.mark.parametrize("delay", [-5.0, np.nan, 2.5, 63.0])
def test_netx_attack_negative_nan_fractional_or_too_long_delay(tmp_path, delay):
    path = _replace(_valid_file(tmp_path), "layer/1/delay", np.full((2, 3), delay, np.float32))
    with pytest.raises(InvalidFileError, match="delay"):
        read_netx(path)


@pytest.mark.parametrize("weight", [0.5, 1e30, np.inf, 300.0])
def test_netx_attack_fractional_or_huge_weight(tmp_path, weight):
    w = np.array([[3, 5, 0], [1, 2, 7]], np.float32)
    w[0, 0] = weight
    path = _replace(_valid_file(tmp_path), "layer/1/weight", w)
    with pytest.raises(InvalidFileError, match="weight"):
        read_netx(path)


def test_netx_attack_terabyte_weight_declared_is_refused_before_reading(tmp_path):
    path = _valid_file(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["layer/1/weight"]
        f.create_dataset("layer/1/weight", shape=(1 << 20, 1 << 20), dtype=np.float32, chunks=(64, 64))
    assert os.path.getsize(path) < 1 << 20
    with pytest.raises(SizeLimitError, match="weight"):
        read_netx(path)


def test_netx_attack_many_layers_and_bad_structure(tmp_path):
    path = tmp_path / "many.net"
    with h5py.File(path, "w") as f:
        for i in range(40):
            f.create_group(f"layer/{i}")
    with pytest.raises(SizeLimitError, match="layer"):
        read_netx(path, max_layers=16)
    with pytest.raises(InvalidFileError, match="type"):
        read_netx(path)
    junk = tmp_path / "junk.net"
    junk.write_bytes(b"not hdf5 at all")
    with pytest.raises(InvalidFileError, match="HDF5"):
        read_netx(junk)


def test_netx_attack_wrong_weight_shape_and_layer_type(tmp_path):
    path = _replace(_valid_file(tmp_path), "layer/1/weight", np.ones((3, 3), np.float32))
    with pytest.raises(InvalidFileError, match="weight"):
        read_netx(path)
    path = _replace(_valid_file(tmp_path), "layer/1/type", np.array([b"pool"]))
    with pytest.raises(InvalidFileError, match="type"):
        read_netx(path)


def test_write_netx_reads_back_what_it_wrote(tmp_path):
    layers = [_layer(np.array([[3, 5, 0], [1, 2, 7]]), vth=20, delays=np.ones((2, 3), np.int64),
                     bias_mant=np.array([1, -2]), bias_exp=6),
              _layer(np.array([[-4, 2]]), vth=9, du=100, dv=300)]
    back = read_netx(write_netx(layers, tmp_path / "two.net"))
    x = np.random.default_rng(0).random((30, 3)) < 0.5
    assert _same(simulate(layers, x), simulate(back, x))
