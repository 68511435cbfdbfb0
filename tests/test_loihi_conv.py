"""Convolutional layers on Loihi 2: snnkit's simulator against the REAL Lava runtime's ``Conv`` process
(``lava.proc.conv``, fixed point and floating point) and against the real lava-dl netx loader for the
files snnkit writes (conv + pooling-as-conv + flatten + dense). Random small nets cover stride, padding,
dilation, groups, the 24-bit wrap of Conv's sum and channel-wise biases."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from snnkit.hardware.loihi import (ConvGeometry, LoihiLayer, lava_available, read_netx, run_lava, run_netx_files,
                                   simulate, write_netx)

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"
needs_lava = pytest.mark.skipif(not lava_available() and not _REQUIRED,
                                reason="Lava environment missing: run .ci/install_lava.sh")


def random_conv_net(rng, in_shape=(2, 7, 6), with_dense=True, netx=False):
    c, h, w = in_shape
    groups = int(rng.choice([1, 2])) if c % 2 == 0 else 1
    c_out = groups * int(rng.integers(1, 3))
    k = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    geo = ConvGeometry(in_shape=in_shape, stride=(int(rng.integers(1, 3)), int(rng.integers(1, 3))),
                       padding=(int(rng.integers(0, 2)), int(rng.integers(0, 2))),
                       dilation=(1, 1) if netx else (int(rng.integers(1, 3)), 1), groups=groups)
    wt = rng.integers(-256, 256, (c_out, c // groups) + k)
    conv = LoihiLayer(weights=wt, conv=geo, du=int(rng.integers(0, 4096)), dv=int(rng.integers(0, 4096)),
                      vth=int(rng.integers(1, 2000)), bias_exp=6 if netx else int(rng.integers(0, 8)))
    if rng.random() < 0.5:
        conv.bias_mant = np.repeat(rng.integers(-50, 50, c_out), conv.n_out // c_out)   # channel-wise
    layers = [conv]
    if rng.random() < 0.6:   # max pooling of spikes as a grouped conv: spike when any input spiked
        cc, hh, ww = conv.out_shape
        layers.append(LoihiLayer(weights=np.ones((cc, 1, 2, 2), np.int64), du=4095, dv=4095, vth=0,
                                 conv=ConvGeometry(in_shape=(cc, hh, ww), stride=(2, 2), groups=cc)))
        if min(layers[-1].out_shape[1:]) < 1:
            layers.pop()
    if with_dense:
        n = layers[-1].n_out
        layers.append(LoihiLayer(weights=2 * rng.integers(-128, 128, (4, n)), du=int(rng.integers(0, 4096)),
                                 dv=int(rng.integers(0, 4096)), vth=int(rng.integers(1, 300))))
    return layers


def test_conv_layer_equals_torch_conv2d_and_wraps_at_24_bits():
    rng = np.random.default_rng(0)
    geo = ConvGeometry(in_shape=(2, 5, 5), stride=(2, 1), padding=(1, 0), dilation=(1, 2), groups=2)
    w = rng.integers(-256, 256, (4, 1, 3, 2))
    layer = LoihiLayer(weights=w, conv=geo, du=4095, dv=4095, vth=131071)
    x = rng.random((3, 2 * 25)) < 0.5
    u = simulate([layer], x, engine="step")["u"][0]
    ref = torch.nn.functional.conv2d(torch.tensor(x[0].reshape(1, 2, 5, 5), dtype=torch.float64),
                                     torch.tensor(w, dtype=torch.float64), stride=(2, 1), padding=(1, 0),
                                     dilation=(1, 2), groups=2).reshape(-1).numpy()
    np.testing.assert_array_equal(u[1], ref * 64)  # one step of latency, a_in << 6, du=4095 keeps no current
    for engine in ("fast", "step"):
        np.testing.assert_array_equal(simulate([layer], x, engine=engine)["u"][0], u)
    with pytest.raises(ValueError, match="weight_exp"):
        LoihiLayer(weights=w, conv=geo, du=0, dv=0, vth=1, weight_exp=1).validate()


@pytest.mark.lava
@needs_lava
def test_conv_nets_bit_exact_against_real_lava_conv_process():
    rng = np.random.default_rng(5)
    trials = []
    for k in range(6):
        layers = random_conv_net(rng, with_dense=k % 2 == 0)
        trials.append((layers, rng.random((25, layers[0].n_in)) < rng.uniform(0.2, 0.8)))
    # Conv's 24-bit wrap: 255 * 512 * 9 * 9 = 10575360 > 2^23 comes back as 10575360 - 2^24
    big = LoihiLayer(weights=np.full((1, 512, 9, 9), 255), conv=ConvGeometry(in_shape=(512, 9, 9)), du=4095,
                     dv=4095, vth=131071)
    trials.append(([big], np.ones((4, big.n_in), bool)))
    lava = run_lava(trials, mode="fixed", timeout=300)
    spikes = 0
    for k, ((layers, x), out) in enumerate(zip(trials, lava)):
        for engine in ("fast", "step"):
            ref = simulate(layers, x, engine=engine)
            for key in ("spikes", "u", "v"):
                for i, (a, b) in enumerate(zip(ref[key], out[key])):
                    assert a.shape == b.shape, f"trial {k} layer {i} {key}: {a.shape} vs {b.shape}"
                    assert np.array_equal(a.astype(np.int64), b.astype(np.int64)), \
                        f"trial {k} ({engine}) layer {i} {key}: {int((a != b).sum())} of {a.size} differ"
        spikes += sum(int(s.sum()) for s in out["spikes"])
    assert spikes > 200
    # ... then u = a << 6 gets LIF's one 24-bit wrap (without Conv's wrap it would be 10575360 * 64 - 2^24)
    assert lava[-1]["u"][0][2, 0] == (10575360 - (1 << 24)) * 64 + (1 << 24)


@pytest.mark.lava
@needs_lava
def test_conv_netx_files_run_in_real_lava_dl_as_simulated(tmp_path):
    rng = np.random.default_rng(8)
    trials, nets = [], []
    for k in range(4):
        layers = random_conv_net(rng, netx=True)
        path = write_netx(layers, tmp_path / f"conv{k}.net")
        back = read_netx(path)
        assert [lay.conv for lay in back] == [lay.conv for lay in layers]
        x = rng.random((20, layers[0].n_in)) < 0.5
        trials.append((path, x, len(layers)))
        nets.append(layers)
    real = run_netx_files(trials, timeout=300)
    for (path, x, _), layers, out in zip(trials, nets, real):
        for ref in (simulate(layers, x), simulate(read_netx(path), x)):
            for key in ("spikes", "u", "v"):
                for a, b in zip(ref[key], out[key]):
                    assert np.array_equal(a.astype(np.int64), b.astype(np.int64)), f"{path.name} {key}"


def test_quantised_conv_net_with_pooling_follows_the_float_model(tmp_path):
    """Conv -> LIF -> AvgPool -> Conv -> LIF -> SumPool -> Flatten -> Linear -> LIF: pooling folds into the
    next synapse (exact in float), so the fixed-point spikes follow the float model's (reference path)."""
    import snnkit.neurons as N
    from snnkit.hardware.loihi import quantize_for_loihi
    from snnkit.ir import SumPool2d
    from snnkit.synapses import TimeDistributed as TD

    torch.manual_seed(0)
    model = N.Sequential(TD(torch.nn.Conv2d(2, 6, 3, padding=1)), N.LIF(tau_mem=4.0, v_th=0.5),
                         TD(torch.nn.AvgPool2d(2)), TD(torch.nn.Conv2d(6, 8, 3, stride=1, padding=1)),
                         N.LIF(tau_mem=4.0, v_th=0.5), TD(SumPool2d(2, 2, 0)), TD(torch.nn.Flatten()),
                         torch.nn.Linear(8 * 2 * 2, 5), N.LIF(tau_mem=4.0, v_th=0.5))
    with torch.no_grad():
        model[0].module.weight.mul_(2.0)
    x = (torch.rand(30, 4, 2, 8, 8, generator=torch.Generator().manual_seed(1)) < 0.3).float()
    net = quantize_for_loihi(model, (2, 8, 8))
    assert [r["kind"] for r in net.report] == ["conv", "conv", "dense"]
    assert net.layers[1].conv.stride == (2, 2) and net.layers[1].weights.shape[-2:] == (6, 6)  # pool folded
    acts, h = [], x
    with torch.no_grad():
        for m in model:
            h = m(h)
            acts.append(h.numpy().reshape(30, 4, -1).astype(bool))
    # each Loihi layer fed the float model's input spikes gives the float model's spikes (quantisation only);
    # the folded pooling is checked by layers 1 and 2, which read pooled maps
    for i, (src, dst) in enumerate([(x.numpy().reshape(30, 4, -1), 1), (acts[1], 4), (acts[4], 8)]):
        inp = np.concatenate([src, np.zeros((1,) + src.shape[1:])]).astype(bool)
        got = simulate([net.layers[i]], inp)["spikes"][0][1:]
        assert acts[dst].sum() > 50 and (got == acts[dst]).mean() > 0.97, f"layer {i}"
    # end to end, quantisation differences compound in the sparse 5-neuron output; the counts stay close
    out, ref = net.run(x)["spikes"], acts[-1]
    assert (out == ref).mean() > 0.75
    assert abs(int(out.sum()) - int(ref.sum())) < 0.15 * ref.sum()
    netx_net = quantize_for_loihi(model, (2, 8, 8), for_netx=True)
    back = read_netx(netx_net.write_netx(tmp_path / "convnet.net"))
    flat = x.numpy().reshape(30, 4, -1)[:, 0]
    assert all(np.array_equal(a, b) for a, b in zip(simulate(back, flat)["spikes"],
                                                    simulate(netx_net.layers, flat)["spikes"]))
