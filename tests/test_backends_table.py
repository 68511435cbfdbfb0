"""Every network of the export table (tests/export_networks.py: the zoo and the converted examples) on
every backend: NIR (the round trip of tests/test_ir_export_table.py, computed once for both tables),
Loihi 2 (snnkit's bit-exact simulator of Lava's fixed point) and an ideal resistive crossbar. Each cell
is measured against its oracle, the float model, or quotes the backend's refusal. The table is
docs/generated/backends_table.md; this test checks it is up to date (regenerate with
``PYTHONPATH=. .venv/bin/python tests/test_backends_table.py``).

Oracles and tolerances:
- NIR: outputs identical to the original model (asserted inside the round trip, to 1e-5).
- Loihi 2: 8-bit weights and fixed-point state follow the float model, measured end to end twice: as
  deployed, and with every bias set to 0 (BatchNorms' running means included; Lava adds one step of
  latency per layer and a bias integrates during it, so biased layers start ahead of the float model's;
  see docs/loihi.md). End to end, a few hidden spikes near threshold flip and the flips compound (the
  float delay_net itself moves its readout by about 10 % when its weights get one 8-bit step of noise),
  so those numbers are reported, and the asserted oracle is layer by layer on the bias-free network
  (tests/loihi_oracles.py): each Loihi layer fed the float model's input to it must give >= 97 % of the
  float model's spikes, and a membrane readout ||dv|| <= 10 % of ||v|| over all steps and samples. As
  deployed, the predicted class (most spikes / largest mean membrane / largest sum, as ``deploy`` reads
  it) must agree on at least 2 of the 3 samples.
- crossbar: ideal devices (exact programming and reads, no drift, continuous levels) and a perfect
  periphery, but read through the programmed conductances in 16 x 16 tiles (the ``ideal`` profile alone
  would short-cut to ``F.linear``): outputs equal the float model's to float tolerance.
- a refusal is an ``ExportError``, or a ``ValueError`` whose message names a module of the model (or the
  graph's input/output); anything else is recorded as ``error: <type>: <message>`` and fails the test.
"""
from __future__ import annotations

import dataclasses
import re
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from export_networks import C, F, T, networks, nir_outcomes, reason, sample_input
from loihi_oracles import layer_by_layer, without_biases
from torch import nn

from snnkit import models
from snnkit.hardware import crossbar, loihi
from snnkit.ir import ExportError

TABLE = Path(__file__).resolve().parents[1] / "docs" / "generated" / "backends_table.md"
LOIHI_V_TOL, LOIHI_LAYER_AGREEMENT, LOIHI_MIN_CLASSES = 0.10, 0.97, 2
CROSSBAR_TOL = 1e-5  # relative to max(1, max |output|)
# Ideal devices read through the arrays: DeviceModel programs and reads exactly but is not flagged ideal.
IDEAL_ARRAYS = dataclasses.replace(crossbar.as_config("ideal"), device=crossbar.DeviceModel(g_max=25.0, g_min=0.0),
                                   tile_rows=16, tile_cols=16, name="ideal devices, 16x16 tiles")


def _short(text: str, limit: int = 200) -> str:
    """The first sentence of a message, cut at ``limit`` characters on a word boundary."""
    text = re.split(r"(?<=\w\w\.) (?=[A-Z])", text, maxsplit=1)[0]  # not at "e.g. x"
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"


def _names_a_module(message: str, model: nn.Module) -> bool:
    named = set(re.findall(r"'([^']+)'", message))
    named |= set(re.findall(r"graph node ([\w.]+)", message)) | set(re.findall(r"layer \d+ \(([\w.]+)\)", message))
    return bool(named & ({n for n, _ in model.named_modules() if n} | {"input", "output"}))


def _crash(err: Exception) -> tuple[str, None]:
    return f"error: {type(err).__name__}: {_short(reason(err))}", None


def _refusal(err: Exception, model: nn.Module) -> tuple[str, None]:
    """A documented refusal, or a crash when the error is of another type or does not say where."""
    if isinstance(err, ExportError) or (isinstance(err, ValueError) and _names_a_module(str(err), model)):
        return "refused: " + _short(reason(err)), None
    return _crash(err)


