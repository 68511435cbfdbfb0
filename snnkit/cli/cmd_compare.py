"""``snnkit compare MODEL --data NAME``: train a spiking model and its ANN twin on the same split and
print accuracy, parameters, operations and estimated energy side by side."""
from __future__ import annotations

import argparse
import json
import os
import tempfile
from pathlib import Path
from typing import Any

import torch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("compare", help="train a spiking model and its ANN twin; compare accuracy and cost",
                              description=__doc__)
    p.add_argument("model", help="registered model name (see snnkit.models.names())")
    p.add_argument("--data", required=True, help="dataset name for snnkit.data.load (e.g. randman, mnist1d)")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--lr", type=float, default=5e-3)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--config", action="append", default=[], metavar="KEY=VALUE",
                   help="model config entry (JSON value), repeatable, e.g. --config hidden=64")
    p.add_argument("--data-option", action="append", default=[], metavar="KEY=VALUE",
                   help="option for snnkit.data.load (JSON value), repeatable, e.g. --data-option classes=4")
    p.add_argument("--json", dest="json_path", default=None, help="also write the results to this JSON file")
    p.add_argument("--no-progress", action="store_true")
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


def _dense(ds: Any) -> tuple[torch.Tensor, torch.Tensor]:
    if hasattr(ds, "dense"):
        x, y = ds.dense()
        return x.float(), y.long()
    xs = [ds[i] for i in range(len(ds))]
    return torch.stack([x for x, _ in xs], 1).float(), torch.tensor([int(y) for _, y in xs])


def _train(model: torch.nn.Module, train: tuple, valid: tuple, args: argparse.Namespace) -> None:
    try:
        from ..training import Trainer
    except ImportError:  # the local loop, for builds without snnkit.training
        Trainer = None
    if Trainer is not None:
        cfg = {"epochs": args.epochs, "lr": args.lr, "batch_size": args.batch_size, "loss": "ce_max_membrane",
               "seed": args.seed, "progress": not args.no_progress}
        Trainer(model, cfg).fit(train, valid)
        return
    x, y = train
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    g = torch.Generator().manual_seed(args.seed)
    for _ in range(args.epochs):
        model.train()
        perm = torch.randperm(y.shape[0], generator=g)
        for i in range(0, len(perm), args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = torch.nn.functional.cross_entropy(model(x[:, idx]).max(0).values, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()


@torch.no_grad()
def _accuracy(model: torch.nn.Module, data: tuple, batch: int = 256) -> float:
    model.eval()
    x, y = data
    correct = 0
    for i in range(0, y.shape[0], batch):
        correct += int((model(x[:, i:i + batch]).max(0).values.argmax(-1) == y[i:i + batch]).sum())
    return correct / max(int(y.shape[0]), 1)


def compare(model_name: str, data_name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    from .. import analysis, data, models

    data_opts = _pairs(args.data_option, "--data-option")
    train, valid, test = (_dense(data.load(data_name, split, **data_opts)) for split in ("train", "valid", "test"))
    steps, features = train[0].shape[0], int(torch.tensor(train[0].shape[2:]).prod())
    if train[0].dim() != 3:
        raise ValueError(f"--data {data_name} gives inputs of shape {tuple(train[0].shape)}; compare needs [T, N, F]")
    classes = int(max(int(train[1].max()), int(test[1].max())) + 1)
    config = {"in_features": features, "num_classes": classes, "steps": steps, **_pairs(args.config, "--config")}
    rows = []
    for spiking in sorted(models.forms(model_name), reverse=True):
        torch.manual_seed(args.seed)
        model = models.create(model_name, spiking=spiking, **config)
        _train(model, train, valid, args)
        cost = analysis.count_costs(model, test[0][:, :128], event_driven=spiking)
        rows.append({"model": model_name, "form": "spiking" if spiking else "ann", "accuracy": _accuracy(model, test),
                     "params": cost.params, "macs": cost.macs, "acs": cost.acs, "energy_uj": cost.energy_uj,
                     "spikes": cost.spikes, "data": data_name, "epochs": args.epochs, "config": config})
    return rows


def format_table(rows: list[dict[str, Any]]) -> str:
    head = f"{'model':<26} {'form':<8} {'accuracy':>8} {'params':>8} {'MACs/sample':>12} {'ACs/sample':>12} {'energy uJ':>10}"
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['model']:<26} {r['form']:<8} {r['accuracy']:>8.3f} {r['params']:>8d} {r['macs']:>12.3g} "
                     f"{r['acs']:>12.3g} {r['energy_uj']:>10.3g}")
    lines.append("energy: MAC 4.6 pJ, AC 0.9 pJ (Horowitz ISSCC 2014, 45 nm, fp32); ANN costed dense, SNN from spikes")
    return "\n".join(lines)


def _write_json(path: str, rows: list[dict[str, Any]]) -> None:
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    with os.fdopen(fd, "w") as f:
        json.dump(rows, f, indent=1, default=str)
    os.replace(tmp, target)


def run(args: argparse.Namespace) -> int:
    if args.epochs < 0:
        raise ValueError(f"--epochs={args.epochs} must be >= 0")
    rows = compare(args.model, args.data, args)
    print(format_table(rows))
    if args.json_path:
        _write_json(args.json_path, rows)
    return 0
