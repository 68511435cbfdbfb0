"""The export pieces the zoo needs, each against an independent oracle: eval-mode BatchNorm (torch's own
BatchNorm), linear state spaces (the recurrence x[t] = A x[t-1] + B u[t] computed here in float64, and
the LMU's own streaming ``step``), static inputs repeated over time (the original model), the tracer's
``*x.shape`` unpacking, the exact refusals (message names the op and the source line), and the
validation of the static-input metadata in files from elsewhere."""
from __future__ import annotations

import nir
import numpy as np
import pytest
import torch
from torch import nn

import snnkit.neurons as N
from snnkit.errors import InvalidFileError
from snnkit.ir import ExportError, export_nir, import_nir, to_graph
from snnkit.ir.graph import ExportContext, linear_state_space
from snnkit.models._common import RepeatSteps, SeqBatchNorm
from snnkit.models.lmu import LegendreMemory
from snnkit.synapses import TimeDistributed


def _trained_bn(bn: nn.modules.batchnorm._BatchNorm, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    bn.running_mean.copy_(torch.randn(bn.num_features, generator=g))
    bn.running_var.copy_(torch.rand(bn.num_features, generator=g) + 0.3)
    bn.weight.data.copy_(torch.randn(bn.num_features, generator=g))
    bn.bias.data.copy_(torch.randn(bn.num_features, generator=g))


def _round_trip(model: nn.Module, tmp_path, x: torch.Tensor, **kw) -> tuple[torch.Tensor, torch.Tensor, nir.NIRGraph]:
    model.eval()
    graph = export_nir(model, str(tmp_path / "m.nir"), **kw)
    back = import_nir(str(tmp_path / "m.nir"))
    with torch.no_grad():
        return model(x), back(x), graph


def test_batchnorm_is_its_eval_affine_map(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 6), SeqBatchNorm(6), N.LIF(tau_mem=3.0))
    _trained_bn(model[1].bn)
    x = torch.randn(6, 3, 5)
    ref, out, graph = _round_trip(model, tmp_path, x)
    assert ref.abs().sum() > 0
    torch.testing.assert_close(out, ref)
    affine = graph.nodes["1"]  # the SeqBatchNorm: diag(scale) and shift; oracle: torch's BatchNorm1d
    h = model[0](x).reshape(-1, 6).detach()
    got = h.double() @ torch.as_tensor(affine.weight).T + torch.as_tensor(affine.bias)
    torch.testing.assert_close(got.float(), model[1].bn(h).detach(), rtol=1e-6, atol=1e-6)


def test_batchnorm_after_conv_round_trips(tmp_path):
    torch.manual_seed(1)
    model = nn.Sequential(TimeDistributed(nn.Conv2d(2, 3, 3, padding=1)), TimeDistributed(nn.BatchNorm2d(3)),
                          N.LIF(tau_mem=2.0), TimeDistributed(nn.Flatten()), nn.Linear(3 * 5 * 5, 2), N.LI(tau_mem=4.0))
    _trained_bn(model[1].module)
    x = (torch.rand(8, 2, 2, 5, 5) < 0.4).float()
    ref, out, graph = _round_trip(model, tmp_path, x, input_shape=(2, 5, 5))
    assert isinstance(graph.nodes["1"], nir.Conv2d)
    assert ref.abs().sum() > 0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)


def test_batchnorm_without_running_stats_is_refused():
    model = nn.Sequential(nn.Linear(3, 4), TimeDistributed(nn.BatchNorm1d(4, track_running_stats=False)))
    with pytest.raises(ExportError, match="running statistics"):
        to_graph(model)


def test_linear_state_space_matches_the_recurrence(tmp_path):
    rng = np.random.default_rng(0)
    n, m, T = 6, 3, 20
    A = rng.normal(size=(n, n)) * 0.3
    B = rng.normal(size=(n, m))
    piece = linear_state_space(ExportContext(1e-3, "euler", False), "ss", torch.as_tensor(A), torch.as_tensor(B))
    nodes = {"input": nir.Input(input_type={"input": np.array([m])}), **piece.nodes,
             "output": nir.Output(output_type={"output": np.array([n])})}
    edges = piece.edges + [("input", e) for e in piece.entries] + [(e, "output") for e in piece.exits]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata={"snnkit.dt": 1e-3})
    nir.write(str(tmp_path / "ss.nir"), graph)
    model = import_nir(str(tmp_path / "ss.nir"))
    u = rng.normal(size=(T, 2, m))
    x, want = np.zeros((2, n)), []
    for t in range(T):
        x = x @ A.T + u[t] @ B.T
        want.append(x)
    with torch.no_grad():
        got = model(torch.as_tensor(u, dtype=torch.float32))
    np.testing.assert_allclose(got.numpy(), np.stack(want), rtol=1e-4, atol=1e-4)


def test_legendre_memory_exports_as_its_streaming_recurrence(tmp_path):
    mem = LegendreMemory(2, order=6, theta=8.0)
    u = torch.randn(15, 3, 2)
    export_nir(mem, str(tmp_path / "lmu.nir"), input_shape=(2,))
    back = import_nir(str(tmp_path / "lmu.nir"))
    state, want = None, []
    for t in range(u.shape[0]):  # oracle: the module's own step recurrence (not the convolution it runs)
        m, state = mem.step(u[t], state)
        want.append(m)
    with torch.no_grad():
        torch.testing.assert_close(back(u), torch.stack(want), rtol=1e-5, atol=1e-5)


