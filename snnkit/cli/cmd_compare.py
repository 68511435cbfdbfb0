"""snnkit compare MODEL --data NAME: train a spiking model and its ANN twin on the same split and
print accuracy, parameters, operations and estimated energy side by side."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="train a spiking model and its ANN twin; compare accuracy and cost",
                              description=__doc__)
    p.add_argument("model", help="registered model name (see snnkit.models.names())")
    p.add_argument("--data", required=True, help="dataset name for snnkit.data.load (e.g. randman, mnist1d)")
    p.add_argument("--epochs", type=int, default=5, help="training epochs for each of the two models (default 5)")
    p.add_argument("--lr", type=float, default=5e-3, help="Adam learning rate for both models (default 5e-3)")
    p.add_argument("--batch-size", type=int, default=64, help="training batch size (default 64)")
    p.add_argument("--seed", type=int, default=0, help="seed of initialisation and data order (default 0)")
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="model config entry (JSON value), repeatable, e.g. --config hidden=64")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="option for snnkit.data.load (JSON value), repeatable, e.g. --data-option classes=4")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results to this JSON file")
    p.add_argument("--markdown", dest="markdown_path", default=None, help="also write the table as Markdown here")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (one line per epoch is still printed); bars are also off when stderr "
                        "is not a terminal")
    p.set_defaults(func=run)


def _pairs(items: list[str], what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"{what} {item!r} must look like KEY=VALUE")
        k, v = item.split("=", 1)
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
        if isinstance(out[k], list):
            out[k] = tuple(out[k])
    return out


def _cost_inputs(test_set: Any, count: int = 128) -> torch.Tensor:
    """The first ``count`` test inputs as ``[T, N, F]`` (operations are counted on real data)."""
    from ..data import collate_time_major
    x, _ = collate_time_major([test_set[i] for i in range(min(count, len(test_set)))])
    if x.dim() != 3:
        raise ValueError(f"the data gives inputs of shape {tuple(x.shape[:1] + x.shape[2:])} per sample; "
                         "compare needs flat features [T, F]")
    return x.float()


def compare(model_name: str, data_name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train every form of ``model_name`` on the same split of ``data_name``; one result row per form.

    The data, the model's size from the data and the training are those of ``snnkit train``
    (:mod:`snnkit.cli.cmd_train`, :class:`snnkit.training.Trainer`), so a compared model is the model a
    training config with the same options would give."""
    from .. import analysis, models
    from ..training import Trainer
    from ..models.build import build_model
    from .cmd_train import load_splits

    forms = models.forms(model_name)  # unknown names fail here, before any data is made
    splits = load_splits({"name": data_name, **_pairs(args.data_option, "--data-option")})
    train, valid, test = splits["train"], splits["valid"], splits["test"]
    x_cost = _cost_inputs(test)
    # --epochs 0 evaluates the untrained models (the trainer is built, fit is not called)
    trainer_cfg = {"epochs": max(args.epochs, 1), "lr": args.lr, "batch_size": min(args.batch_size, len(train)),
                   "loss": "ce_max_membrane", "seed": args.seed, "progress": not args.no_progress}
    rows = []
    for spiking in sorted(forms, reverse=True):
        torch.manual_seed(args.seed)
        model = build_model({"name": model_name, "spiking": spiking, **_pairs(args.config, "--config")}, train)
        trainer = Trainer(model, trainer_cfg)
        if args.epochs:
            trainer.fit(train, valid)
        twin = "" if spiking else getattr(model, "twin_note", "the ANN form of the same registered architecture "
                                                                 "(see the model's docstring)")
        if twin and not args.no_progress:
            print(_twin_line(model_name, twin, forms))
        cost = analysis.count_costs(model.eval(), x_cost, event_driven=spiking)
        rows.append({"model": model_name, "form": "spiking" if spiking else "ann",
                     "accuracy": trainer.evaluate(test)["accuracy"], "params": cost.params, "macs": cost.macs,
                     "acs": cost.acs, "energy_uj": cost.energy_uj, "spikes": cost.spikes, "data": data_name,
                     "epochs": args.epochs, "config": models.spec(model)["config"], "twin": twin})
    return rows


def _twin_line(model_name: str, note: str, forms: Any) -> str:
    """What the ANN row is: the twin of a spiking model, or (no spiking form) an ANN-only baseline."""
    if True in forms:
        return f"ANN twin of {model_name}: {note}"
    return f"{model_name}: {note}"   # the registry's note says it is an ANN-only baseline


COLUMNS = (("model", "{:<26}", "{:<26}"), ("form", "{:<8}", "{:<8}"), ("accuracy", "{:>8}", "{:>8.3f}"),
           ("params", "{:>8}", "{:>8d}"), ("MACs/sample", "{:>12}", "{:>12.4g}"), ("ACs/sample", "{:>12}", "{:>12.4g}"),
           ("spikes/sample", "{:>13}", "{:>13.4g}"), ("energy uJ", "{:>10}", "{:>10.4g}"))
_KEYS = ("model", "form", "accuracy", "params", "macs", "acs", "spikes", "energy_uj")


def format_table(rows: list[dict[str, Any]], markdown: bool = False) -> str:
    """The result rows as a fixed-width text table, or as a Markdown table (``markdown=True``)."""
    from ..analysis import E_AC_PJ, E_MAC_PJ
    cells = [[head.format(name) for name, head, _ in COLUMNS]]
    cells += [[fmt.format(r[k]) for (_, _, fmt), k in zip(COLUMNS, _KEYS)] for r in rows]
    note = (f"energy: MAC {E_MAC_PJ} pJ, AC {E_AC_PJ} pJ (Horowitz, ISSCC 2014, 45 nm, fp32); "
            "ANN costed as dense MACs, SNN from its measured spikes; per test sample")
    if markdown:
        lines = ["| " + " | ".join(c.strip() for c in row) + " |" for row in cells]
        lines.insert(1, "|" + "|".join("---" if i < 2 else "---:" for i in range(len(COLUMNS))) + "|")
        return "\n".join(lines + ["", note])
    lines = [" ".join(row) for row in cells]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines + [note])


def run(args: argparse.Namespace) -> int:
    if args.epochs < 0:
        raise ValueError(f"--epochs={args.epochs} must be >= 0")
    if args.threads is not None:
        if args.threads < 1:
            raise ValueError(f"--threads={args.threads} must be >= 1")
        torch.set_num_threads(args.threads)
    rows = compare(args.model, args.data, args)
    print(format_table(rows))
    for r in rows:
        if r["twin"]:
            print(_twin_line(r["model"], r["twin"], {row["form"] == "spiking" for row in rows}))
    if args.json_path:
        from .cmd_train import write_json
        write_json(Path(args.json_path), rows)
    if args.markdown_path:
        from .._atomic import atomic_path
        with atomic_path(args.markdown_path) as tmp:
            tmp.write_text(format_table(rows, markdown=True) + "\n")
    return 0
