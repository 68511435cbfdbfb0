"""The main job: ``snnkit demo`` trains a small SNN and its ANN twin on Randman (generated offline from
a fixed seed: nothing to download), prints both test accuracies, and writes ``raster.png``,
``learning_curve.png`` and the SNN checkpoint (``last.pt``, rebuildable with ``snnkit evaluate``).

:func:`run_demo` returns everything it made, so later steps (NIR export, Loihi, crossbar) can be
appended by calling it and using ``result["model"]`` and ``result["test_data"]``.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch

DEMO_DATA: dict[str, Any] = {"name": "randman", "classes": 10, "channels": 100, "steps": 50,
                             "samples_per_class": 200, "eval_samples_per_class": 60, "seed": 7}


def run_demo(out_dir: str | Path = "runs/demo", epochs: int = 6, seed: int = 0, hidden: int = 128,
             progress: bool = True, data_options: dict[str, Any] | None = None,
             verbose: bool = True, reset: str = "hard") -> dict[str, Any]:
    """Train the demo SNN and its ANN twin; write plots and a checkpoint into ``out_dir``.

    Returns ``{"model", "ann", "train_data", "test_data", "results", "paths", "history"}`` where
    ``results`` has ``snn_accuracy``, ``ann_accuracy``, ``snn_parameters``, ``ann_parameters``,
    ``firing_rates`` and ``seconds``. ``reset`` is the SNN's LIF reset; the default ``"hard"`` (to 0)
    is what NIR and Loihi 2 express, so the trained network can be deployed as it is.
    """
    from .. import data, models
    from ..analysis import SpikeRecorder, plot_raster
    from ..training import Trainer, TrainerConfig, seed_everything
    from .cmd_train import DATA_KEYS, write_json

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be an integer >= 1")
    start = time.perf_counter()
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data_cfg = {**DEMO_DATA, **(data_options or {})}
    options = {k: v for k, v in data_cfg.items() if k not in DATA_KEYS}
    train_set = data.load(data_cfg["name"], "train", **options)
    valid_set = data.load(data_cfg["name"], "valid", **options)
    test_set = data.load(data_cfg["name"], "test", **options)
    x0, _ = train_set[0]
    shape = {"in_features": int(x0.shape[-1]), "num_classes": int(train_set.num_classes), "hidden": hidden,
             "steps": int(x0.shape[0])}
    trainer_cfg = {"epochs": epochs, "batch_size": 64, "lr": 2e-3, "schedule": "cosine", "loss": "ce_max_membrane",
                   "grad_clip": 5.0, "seed": seed, "progress": progress}

    say = print if verbose else (lambda *a, **k: None)
    say(f"snnkit demo: Randman {shape['num_classes']} classes, {shape['in_features']} channels, "
        f"{shape['steps']} steps, {len(train_set)} train / {len(test_set)} test samples (generated offline)")
    results: dict[str, Any] = {}
    trained: dict[str, Any] = {}
    for kind, spiking, folder in (("snn", True, out), ("ann", False, out / "ann")):
        seed_everything(seed)
        model = models.create("mlp", spiking=spiking, **shape, **({"reset": reset} if spiking else {}))
        say(f"training the {'SNN (LIF hidden layer, LI readout)' if spiking else 'ANN twin'}: "
            f"{sum(p.numel() for p in model.parameters())} parameters")
        if not spiking:
            results["ann_twin"] = model.twin_note
            say(f"  ANN twin: {model.twin_note}; it is the same network as the SNN with spikes replaced by "
                "real-valued rates, so the gap between the two is the cost (or gain) of spiking itself")
        trainer = Trainer(model, TrainerConfig(**trainer_cfg), out_dir=folder, extra={"data": data_cfg})
        trainer.fit(train_set, valid_set)
        ev = trainer.evaluate(test_set)
        trained[kind] = (model, trainer)
        results[f"{kind}_accuracy"] = ev["accuracy"]
        results[f"{kind}_parameters"] = sum(p.numel() for p in model.parameters())
        if spiking:
            results["firing_rates"] = ev["rates"]
    snn, snn_trainer = trained["snn"]
    ann, ann_trainer = trained["ann"]

    xb, _ = data.collate_time_major([test_set[i] for i in range(8)])
    with torch.no_grad(), SpikeRecorder(snn) as rec:
        snn.eval()
        snn(xb)
    layer = next(iter(rec.spikes))
    raster = plot_raster(rec.spikes[layer][0], out / "raster.png", sample=0,
                         title=f"SNN hidden layer '{layer}', test sample 0")
    curve = plot_learning_curves({"SNN": snn_trainer.history, "ANN twin": ann_trainer.history},
                                 out / "learning_curve.png")
    results["seconds"] = time.perf_counter() - start
    paths = {"raster": raster, "learning_curve": curve, "checkpoint": out / "last.pt",
             "ann_checkpoint": out / "ann" / "last.pt", "results": out / "results.json"}
    write_json(paths["results"], {"results": results, "data": data_cfg, "trainer": trainer_cfg,
                                  "history": {"snn": snn_trainer.history, "ann": ann_trainer.history}})
    say("")
    say(f"  {'model':<10} {'parameters':>10} {'test accuracy':>14}")
    say(f"  {'SNN':<10} {results['snn_parameters']:>10} {results['snn_accuracy']:>14.3f}")
    say(f"  {'ANN twin':<10} {results['ann_parameters']:>10} {results['ann_accuracy']:>14.3f}")
    say(f"  ANN twin: {results['ann_twin']}")
    say(f"  chance: {1 / shape['num_classes']:.3f}; SNN firing rates: "
        + ", ".join(f"{k} {v:.3f}" for k, v in results["firing_rates"].items()))
    say(f"wrote {raster}, {curve}, {paths['checkpoint']} in {results['seconds']:.1f} s")
    return {"model": snn, "ann": ann, "train_data": train_set, "test_data": test_set, "results": results,
            "paths": paths, "history": {"snn": snn_trainer.history, "ann": ann_trainer.history},
            "trainer": snn_trainer}


def plot_learning_curves(histories: dict[str, list[dict[str, Any]]], path: str | Path) -> Path:
    """Loss and accuracy per epoch (train solid, validation dashed) for each named history."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    from ..analysis import save_figure
    fig = Figure(figsize=(9, 3.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    for i, (name, hist) in enumerate(histories.items()):
        ep = [h["epoch"] for h in hist]
        color = f"C{i}"
        ax_loss.plot(ep, [h["train_loss"] for h in hist], color=color, marker="o", ms=3, label=f"{name} train")
        ax_acc.plot(ep, [h["train_accuracy"] for h in hist], color=color, marker="o", ms=3, label=f"{name} train")
        if hist and "val_loss" in hist[0]:
            ax_loss.plot(ep, [h["val_loss"] for h in hist], color=color, ls="--", marker="o", ms=3, label=f"{name} valid")
            ax_acc.plot(ep, [h["val_accuracy"] for h in hist], color=color, ls="--", marker="o", ms=3, label=f"{name} valid")
    ax_loss.set(xlabel="epoch", ylabel="loss", title="loss")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    ax_acc.legend(fontsize=8)
    return save_figure(fig, path)
