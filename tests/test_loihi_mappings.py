"""Networks the Loihi quantiser maps beyond (Linear | Conv2d) -> neuron chains: a last synapse with no
neuron (the summing readout of ANN-to-SNN converted networks), Conv1d (as a Conv2d over [C, L, 1]) with
average pooling and BatchNorm written as convolutions, and an Affine (BatchNorm) between a synapse and
its neuron, all folded into one Loihi synapse. Oracles: the float model (reference path: layer by layer,
each Loihi layer fed the float model's spikes, to the quantisation tolerance of the other Loihi tests)
and the REAL Lava runtime and lava-dl netx loader (bit-exact)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit import conversion
from snnkit.conversion.architectures import cnn1d
from snnkit.hardware.loihi import (deploy, lava_available, quantize_for_loihi, read_netx, run_lava,
                                   run_netx_files, simulate)
from snnkit.hardware.loihi.layer import MAX_VTH
from snnkit.synapses import TimeDistributed as TD
from loihi_oracles import layer_by_layer, without_biases

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"
needs_lava = pytest.mark.skipif(not lava_available() and not _REQUIRED,
                                reason="Lava environment missing: run .ci/install_lava.sh")
V_TOL = 0.10   # membrane readouts: ||dv|| / ||v|| without biases (tests/test_backends_table.py)
SPIKE_AGREEMENT = 0.97   # hidden layers fed the float model's input (tests/test_loihi_conv.py)


def _spikes(shape, seed, rate=0.3):
    return (torch.rand(*shape, generator=torch.Generator().manual_seed(seed)) < rate).float()


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
    unbiased = without_biases(model)
    with torch.no_grad():
        ref = unbiased(x).numpy().cumsum(0)               # v[t] = sum of the Linear's output over 0..t
    err = _relative_error(quantize_for_loihi(unbiased).run(x)["v"], ref)
    assert err <= V_TOL, err


def conv1d_model(seed=0):
    """Conv1d -> LIF -> AvgPool1d -> Conv1d -> BatchNorm1d -> IF -> Flatten -> Linear (no neuron): the
    pooling and the BatchNorm export as convolutions, and all three fold into one Loihi conv."""
    torch.manual_seed(seed)
    model = N.Sequential(TD(nn.Conv1d(2, 4, 3, padding=1)), N.LIF(tau_mem=4.0, v_th=0.5, reset="hard"),
                         TD(nn.AvgPool1d(2)), TD(nn.Conv1d(4, 6, 3, padding=1)), TD(nn.BatchNorm1d(6)),
                         N.IF(v_th=0.5, reset="hard"), TD(nn.Flatten()), nn.Linear(6 * 8, 3))
    bn = model[4].module
    g = torch.Generator().manual_seed(seed + 7)
    with torch.no_grad():
        model[0].module.weight.mul_(2.0)
        bn.running_mean.copy_(0.2 * torch.randn(6, generator=g))
        bn.running_var.copy_(torch.rand(6, generator=g) + 0.5)
        bn.weight.copy_(torch.rand(6, generator=g) + 0.7)
        model[-1].bias.zero_()   # a readout bias integrates during Lava's latency (docs/loihi.md)
    return model.eval()


def batchnorm_model(seed=0):
    """Linear -> BatchNorm1d -> LIF -> Linear -> LIF: the BatchNorm exports as an Affine between synapse
    and neuron."""
    torch.manual_seed(seed)
    model = N.Sequential(nn.Linear(10, 20), TD(nn.BatchNorm1d(20)), N.LIF(tau_mem=5.0, reset="hard"),
                         nn.Linear(20, 4), N.LIF(tau_mem=5.0, v_th=0.5, reset="hard"))
    bn = model[1].module
    g = torch.Generator().manual_seed(seed + 3)
    with torch.no_grad():
        model[0].weight.mul_(3.0)
        model[3].weight.mul_(2.0)
        bn.running_mean.copy_(0.3 * torch.randn(20, generator=g))
        bn.running_var.copy_(torch.rand(20, generator=g) + 0.5)
        bn.weight.copy_(torch.rand(20, generator=g) + 0.5)
        bn.bias.copy_(0.2 * torch.randn(20, generator=g))
    return model.eval()


def test_conv1d_with_pooling_and_batchnorm_follows_the_float_model():
    model = conv1d_model()
    x = _spikes((30, 4, 2, 16), 2)
    net = quantize_for_loihi(model, (2, 16))
    assert [r["kind"] for r in net.report] == ["conv", "conv", "dense"] and net.readout == "sum"
    conv = net.layers[1].conv   # AvgPool1d(2), Conv1d(k=3, padding=1) and the 1x1 BatchNorm in one conv
    assert net.layers[1].weights.shape == (6, 4, 6, 1) and conv.stride == (2, 1) and conv.padding == (2, 0)
    with torch.no_grad():
        ref = model(x).numpy()
    assert (net.run(x)["v"][-1].argmax(-1) == ref.sum(0).argmax(-1)).mean() >= 0.75
    unbiased = without_biases(model)
    agreement, error = layer_by_layer(quantize_for_loihi(unbiased, (2, 16)), unbiased, x)
    assert min(agreement) >= SPIKE_AGREEMENT and error <= V_TOL, (agreement, error)


def test_convolutions_without_an_equal_single_conv_unroll_into_a_dense_synapse():
    """Conv1d(k=3, padding=1) -> Conv1d(k=3, padding=1): the second conv's zero padding of the first's
    output is not a padding of the input, so no single conv equals the pair; the pair becomes one dense
    synapse (its exact matrix), and a per-channel Scale after a conv folds into the kernel."""
    torch.manual_seed(3)
    model = N.Sequential(TD(nn.Conv1d(2, 3, 3, padding=1)), TD(nn.Conv1d(3, 4, 3, padding=1, bias=False)),
                         N.LIF(tau_mem=4.0, v_th=0.4, reset="hard"), TD(nn.Conv1d(4, 4, 1, bias=False)),
                         TD(nn.BatchNorm1d(4)), N.LIF(tau_mem=4.0, v_th=0.4, reset="hard")).eval()
    with torch.no_grad():
        model[4].module.running_var.copy_(torch.tensor([0.5, 1.0, 2.0, 4.0]))
        model[0].module.weight.mul_(1.5)
        model[3].module.weight.mul_(3.0)
    x = _spikes((30, 4, 2, 10), 7, rate=0.4)
    unbiased = without_biases(model)
    net = quantize_for_loihi(unbiased, (2, 10))
    assert [r["kind"] for r in net.report] == ["dense", "conv"] and net.layers[0].weights.shape == (40, 20)
    agreement, _ = layer_by_layer(net, unbiased, x)
    with torch.no_grad():
        assert unbiased[:3](x).sum() > 100 and unbiased(x).sum() > 100
    assert min(agreement) >= SPIKE_AGREEMENT, agreement


def test_deploy_reads_a_summing_readout_by_its_sum():
    model = without_biases(sum_readout_model())
    x = _spikes((40, 64, 10), 8)
    with torch.no_grad():
        y = model(x).sum(0).argmax(-1)     # the float model's own predictions: its accuracy is 1
    result = deploy(model, x, y)
    assert result["network"].readout == "sum" and result["float_accuracy"] == 1.0
    assert result["accuracy"] >= 0.9, result["accuracy"]


def test_max_pooling_is_refused_with_the_reason():
    torch.manual_seed(0)
    ann = cnn1d(in_channels=1, length=16, channels=(4, 6), num_classes=3, pool="max").eval()
    snn = conversion.convert(ann, torch.rand(16, 16), T=8)
    with pytest.raises(ValueError, match="max pooling cannot run on Loihi: it is not a linear map"):
        quantize_for_loihi(snn, (16,))


def test_batchnorm_between_synapse_and_neuron_folds_into_the_synapse():
    model = batchnorm_model()
    x = _spikes((40, 4, 10), 4)
    # the fold, shift included: a summing readout's increments are the float Linear -> BatchNorm per step
    head = N.Sequential(model[0], model[1]).eval()
    net = quantize_for_loihi(head)
    assert len(net.layers) == 1 and net.readout == "sum"
    with torch.no_grad():
        ref = head(x).numpy()
    steps = np.diff(net.run(x)["v"], axis=0)   # Lava adds the bias once more during its latency: skip step 0
    assert np.linalg.norm(steps - ref[1:]) <= 0.01 * np.linalg.norm(ref[1:])
    # the spiking network, layer by layer (without biases: they integrate during Lava's latency)
    unbiased = without_biases(model)
    net = quantize_for_loihi(unbiased)
    assert len(net.layers) == 2 and net.report[0]["name"] == "2"
    agreement, error = layer_by_layer(net, unbiased, x)
    with torch.no_grad():
        hidden = unbiased[:3](x)
    assert hidden.sum() > 100 and error is None and min(agreement) >= SPIKE_AGREEMENT, agreement


@pytest.mark.lava
@needs_lava
def test_new_mappings_bit_exact_against_real_lava_and_netx(tmp_path):
    cases = {"sum readout": (sum_readout_model(), None, _spikes((30, 10), 3)),
             "conv1d": (conv1d_model(), (2, 16), _spikes((25, 2, 16), 5)),
             "batchnorm": (batchnorm_model(), None, _spikes((30, 10), 6))}
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
