"""The networks every export table enumerates (imported by tests/test_ir_export_table.py and
tests/test_backends_table.py; not a test file itself): every zoo model (``snnkit.models.create(name,
spiking=True)``, small configurations) and every converted example network, each with a sample input,
plus the NIR round trip of each, computed once per session and shared by both tables."""
from __future__ import annotations

import functools
import re
import tempfile
from pathlib import Path

import torch
from torch import nn

from snnkit import conversion
from snnkit import models as M
from snnkit.conversion.architectures import cnn1d, mlp
from snnkit.ir import ExportError, export_nir, import_nir
from snnkit.synapses import freeze_delays

F, C, T = 8, 3, 12
LOIHI_READY = {"reset": "zero", "v_init": 0.0, "channel_wise": False}
Network = tuple[nn.Module, tuple[int, ...], "torch.Tensor | None"]  # (model, sample shape, analog input or None)


def _zoo() -> dict[str, Network]:
    out = {}
    for name in M.names():
        if True not in M.forms(name):
            continue
        torch.manual_seed(0)
        if name.endswith("_image"):  # vision models: images [B, 1, 28, 28], small configurations
            staged = name in ("meta_spikeformer_image", "max_former_image")
            cfg = ({"widths": (8, 16, 32), "depths": (1, 1, 1)} if staged else {"dim": 32, "depth": 1})
            model = M.create(name, spiking=True, heads=2, sim_steps=2, num_classes=C, **cfg)
            out[f"zoo: {name}"] = (model, (1, 28, 28), None)
            continue
        out[f"zoo: {name}"] = (M.create(name, spiking=True, in_features=F, num_classes=C, steps=T), (F,), None)
    torch.manual_seed(0)
    out["zoo: mlp (reset='hard')"] = (M.create("mlp", spiking=True, in_features=F, num_classes=C, reset="hard"),
                                      (F,), None)
    for label, extra in (("frozen delays", None), ("frozen delays, extra_steps=0", 0)):
        torch.manual_seed(0)
        net = M.create("delay_net", spiking=True, in_features=F, num_classes=C)
        freeze_delays(net)
        for layer in net.delay_layers():
            layer.extra_steps = layer.extra_steps if extra is None else extra
        out[f"zoo: delay_net ({label})"] = (net, (F,), None)
    for model, _, _ in out.values():  # BatchNorms with statistics as after training, so their export matters
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                g = torch.Generator().manual_seed(3)
                m.running_mean.copy_(0.3 * torch.randn(m.num_features, generator=g))
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.data.copy_(0.2 * torch.randn(m.num_features, generator=g))
    return out


def _converted() -> dict[str, Network]:
    out = {}
    cases = {
        "converted: mlp": (mlp(in_features=F, hidden=(16, 12), num_classes=C), (F,), {}),
        "converted: mlp, LIF neurons": (mlp(in_features=F, hidden=(16,), num_classes=C), (F,), {"neuron": "lif"}),
        "converted: cnn1d (avg pool)": (cnn1d(in_channels=1, length=16, channels=(4, 6), num_classes=C), (16,), {}),
        "converted: cnn1d (max pool)": (cnn1d(in_channels=1, length=16, channels=(4, 6), num_classes=C, pool="max"),
                                        (16,), {}),
        "converted: cnn1d (max pool, fold=False)": (cnn1d(in_channels=1, length=16, channels=(4,), num_classes=C,
                                                          pool="max"), (16,), {"fold": False}),
        # the Loihi-ready setting: Lava's LIF resets to 0, starts at 0 and holds one threshold per layer
        "converted: mlp (reset='zero')": (mlp(in_features=F, hidden=(16, 12), num_classes=C), (F,), LOIHI_READY),
        "converted: cnn1d (avg pool, reset='zero')": (cnn1d(in_channels=1, length=16, channels=(4, 6), num_classes=C),
                                                     (16,), LOIHI_READY),
    }
    for name, (ann, shape, options) in cases.items():
        torch.manual_seed(1)
        calib = torch.rand(64, *shape)
        options = {"channel_wise": True, **options}
        out[name] = (conversion.convert(ann.eval(), calib, T=T, **options), shape, calib[:3])
    return out


@functools.lru_cache(maxsize=1)
def networks() -> dict[str, Network]:
    """Every network of the tables, in eval mode, by row name (built once per session; do not modify)."""
    nets = {**_zoo(), **_converted()}
    for model, _, _ in nets.values():
        model.eval()
    return nets


def sample_input(name: str, shape: tuple[int, ...], analog: torch.Tensor | None) -> torch.Tensor:
    """The input every backend runs: the converted nets' analog samples repeated over T; images [3, 1, 28, 28]
    for the vision models (they repeat them internally); 30 % dense random spikes [T, 3, ...] otherwise."""
    if analog is not None:
        return conversion.encode(analog, T)
    g = torch.Generator().manual_seed(2)
    if name.endswith("_image"):
        return torch.rand(3, *shape, generator=g)
    return (torch.rand(T, 3, *shape, generator=g) < 0.3).float()


def reason(err: Exception) -> str:
    """An error message as a Markdown table cell: repository-relative paths, no line numbers."""
    text = re.sub(r"\S*/(snnkit|tests)/", r"\1/", str(err))  # paths relative to the repository
    text = re.sub(r"(\.py):\d+", r"\1", text)  # line numbers change with every edit
    # Markdown: a table cell cannot hold "|", and "[...](...)" in quoted source would read as a link
    return " ".join(text.split()).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def _nir_round_trip(name: str, model: nn.Module, shape: tuple[int, ...], analog: torch.Tensor | None) -> str:
    """"identical" after the round trip, or "refused: <the exporter's reason>"; any other mismatch fails."""
    path = Path(tempfile.mkdtemp()) / "model.nir"
    try:
        export_nir(model, str(path), input_shape=shape, extensions=True)
    except ExportError as err:
        return "refused: " + reason(err)
    back = import_nir(str(path))
    x = sample_input(name, shape, analog)
    with torch.no_grad():
        ref, out = model(x), back(x)
    assert ref.abs().sum() > 0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    return "identical"


@functools.lru_cache(maxsize=1)
def nir_outcomes() -> dict[str, str]:
    """snnkit -> NIR file (real `nir` writer/reader) -> snnkit for every network, by row name."""
    return {name: _nir_round_trip(name, *net) for name, net in networks().items()}
