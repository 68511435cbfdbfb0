"""``snnkit evaluate CHECKPOINT [--split test]``: rebuild the model stored in a checkpoint and measure
it on the dataset it was trained on (from the data config saved beside it)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import torch


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy and loss of a trained checkpoint")
    p.add_argument("checkpoint", help="a .pt file written by snnkit train / snnkit demo")
    p.add_argument("--split", default="test", help="data split to evaluate (train, valid, test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=run)


def model_from_checkpoint(ckpt: dict[str, Any]) -> torch.nn.Module:
    """Rebuild ``snnkit.models.create(name, spiking, **config)`` and load the stored weights."""
    from .. import models
    info = ckpt.get("model") or {}
    if not info.get("name"):
        raise ValueError("checkpoint holds no model name (the model was not built by snnkit.models.create); "
                         "rebuild it yourself and load ckpt['model']['state_dict']")
    spiking = True if info.get("spiking") is None else bool(info["spiking"])
    model = models.create(info["name"], spiking=spiking, **dict(info.get("config") or {}))
    model.load_state_dict(info["state_dict"])
    return model


def run(args: argparse.Namespace) -> int:
    from .. import data
    from ..training import Trainer, TrainerConfig, load_checkpoint
    path = Path(args.checkpoint)
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt)
    data_cfg = ckpt.get("data")
    if not data_cfg:
        raise ValueError(f"checkpoint {str(path)!r} does not say which data it was trained on (no 'data' entry)")
    tcfg = dict(ckpt["trainer"]["config"])
    tcfg.update(progress=False, device="cpu")
    trainer = Trainer(model, TrainerConfig.from_dict(tcfg))
    from .cmd_train import DATA_KEYS
    options = {k: v for k, v in data_cfg.items() if k not in DATA_KEYS}
    split = data_cfg.get(f"{args.split}_split", args.split) or args.split
    ds = data.load(data_cfg["name"], split, root=data_cfg.get("root"), **options)
    res = trainer.evaluate(ds)
    res.update(checkpoint=str(path), split=split, model=ckpt["model"]["name"], epoch=ckpt["position"]["epoch"])
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{path}: model {res['model']} (epoch {res['epoch']}) on {data_cfg['name']}/{split}: "
              f"accuracy {res['accuracy']:.4f}, loss {res['loss']:.4f}, {res['count']} samples")
        for layer, rate in res["rates"].items():
            print(f"  firing rate {layer}: {rate:.4f} spikes/neuron/step")
    return 0