def _classes(out: np.ndarray, readout: str) -> np.ndarray:
    if readout == "sum":   # the running sum's last step: the sum over time, argmax as of the mean
        return out[-1].argmax(-1)
    return (out.sum(0) if readout == "spikes" else out.mean(0)).argmax(-1)


def _loihi_quantise(model: nn.Module, shape: tuple[int, ...], x: torch.Tensor) -> loihi.LoihiNetwork:
    binary = bool(((x == 0) | (x == 1)).all())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", loihi.LoihiQuantizationWarning)  # the numbers say what is lost
        return loihi.quantize_for_loihi(model, input_shape=shape, input_max=None if binary else float(x.abs().max()))


def _loihi_compare(model: nn.Module, net: loihi.LoihiNetwork, out: np.ndarray, x: torch.Tensor) -> dict:
    with torch.no_grad():
        ref = model(x).numpy().reshape(out.shape)
    if net.readout == "sum":   # a summing readout's membrane is the running sum of the model's output
        ref = ref.cumsum(0)
    assert np.abs(ref).sum() > 0, "the float model is silent on the sample: nothing to compare"
    if net.readout == "spikes":
        error = float((out == ref.astype(bool)).mean())
    else:
        error = float(np.linalg.norm(out - ref) / np.linalg.norm(ref))
    return {"readout": net.readout, "error": error, "classes": int((_classes(out, net.readout)
                                                                    == _classes(ref, net.readout)).sum())}


def loihi_outcome(name: str, model: nn.Module, shape: tuple[int, ...], analog: torch.Tensor | None
                  ) -> tuple[str, dict | None]:
    x = sample_input(name, shape, analog)
    measured = {}
    for case, m in (("deployed", model), ("no_bias", without_biases(model))):
        try:
            net = _loihi_quantise(m, shape, x)
        except Exception as err:  # noqa: BLE001 - every error is recorded; _refusal tells refusals from crashes
            return _refusal(err, model)
        try:
            res = net.run(x)
        except Exception as err:  # noqa: BLE001 - a quantised network that cannot run is a crash
            return _crash(err)
        measured[case] = _loihi_compare(m, net, res["spikes"] if net.readout == "spikes" else res["v"], x)
    try:   # the bias-free network, each layer fed the float model's spikes
        measured["layers"] = layer_by_layer(net, m, x)
    except Exception as err:  # noqa: BLE001 - an oracle that cannot run is a crash
        return _crash(err)
    deployed, no_bias = measured["deployed"], measured["no_bias"]
    agreement, readout_error = measured["layers"]
    layers = f"layer by layer: spikes {min(agreement):.1%} equal" if agreement else "layer by layer:"
    if readout_error is not None:
        layers += f"{',' if agreement else ''} readout \\|dv\\| / \\|v\\| = {readout_error:.2g}"
    if deployed["readout"] == "spikes":
        what = f"output spikes agree {deployed['error']:.1%} ({no_bias['error']:.1%} with biases 0; {layers})"
    else:
        what = (f"membrane error \\|dv\\| / \\|v\\| = {deployed['error']:.2g} ({no_bias['error']:.2g} with biases 0; "
                f"{layers})")
    return f"runs: {what}, classes agree {deployed['classes']}/{x.shape[1]}", measured


def _digital_weights(sim: nn.Module) -> list[str]:
    """Modules of the crossbar copy that still hold weight matrices in digital form."""
    mapped = {id(p) for _, layer in crossbar.crossbar_layers(sim) for p in layer.parameters()}
    return [f"{n} ({type(m).__name__})" for n, m in sim.named_modules()
            if any(p.dim() >= 2 and id(p) not in mapped for p in m.parameters(recurse=False))]


