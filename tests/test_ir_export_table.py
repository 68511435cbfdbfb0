"""Every zoo model (``snnkit.models.create(name, spiking=True)``) and every converted example network
goes through snnkit -> NIR file (real `nir` writer/reader) -> snnkit; each either comes back with
identical outputs (oracle: the original model) or is refused with the exporter's exact reason. The
table of results is docs/generated/export_table.md; this test checks it is up to date
(regenerate with ``PYTHONPATH=. python tests/test_ir_export_table.py``)."""
from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

import pytest
import torch
from torch import nn

from snnkit import conversion
from snnkit import models as M
from snnkit.conversion.architectures import cnn1d, mlp
from snnkit.ir import ExportError, export_nir, import_nir
from snnkit.synapses import freeze_delays

TABLE = Path(__file__).resolve().parents[1] / "docs" / "generated" / "export_table.md"
F, C, T = 8, 3, 12


def _zoo() -> dict[str, tuple[torch.nn.Module, tuple[int, ...], torch.Tensor]]:
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


def _converted() -> dict[str, tuple[torch.nn.Module, tuple[int, ...], torch.Tensor]]:
    out = {}
    cases = {
        "converted: mlp": (mlp(in_features=F, hidden=(16, 12), num_classes=C), (F,), {}),
        "converted: mlp, LIF neurons": (mlp(in_features=F, hidden=(16,), num_classes=C), (F,), {"neuron": "lif"}),
        "converted: cnn1d (avg pool)": (cnn1d(in_channels=1, length=16, channels=(4, 6), num_classes=C), (16,), {}),
        "converted: cnn1d (max pool)": (cnn1d(in_channels=1, length=16, channels=(4, 6), num_classes=C, pool="max"),
                                        (16,), {}),
        "converted: cnn1d (max pool, fold=False)": (cnn1d(in_channels=1, length=16, channels=(4,), num_classes=C,
                                                          pool="max"), (16,), {"fold": False}),
    }
    for name, (ann, shape, options) in cases.items():
        torch.manual_seed(1)
        calib = torch.rand(64, *shape)
        out[name] = (conversion.convert(ann.eval(), calib, T=T, channel_wise=True, **options), shape, calib[:3])
    return out


def _reason(err: Exception) -> str:
    text = re.sub(r"\S*/(snnkit|tests)/", r"\1/", str(err))  # paths relative to the repository
    text = re.sub(r"(\.py):\d+", r"\1", text)  # line numbers change with every edit
    # Markdown: a table cell cannot hold "|", and "[...](...)" in quoted source would read as a link
    return " ".join(text.split()).replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def _check(model: torch.nn.Module, shape: tuple[int, ...], analog: torch.Tensor | None) -> str:
    """"identical" after the round trip, or the exporter's reason; any other mismatch fails the test."""
    model.eval()
    path = Path(tempfile.mkdtemp()) / "model.nir"
    try:
        export_nir(model, str(path), input_shape=shape, extensions=True)
    except ExportError as err:
        return "refused: " + _reason(err)
    back = import_nir(str(path))
    x = (conversion.encode(analog, T) if analog is not None
         else (torch.rand(T, 3, *shape, generator=torch.Generator().manual_seed(2)) < 0.3).float())
    with torch.no_grad():
        ref, out = model(x), back(x)
    assert ref.abs().sum() > 0
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-5)
    return "identical"


def table() -> str:
    rows = ["| network | snnkit -> NIR (extensions=True) -> snnkit |", "|---|---|"]
    for name, (model, shape, analog) in {**_zoo(), **_converted()}.items():
        rows.append(f"| {name} | {_check(model, shape, analog)} |")
    head = ("# NIR export of every zoo model and converted example\n\n"
            "Generated by `tests/test_ir_export_table.py` (do not edit by hand). \"identical\": the model "
            "exported to a NIR file, read back with `snnkit.ir.import_nir`, gives the same outputs on the same "
            "input (eval mode; to 1e-5: BatchNorms become affine maps and the LMU/S4D convolutions become "
            "recurrences, equal to float rounding; every BatchNorm has random running statistics). Otherwise the "
            "exporter's reason is quoted. Zoo models use soft reset, stored as the `snnkit.reset` extension "
            "(`extensions=True`); models of a static input (the conv nets) export the network "
            "after the repetition, see docs/architecture_ir.md.\n\n")
    return head + "\n".join(rows) + "\n"


@pytest.mark.slow
def test_export_table_is_current():
    text = table()
    for name in ("zoo: mlp", "zoo: lsm", "zoo: vgg", "zoo: resnet", "zoo: ssm", "zoo: lmu",
                 "zoo: delay_net (frozen delays, extra_steps=0)", "converted: cnn1d (max pool)"):
        assert f"| {name} | identical |" in text, name
    assert TABLE.exists() and TABLE.read_text() == text, (
        "docs/generated/export_table.md is out of date; regenerate with PYTHONPATH=. python tests/test_ir_export_table.py")


if __name__ == "__main__":
    torch.set_num_threads(1)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    TABLE.write_text(table())
    sys.stdout.write(TABLE.read_text())
