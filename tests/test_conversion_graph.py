"""Conversion graph handling: unsupported-operation errors, BatchNorm folding exactness, functional
forms, and the spiking building blocks against analytic results."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from snnkit import conversion as C
from snnkit.conversion.modules import ConvertedIF, SpikeMaxPool


class _Gate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.fc(x))


def test_unsupported_module_error_names_module_and_place():
    ann = nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.ReLU(), nn.Tanh()), nn.Linear(8, 2))
    with pytest.raises(C.UnsupportedOperationError) as err:
        C.convert(ann, torch.randn(16, 4))
    msg = str(err.value)
    assert "Tanh" in msg and "'1.1'" in msg


def test_unsupported_function_error_names_node_module_and_source_line():
    ann = nn.Sequential(nn.Linear(4, 8), _Gate())
    with pytest.raises(C.UnsupportedOperationError) as err:
        C.convert(ann, torch.randn(16, 4))
    msg = str(err.value)
    assert "sigmoid" in msg and "fx node 'sigmoid'" in msg
    assert "inside module '1' (_Gate)" in msg
    assert "test_conversion_graph.py" in msg and "torch.sigmoid(self.fc(x))" in msg


def test_negative_clamp_and_unfoldable_batchnorm_are_rejected():
    class Clamp(nn.Module):
        def forward(self, x):
            return torch.clamp(x, -1, 1)
    with pytest.raises(C.UnsupportedOperationError, match="min=-1"):
        C.convert(nn.Sequential(nn.Linear(3, 3), Clamp()), torch.randn(4, 3))
    with pytest.raises(C.UnsupportedOperationError, match="BatchNorm1d that does not directly follow"):
        C.convert(nn.Sequential(nn.BatchNorm1d(3), nn.Linear(3, 3)), torch.randn(4, 3))


def _randomise_bn(model: nn.Module) -> nn.Module:
    g = torch.Generator().manual_seed(1)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g))
            m.running_var.copy_(torch.rand(n, generator=g) + 0.2)
            m.weight.data.copy_(torch.randn(n, generator=g))
            m.bias.data.copy_(torch.randn(n, generator=g))
    return model


@pytest.mark.parametrize("build, shape", [
    (lambda: nn.Sequential(nn.Linear(6, 5), nn.BatchNorm1d(5), nn.ReLU(), nn.Linear(5, 3, bias=False),
                           nn.BatchNorm1d(3)), (7, 6)),
    (lambda: nn.Sequential(nn.Conv1d(2, 4, 3, bias=False), nn.BatchNorm1d(4), nn.ReLU(), nn.Dropout(0.5),
                           nn.Flatten(), nn.Linear(4 * 8, 2)), (7, 2, 10)),
    (lambda: nn.Sequential(nn.Conv2d(3, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU6(),
                           nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 2)), (7, 3, 8, 8)),
])
def test_batchnorm_folding_is_exact(build, shape):
    torch.manual_seed(0)
    ann = _randomise_bn(build()).eval()
    x = torch.randn(*shape)
    folded = C.fold_batchnorm(ann)
    assert not any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d, nn.Dropout)) for m in folded.modules())
    torch.testing.assert_close(folded(x), ann(x), rtol=1e-5, atol=1e-5)
    # the caller's model is untouched
    assert any(isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) for m in ann.modules())


class _FunctionalResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.c1, self.b1 = nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.c2, self.c3 = nn.Conv2d(4, 4, 3, padding=1), nn.Conv2d(4, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 2 * 2, 3)

    def forward(self, x):
        h = F.relu(self.b1(self.c1(x)))
        h = F.max_pool2d(h, 2)
        r = torch.clamp(self.c2(h), 0, 6)
        h = F.relu(self.c3(r) + h)
        h = F.adaptive_avg_pool2d(h, 2)
        h = F.dropout(h, 0.2, self.training)
        return self.fc(h.view(h.size(0), -1))


def test_functional_residual_model_converts_and_tracks_the_ann():
    torch.manual_seed(0)
    ann = _randomise_bn(_FunctionalResNet()).eval()
    x = torch.rand(64, 1, 8, 8)
    conv = C.convert_detailed(ann, x, normalisation="max")
    assert isinstance(conv.snn, torch.fx.GraphModule)  # residual: not a chain
    assert sum(isinstance(m, ConvertedIF) for m in conv.snn.modules()) == 3
    assert any(isinstance(m, SpikeMaxPool) for m in conv.snn.modules())
    with torch.no_grad():
        want = ann(x)
        got = C.snn_logits(conv.snn, x, 512)
    err = (got - want).abs().mean() / want.abs().mean()
    assert err < 0.05
    corr = C.layer_correlations(conv.ann, conv.snn, x, 512)
    assert min(corr.values()) > 0.99


def test_spike_max_pool_passes_the_max_count_analytically():
    torch.manual_seed(0)
    spikes = (torch.rand(50, 3, 2, 8) < torch.rand(1, 3, 2, 8)).float()
    pool = SpikeMaxPool(nn.MaxPool1d(2))
    out = pool(spikes)
    assert set(out.unique().tolist()) <= {0.0, 1.0}  # still spikes
    counts = spikes.cumsum(0)
    torch.testing.assert_close(out.cumsum(0), F.max_pool1d(counts.flatten(0, 1), 2).reshape(50, 3, 2, 4))
    # chunked run with carried state equals the whole run
    a, s = pool.run(spikes[:20])
    b, _ = pool.run(spikes[20:], s)
    torch.testing.assert_close(torch.cat([a, b]), out)


@pytest.mark.parametrize("v_init, rounding", [(0.0, torch.floor), (0.5, torch.round)])
def test_if_rate_is_floor_or_round_of_the_input(v_init, rounding):
    # constant input x in (0, th): count after T steps = floor(x T / th + v_init) exactly (analytic IF)
    T, th = 16, 2.0
    x = torch.linspace(0.01, 1.99, 37, dtype=torch.float64)
    frac = (x * T / th) % 1
    x = x[((frac - 0.5).abs() > 1e-3) & (frac > 1e-3) & (frac < 1 - 1e-3)]  # no ties at the threshold
    neuron = ConvertedIF(torch.tensor(th), v_init=v_init)
    counts = neuron(x.float().reshape(1, 1, -1).expand(T, 1, -1).contiguous()).sum(0).flatten().double()
    expected = rounding(x * T / th) if v_init == 0.5 else torch.floor(x * T / th)
    torch.testing.assert_close(counts, expected)


def test_qcfs_matches_its_definition_and_bad_arguments_are_named():
    q = C.QCFS(levels=4, threshold=2.0)
    x = torch.tensor([-1.0, 0.2, 0.26, 1.0, 1.9, 5.0])
    expected = torch.tensor([0.0, 0.0, 0.5, 1.0, 2.0, 2.0])  # 2/4 * clamp(floor(2x + 0.5), 0, 4)
    torch.testing.assert_close(q(x), expected, atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="levels"):
        C.QCFS(levels=0)
    with pytest.raises(ValueError, match="encoding"):
        C.encode(torch.rand(2, 3), 4, "phase")
    with pytest.raises(ValueError, match="v_init"):
        C.convert(nn.Sequential(nn.Linear(3, 3), nn.ReLU()), torch.rand(4, 3), v_init=1.5)


def test_synaptic_operations_count_events_times_fanout():
    fc1, fc2 = nn.Linear(4, 3), nn.Linear(3, 5)
    ann = nn.Sequential(fc1, nn.ReLU(), fc2)
    x = torch.rand(6, 4)
    conv = C.convert_detailed(ann, x, v_init=0.0)
    T = 10
    spikes = []
    h = conv.snn[1].register_forward_hook(lambda _m, _a, s: spikes.append(s))
    report = C.synaptic_operations(conv.snn, x, T)
    h.remove()
    assert report["0"]["macs"] == pytest.approx(T * 4 * 3 * float((x != 0).float().sum(1).mean()) / 4)
    assert report["2"]["sops"] == pytest.approx(float(spikes[0].sum()) * 5 / 6)
    assert report["2"]["binary_input"] and report["2"]["ann_macs"] == 15


def test_converted_mlp_is_a_plain_sequential_the_nir_exporter_walks():
    pytest.importorskip("nir")
    from snnkit.ir.graph import to_graph
    from snnkit.neurons import IF, Sequential

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(6, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Dropout(0.2), nn.Linear(8, 3)).eval()
    conv = C.convert_detailed(ann, torch.rand(50, 6), channel_wise=True, v_init=0.0)
    assert isinstance(conv.snn, Sequential) and [type(m) for m in conv.snn] == [nn.Linear, ConvertedIF, nn.Linear]
    assert isinstance(conv.snn[1], IF) and conv.snn[1].reset == "subtract"
    graph = to_graph(conv.snn, extensions=True)  # soft reset is an snnkit extension of NIR
    kinds = {k: type(v).__name__ for k, v in graph.nodes.items()}
    # NIR nodes are named after the modules, so the neuron node carries its conversion site's name
    assert kinds == {"input": "Input", "0": "Affine", "2": "IF", "4": "Affine", "output": "Output"}
    assert graph.nodes["2"].v_threshold.flatten().tolist() == pytest.approx(conv.thresholds["2"].flatten().tolist())


@pytest.mark.parametrize("options", [
    dict(neuron="lif", tau_mem=1e4), dict(threshold_balancing=True, T=64), dict(bias_calibration=True, T=16),
    dict(channel_wise=True, normalisation="max"), dict(encoding="rate"), dict(fold=False)])
def test_every_option_still_tracks_the_ann_at_large_T(options):
    torch.manual_seed(0)
    ann = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.ReLU(), nn.AvgPool1d(2), nn.Conv1d(6, 6, 3),
                        nn.ReLU(), nn.Flatten(), nn.Linear(6 * 2, 4)).eval()
    x = torch.rand(200, 2, 8)  # in [0, 1], so rate encoding applies
    snn = C.convert(ann, x, **options)
    encoding = options.get("encoding", "direct")
    torch.manual_seed(1)
    with torch.no_grad():
        want, got = ann(x), C.snn_logits(snn, x, 1024, encoding)
    err = float((got - want).abs().mean() / want.abs().mean())
    assert err < (0.08 if encoding == "rate" else 0.03), err
    if not options.get("fold", True):
        assert any(isinstance(m, C.ChannelScale) for m in snn.modules())
    else:
        assert not any(isinstance(m, C.ChannelScale) for m in snn.modules())


@pytest.mark.parametrize("v_init", [0.0, 0.5])
def test_zero_reset_spikes_equal_the_diehl_rule_and_a_hand_built_hard_reset_if(v_init):
    # oracle 1: the Diehl et al. (2015) rule written out: v += I; spike when v >= th; then v = 0
    # oracle 2: the same network built by hand from snnkit.neurons.IF(reset="hard", v_reset=0)
    from snnkit.neurons import IF, Sequential

    torch.manual_seed(0)
    ann = nn.Sequential(nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)).eval()
    x = torch.rand(40, 6)
    conv = C.convert_detailed(ann, x, reset="zero", v_init=v_init)
    assert conv.options["reset"] == "zero" and conv.snn[1].reset == "hard" and conv.snn[1].v_reset == 0.0
    T, th = 30, float(conv.thresholds[conv.sites[0]])
    xs = C.encode(x[:8], T)
    hidden = []
    hook = conv.snn[1].register_forward_hook(lambda _m, _i, out: hidden.append(out))
    with torch.no_grad():
        out = conv.snn(xs)
        current = conv.snn[0](xs)
    hook.remove()
    v, want = torch.full_like(current[0], v_init * th), []
    for t in range(T):
        v = v + current[t]
        s = (v >= th).float()
        v = v * (1 - s)
        want.append(s)
    want = torch.stack(want)
    assert want.sum() > 50 and (want.sum(0) < T).any()  # spikes, and not all saturated
    torch.testing.assert_close(hidden[0], want, rtol=0, atol=0)
    by_hand = Sequential(conv.snn[0], IF(v_th=th, reset="hard", v_reset=0.0), conv.snn[2])
    if v_init == 0.0:  # the hand-built IF starts at rest
        with torch.no_grad():
            torch.testing.assert_close(by_hand(xs), out, rtol=0, atol=0)
    # reset by subtraction keeps the residue, so it spikes at least as often, and here more
    sub = C.convert_detailed(ann, x, v_init=v_init)
    with torch.no_grad():
        sub_spikes = sub.snn[1](conv.snn[0](xs))
    assert sub_spikes.sum() > want.sum() and (sub_spikes.sum(0) >= want.sum(0)).all()


def test_zero_reset_survives_save_load_and_nir_round_trip(tmp_path):
    pytest.importorskip("nir")
    from snnkit.conversion.architectures import mlp
    from snnkit.conversion.serialization import load_converted, save_converted
    from snnkit.ir import export_nir, import_nir

    torch.manual_seed(0)
    config = {"in_features": 6, "hidden": [10], "num_classes": 3}
    ann = mlp(**config).eval()
    x = torch.rand(30, 6)
    conv = C.convert_detailed(ann, x, T=8, reset="zero", v_init=0.0, bias_calibration=True)
    xs = C.encode(x[:5], 20)
    with torch.no_grad():
        want = conv.snn(xs)
    path = save_converted(conv, str(tmp_path / "snn.pt"), "mlp", config, (6,))
    export_nir(conv.snn, str(tmp_path / "snn.nir"), input_shape=(6,), extensions=True)
    for back in (load_converted(path), import_nir(str(tmp_path / "snn.nir"))):
        neurons = [m for m in back.modules() if isinstance(m, ConvertedIF)]
        assert len(neurons) == 1 and neurons[0].reset == "hard" and neurons[0].v_reset == 0.0
        with torch.no_grad():
            torch.testing.assert_close(back(xs), want)
    with pytest.raises(ValueError, match="reset"):
        C.convert(ann, x, reset="hard")