def crossbar_outcome(name: str, model: nn.Module, shape: tuple[int, ...], analog: torch.Tensor | None
                     ) -> tuple[str, dict | None]:
    x = sample_input(name, shape, analog)
    try:
        sim = crossbar.simulate(model, IDEAL_ARRAYS, seed=0)
    except Exception as err:  # noqa: BLE001 - every error is recorded; _refusal tells refusals from crashes
        return _refusal(err, model)
    with torch.no_grad():
        ref = model(x)
        try:
            out = sim(x)
        except Exception as err:  # noqa: BLE001 - a mapped model that cannot run is a crash
            return _crash(err)
    assert ref.abs().sum() > 0, "the float model is silent on the sample: nothing to compare"
    diff = float((out - ref).abs().max())
    scale = max(1.0, float(ref.abs().max()))
    layers, digital = len(crossbar.crossbar_layers(sim)), _digital_weights(sim)
    # the exact difference depends on the CPU's float rounding: the table says whether it is within tolerance
    close = "equal to float rounding" if diff <= CROSSBAR_TOL * scale else f"max \\|diff\\| {diff:.2g}"
    text = f"runs: {close}, {layers} layers on arrays"
    if digital:
        text += f"; digital: {', '.join(digital)}"
    return text, {"diff": diff, "scale": scale}


def measure() -> dict[str, dict[str, tuple[str, dict | None]]]:
    nir = nir_outcomes()
    rows = {}
    for name, net in networks().items():
        refused = nir[name].removeprefix("refused: ")
        rows[name] = {"NIR": ("identical" if nir[name] == "identical" else "refused: " + _short(refused), None),
                      "Loihi 2": loihi_outcome(name, *net), "crossbar": crossbar_outcome(name, *net)}
    return rows


def table(rows: dict[str, dict[str, tuple[str, dict | None]]]) -> str:
    backends = ["NIR", "Loihi 2", "crossbar"]
    lines = ["| network | " + " | ".join(backends) + " |", "|---" * (len(backends) + 1) + "|"]
    for name, cells in rows.items():
        lines.append(f"| {name} | " + " | ".join(cells[b][0] for b in backends) + " |")
    works = {b: sum(cells[b][0].startswith(("identical", "runs")) for cells in rows.values()) for b in backends}
    counts = ", ".join(f"{b} {n}" for b, n in works.items())
    head = ("# Every zoo model and converted example on every backend\n\n"
            "Generated by `tests/test_backends_table.py` (do not edit by hand); the networks and the NIR column "
            "are those of the [NIR export table](export_table.md), where refusals are quoted in full. Each cell "
            "is measured against the float model on the same 3 samples (eval mode), or quotes the backend's "
            "refusal (first sentence).\n\n"
            "- **NIR**: exported with `extensions=True` and read back: \"identical\" outputs to 1e-5.\n"
            "- **Loihi 2**: `quantize_for_loihi` then `LoihiNetwork.run` (the bit-exact simulator of Lava's "
            "fixed point; bit-exactness against the real Lava runtime is tested in `tests/test_loihi_*.py`). "
            "The readout error (membrane: \\|dv\\| / \\|v\\|, 2-norms over all steps and samples; spikes: fraction of "
            "output spikes equal) is "
            "given as deployed and with every bias set to 0 (BatchNorms' running means included; a network ending in a "
            "Linear with no neuron, as converted networks do, is read by a summing readout, compared with the running "
            "sum of the model's output): Lava adds one step of latency per layer and a "
            "bias integrates during it, so biased layers start ahead of the float model ([Loihi 2 semantics]"
            "(../loihi.md)). End to end, hidden spikes that flip near threshold compound; \"layer by layer\": the "
            "bias-free network with each Loihi layer fed the float model's input to it (the smallest fraction of "
            "spikes equal over the spiking layers, and the readout's error), which the test holds to >= 97 % and "
            "<= 0.1. "
            "\"classes agree\": the predicted class (most spikes, largest mean membrane, or largest sum) on the 3 samples.\n"
            "- **crossbar**: `crossbar.simulate` with ideal devices (exact programming and reads, no drift, "
            "continuous levels) and a perfect periphery, read through the programmed conductances in 16 x 16 "
            "tiles. \"equal to float rounding\": the largest output difference to the float model is at most "
            f"{CROSSBAR_TOL:g} x max(1, max \\|y\\|) (it is printed when the table is regenerated); \"digital\": "
            "weights held by modules that are not `nn.Linear`/`nn.Conv1d`/`nn.Conv2d`.\n\n"
            f"Networks that run (of {len(rows)}): {counts}.\n\n")
    return head + "\n".join(lines) + "\n"