class _Static(nn.Module):
    """A static [T, B, F] input read as an image [B, F, T], embedded, then presented for 3 steps."""

    steps = 7  # the exporter's example input has this many steps (as the zoo's fixed-length models say)

    def __init__(self, stateful_first: bool = False) -> None:
        super().__init__()
        self.embed = nn.Conv1d(4, 5, 3, padding=1)
        self.first = N.LIF(tau_mem=2.0) if stateful_first else nn.Identity()
        self.repeat = RepeatSteps(3)
        self.lif, self.flat, self.out = N.LIF(tau_mem=2.0), TimeDistributed(nn.Flatten()), nn.Linear(5 * 7, 2)

    def forward(self, x):
        z = self.repeat(self.first(self.embed(x.permute(1, 2, 0))))
        return self.out(self.flat(self.lif(z * 2.0)))


def test_static_input_becomes_the_input_stream(tmp_path):
    torch.manual_seed(0)
    model = _Static()
    x = torch.randn(7, 2, 4)
    ref, out, graph = _round_trip(model, tmp_path, x, input_shape=(4,))
    assert ref.shape[0] == 3 and ref.abs().sum() > 0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    assert graph.metadata["snnkit.repeat_steps"] == 3
    assert list(graph.metadata["snnkit.input_permute"]) == [1, 2, 0]
    assert list(graph.nodes["input"].input_type["input"]) == [4, 7]  # one step: the image [F, T]


def test_stateful_layer_before_the_repetition_is_refused():
    with pytest.raises(ExportError, match="'first'.*stateful layer computed once on the static input"):
        to_graph(_Static(stateful_first=True), input_shape=(4,))


@pytest.mark.parametrize("field,value,match", [
    ("snnkit.repeat_steps", np.int64(0), "repeat_steps"),
    ("snnkit.repeat_steps", np.float64(2.5), "repeat_steps"),
    ("snnkit.input_permute", np.array([0, 0, 1]), "input_permute"),
    ("snnkit.input_permute", np.array([0, 1, 2, 3]), "input_permute"),
])
def test_static_input_metadata_from_elsewhere_is_validated(tmp_path, field, value, match):
    torch.manual_seed(0)
    graph = to_graph(_Static(), input_shape=(4,))
    graph.metadata[field] = value
    nir.write(str(tmp_path / "bad.nir"), graph)
    with pytest.raises(InvalidFileError, match=match):
        import_nir(str(tmp_path / "bad.nir"))


class _Gate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a, self.b = nn.Linear(3, 3), nn.Linear(3, 3)

    def forward(self, x):
        return self.a(x) * torch.sigmoid(self.b(x))


class _TimeConv(nn.Module):
    def __init__(self, padding: int, left: int = 0) -> None:
        super().__init__()
        self.conv, self.left = nn.Conv1d(3, 3, 3, padding=padding), left

    def forward(self, x):
        z = nn.functional.pad(x.permute(1, 2, 0), (self.left, 0)) if self.left else x.permute(1, 2, 0)
        return self.conv(z).permute(2, 0, 1)


class _TimeMean(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 3)

    def forward(self, x):
        return self.fc(x).mean(0, keepdim=True)


class _Transpose(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        return self.fc(x.transpose(-1, -2))


@pytest.mark.parametrize("model,shape,match", [
    (_Gate(), (3,), r"_operator.mul.*return self.a\(x\) \* torch.sigmoid.*product of two signals"),
    (_TimeConv(1), (3,), r"permute.*kernel 3, dilation 1, padding 1\) whose output step t reads input steps up to t\+1"),
    (_TimeConv(0, left=3), (3,), r"causal convolution over time that does not keep the sequence length"),
    (_TimeMean(), (3,), r"mean.*reduces over the time axis"),
    (_Transpose(), (4, 4), r"transpose.*no transpose or reshape node"),
])
def test_inexpressible_operations_are_refused_with_the_op_and_line(model, shape, match):
    with pytest.raises(ExportError, match=match):
        to_graph(model, input_shape=shape)


def test_causal_convolution_over_time_exports_as_delay_taps(tmp_path):
    torch.manual_seed(0)
    model = nn.Sequential(_TimeConv(0, left=4), N.LI(tau_mem=2.0))
    model[0].conv = nn.Conv1d(3, 3, 3, dilation=2)
    x = (torch.rand(10, 2, 3) < 0.5).float()
    ref, out, graph = _round_trip(model, tmp_path, x, input_shape=(3,))
    assert ref.abs().sum() > 0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    delays = sorted(int(n.metadata["snnkit.steps"]) for n in graph.nodes.values() if isinstance(n, nir.Delay))
    assert delays == [2, 4]  # taps at t-4, t-2 and t (no Delay node)


class _Images(nn.Module):
    """A model of static images [B, C, H, W] that unpacks ``*x.shape`` and takes ``range(x.dim())`` (as the
    vision zoo does)."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 2)

    def forward(self, x):
        if x.dim() != 4:
            raise ValueError("images please")
        z = x.unsqueeze(0).expand(2, *x.shape).flatten(2) * (4 / len(range(x.dim())))  # range(): an int
        return self.fc(z) * self.fc(z)


def test_static_image_models_are_traced_with_their_shape_unpacked():
    # traced on one image (the time-major example is rejected by the model's check); the refusal is the
    # product, found after '*x.shape' and 'range(x.dim())' were evaluated on the example
    with pytest.raises(ExportError, match="product of two signals"):
        to_graph(_Images(), input_shape=(1, 2, 2))

