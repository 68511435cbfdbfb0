"""Networks the Loihi quantiser maps beyond (Linear | Conv2d) -> neuron chains: a last synapse with no
neuron (the summing readout of ANN-to-SNN converted networks). Oracles: the float model (reference path,
to the quantisation tolerance of the backends table) and the REAL Lava runtime and lava-dl netx loader
(bit-exact)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.hardware.loihi import (lava_available, quantize_for_loihi, read_netx, run_lava,
                                   run_netx_files, simulate)
from snnkit.hardware.loihi.layer import MAX_VTH

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"
needs_lava = pytest.mark.skipif(not lava_available() and not _REQUIRED,
                                reason="Lava environment missing: run .ci/install_lava.sh")
V_TOL = 0.10   # membrane readouts: ||dv|| / ||v|| without biases (tests/test_backends_table.py)


def _spikes(shape, seed, rate=0.3):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < rate).float()


def _unbiased(model):
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
    return model


def sum_readout_model(seed=0):
    """IF hidden layer (hard reset, as Loihi's LIF) ending in a plain Linear: a converted network's shape."""
    torch.manual_seed(seed)
    model = N.Sequential(nn.Linear(10, 24), N.IF(v_th=1.0, reset="hard"), nn.Linear(24, 4))
    with torch.no_grad():
        model[0].weight.mul_(1.5)
    return model


def _relative_error(out, ref):
    return float(np.linalg.norm(out - ref) / np.linalg.norm(ref))


def test_last_linear_without_neuron_is_a_summing_readout():
    model = sum_readout_model()
    x = _spikes((40, 5, 10), 1)
    net = quantize_for_loihi(model)
    last = net.layers[-1]
    assert net.readout == "sum" and (last.du, last.dv, last.vth) == (4095, 0, MAX_VTH)
    assert net.report[-1]["steps_to_saturate"] > 10 and last.weight_exp == 0  # worst case: every input spikes
    with torch.no_grad():
        ref = model(x).numpy()
    out = net.run(x)
    assert not out["spikes"].any()                        # the readout never fires
    # deployed: biases integrate during Lava's latency, so only the predicted class is compared
    assert (out["v"][-1].argmax(-1) == ref.mean(0).argmax(-1)).mean() >= 0.8
    unbiased = _unbiased(model)
    with torch.no_grad():
        ref = unbiased(x).numpy().cumsum(0)               # v[t] = sum of the Linear's output over 0..t
    err = _relative_error(quantize_for_loihi(unbiased).run(x)["v"], ref)
    assert err <= V_TOL, err


@pytest.mark.lava
@needs_lava
def test_new_mappings_bit_exact_against_real_lava_and_netx(tmp_path):
    cases = {"sum readout": (sum_readout_model(), None, _spikes((30, 10), 3))}
    trials, netx_trials, nets = [], [], []
    for k, (name, (model, shape, x)) in enumerate(cases.items()):
        net = quantize_for_loihi(model, shape, for_netx=True)
        spikes = x.numpy().reshape(x.shape[0], -1).astype(bool)
        path = net.write_netx(tmp_path / f"net{k}.net")
        assert [lay.conv for lay in read_netx(path)] == [lay.conv for lay in net.layers]
        trials.append((net.layers, spikes))
        netx_trials.append((path, spikes, len(net.layers)))
        nets.append((name, net, spikes))
    lava = run_lava(trials, mode="fixed", timeout=300)
    netx = run_netx_files(netx_trials, timeout=300)
    for (name, net, spikes), got_lava, got_netx in zip(nets, lava, netx):
        ref = simulate(net.layers, spikes)
        assert sum(int(s.sum()) for s in ref["spikes"]) > 20, name
        for got, label in ((got_lava, "Lava processes"), (got_netx, "lava-dl netx")):
            for key in ("spikes", "u", "v"):
                for i, (a, b) in enumerate(zip(ref[key], got[key])):
                    assert np.array_equal(a.astype(np.int64), np.asarray(b).astype(np.int64)), \
                        f"{name}, {label}: layer {i} {key} differs in {int((a != b).sum())} of {a.size} values"