@pytest.mark.slow
def test_backends_table_is_current_and_within_oracles():
    rows = measure()
    errors = [f"{name} on {b}: {cells[b][0]}" for name, cells in rows.items() for b in cells
              if cells[b][0].startswith("error")]
    assert not errors, "backends crashed instead of refusing:\n" + "\n".join(errors)
    for name, cells in rows.items():
        text, m = cells["Loihi 2"]
        if m is not None:
            agreement, readout_error = m["layers"]
            assert m["deployed"]["classes"] >= LOIHI_MIN_CLASSES, (name, text)
            assert min(agreement, default=1.0) >= LOIHI_LAYER_AGREEMENT, (name, text)
            assert readout_error is None or readout_error <= LOIHI_V_TOL, (name, text)
        text, m = cells["crossbar"]
        if m is not None:
            assert m["diff"] <= CROSSBAR_TOL * m["scale"], (name, text)
    # the backends' documented successes stay successes
    assert rows["zoo: mlp (reset='hard')"]["Loihi 2"][0].startswith("runs"), rows["zoo: mlp (reset='hard')"]
    assert rows["converted: cnn1d (max pool)"]["crossbar"][0].startswith("runs")
    text = table(rows)
    assert TABLE.exists() and TABLE.read_text() == text, (
        "docs/generated/backends_table.md is out of date; regenerate with "
        "PYTHONPATH=. .venv/bin/python tests/test_backends_table.py")


class _HalfLinear(nn.Linear):
    """A Linear whose forward uses other weights than it holds (as fake quantisation does)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.linear(x, 0.5 * self.weight, self.bias)


class _BufferLinear(nn.Linear):
    """A Linear that computes exactly ``x W^T + b`` in its own forward (as the LSM's fixed weights do)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight.T + self.bias


def test_crossbar_refusals_name_the_module():
    """Oracle: the float model. A subclass computing with other weights is refused (it would silently run
    with its raw weights); one computing the plain product maps, through the arrays, to float tolerance."""
    torch.manual_seed(0)
    with pytest.raises(ValueError, match=r"module '1\.1' \(_HalfLinear\)"):
        crossbar.simulate(nn.Sequential(nn.Linear(4, 6), nn.Sequential(nn.ReLU(), _HalfLinear(6, 2))), IDEAL_ARRAYS)
    with pytest.raises(ValueError, match=r"module '0' \(Conv2d\): groups=2"):
        crossbar.simulate(nn.Sequential(nn.Conv2d(2, 2, 3, groups=2)), IDEAL_ARRAYS)
    with pytest.raises(ValueError, match=r"weight matrices are in 'emb' \(Embedding\)"):
        crossbar.simulate(nn.ModuleDict({"emb": nn.Embedding(5, 3)}), IDEAL_ARRAYS)
    model = nn.Sequential(_BufferLinear(40, 6), nn.ReLU(), nn.Linear(6, 2))
    sim = crossbar.simulate(model, IDEAL_ARRAYS)
    x = torch.randn(5, 40)
    assert len(crossbar.crossbar_layers(sim)) == 2 and sim[0].array.n_arrays > 1  # 40 rows: three 16-row tiles
    torch.testing.assert_close(sim(x), model(x), rtol=1e-5, atol=1e-6)


def test_loihi_refuses_branches_of_different_sizes_naming_the_nodes():
    """Two synapses of different shapes reading the input (the LMU's encoder and input_to_hidden) were
    summed by numpy (a broadcast error); the quantiser now names the graph nodes."""
    model = models.create("lmu", spiking=True, in_features=F, num_classes=C, steps=T)
    with pytest.raises(ValueError, match=r"graph nodes \['layers\.0\.encoder', 'layers\.0\.input_to_hidden'\]"):
        loihi.quantize_for_loihi(model, input_shape=(F,))


if __name__ == "__main__":
    torch.set_num_threads(1)
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    measured = measure()
    TABLE.write_text(table(measured))
    sys.stdout.write(TABLE.read_text())
    for name, cells in measured.items():
        if cells["crossbar"][1] is not None:
            sys.stderr.write(f"crossbar, {name}: max |diff| {cells['crossbar'][1]['diff']:.2g}\n")
