"""Deployment steps shared by ``snnkit export`` and ``snnkit demo``: NIR (with a round-trip check),
Loihi 2 (fixed-point simulation bit-exact with Lava, netx file) and a PCM crossbar (accuracy over time
after programming). Each step takes a trained model and test data ``x [T, B, N]``, ``y [B]`` and
returns a small dict of results."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

TARGETS = ("nir", "loihi", "crossbar")


def nir_step(model: nn.Module, x: Tensor, y: Tensor, out: Path, predict: Callable[[Tensor], Tensor],
             target: str | None = None) -> dict[str, Any]:
    """Write ``out`` as NIR, read it back with snnkit and check the re-imported model's outputs.

    ``target=None`` writes for snnkit (dt 1 ms; snnkit-only features such as soft reset are kept as
    node metadata that other tools ignore: the ``extensions`` entry of the result lists them);
    ``"snntorch"``, ``"norse"`` or ``"spikingjelly"`` writes a file that this peer runs with the same
    spikes, or raises naming what it cannot run."""
    from .. import ir

    graph = ir.export_nir(model, str(out), extensions=target is None, target=target)
    extensions = ir.graph.extensions_used(graph)
    model.eval()
    with torch.no_grad():
        a = model(x)
        if target is None:   # read back by snnkit
            b = ir.import_nir(str(out))(x)
        else:                # run by the peer it was written for, loaded as that peer's users load it
            from ..ir.peer_run import run_in_peer
            b = run_in_peer(out, target, x)
    return {"path": str(out), "nodes": len(graph.nodes), "target": target or "snnkit", "extensions": extensions,
            "round_trip_max_abs_diff": float((a - b).abs().max()), "accuracy": float((predict(b) == y).float().mean())}


def loihi_step(model: nn.Module, x: Tensor, y: Tensor, out: Path, membrane_decode: str = "max") -> dict[str, Any]:
    """Quantise for Loihi 2, run the fixed-point simulator, write the lava-dl netx file ``out``."""
    from ..hardware import loihi

    res = loihi.deploy(model, x, y, netx_path=str(out), membrane_decode=membrane_decode)
    return {"path": res["netx"], "accuracy": res["accuracy"], "float_accuracy": res["float_accuracy"],
            "accuracy_drop": res["accuracy_drop"], "graded_input_max": res["input_max"]}


def crossbar_step(model: nn.Module, x: Tensor, y: Tensor, out: Path, predict: Callable[[Tensor], Tensor],
                  profile: str = "pcm", progress: bool = False) -> dict[str, Any]:
    """Program the model onto simulated PCM crossbars; accuracy at 1 s, 1 hour, 1 day, 1 year after
    programming, with and without global drift compensation (table and PNG plot)."""
    from ..hardware import crossbar

    table = crossbar.drift_study(model, x, y, profile=profile, predict=predict, plot_path=str(out),
                                 label="SNN", progress=progress)
    return {"path": str(out), "table": table, "markdown": crossbar.drift_table_markdown([table])}


def run_steps(model: nn.Module, x: Tensor, y: Tensor, out_dir: Path, predict: Callable[[Tensor], Tensor],
              targets: tuple[str, ...] = TARGETS, say: Callable[..., None] = print,
              membrane_decode: str = "max", nir_target: str | None = None) -> dict[str, Any]:
    """Run the chosen deployment steps and print one line (or table) per step. ``membrane_decode``
    tells the Loihi step how the readout membrane is read (``"max"`` or ``"mean"`` over time);
    ``nir_target`` is the NIR reader the file is written for (see :func:`nir_step`)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {}
    if "nir" in targets:
        r = results["nir"] = nir_step(model, x, y, out_dir / "model.nir", predict, nir_target)
        reader = "snnkit's import_nir" if r["target"] == "snnkit" else f"{r['target']}'s own NIR importer"
        say(f"NIR (for {r['target']}): wrote {r['path']} ({r['nodes']} nodes); run by {reader}: accuracy "
            f"{r['accuracy']:.3f}, max |output difference| {r['round_trip_max_abs_diff']:.2e}")
        if r["extensions"]:
            say(f"  uses snnkit extensions {r['extensions']}: other tools would read it differently; "
                "--nir-target snntorch|norse|spikingjelly writes (or refuses) a file for that peer")
    if "loihi" in targets:
        r = results["loihi"] = loihi_step(model, x, y, out_dir / "network.net", membrane_decode)
        say(f"Loihi 2 (fixed point, bit-exact with Lava's models): accuracy {r['accuracy']:.3f} "
            f"(float {r['float_accuracy']:.3f}, drop {r['accuracy_drop']:+.3f}); netx file {r['path']}")
        if r["graded_input_max"] is not None:
            say(f"  real-valued input sent as 8-bit graded spikes (|x| <= {r['graded_input_max']:.3g}); load the "
                "netx file with lava-dl's Network(..., input_message_bits=8)")
    if "crossbar" in targets:
        r = results["crossbar"] = crossbar_step(model, x, y, out_dir / "crossbar_drift.png", predict)
        say("PCM crossbar, accuracy after programming:\n" + r["markdown"])
        say(f"drift plot: {r['path']}")
    return results
