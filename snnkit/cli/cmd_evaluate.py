"""``snnkit evaluate CHECKPOINT [--split test]``: rebuild the model stored in a checkpoint and measure
it on the dataset it was trained on (from the data config saved beside it)."""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="accuracy and loss of a trained checkpoint")
    p.add_argument("checkpoint", help="a .pt file written by snnkit train / snnkit demo")
    p.add_argument("--split", default="test", help="data split to evaluate (train, valid, test)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    add_data_flags(p)
    p.set_defaults(func=run)


def add_data_flags(p: argparse.ArgumentParser) -> None:
    """Where the data lives and whether it may be downloaded or cached: the user's choice, never the file's."""
    p.add_argument("--data-root", default=None, metavar="DIR",
                   help="dataset folder (default $SNNKIT_DATA or ~/.cache/snnkit/data); a checkpoint's own "
                        "'root' is ignored")
    p.add_argument("--download", action="store_true", help="allow downloading a missing recorded dataset")
    p.add_argument("--cache", action="store_true", help="cache binned event data under the data root")


def checkpoint_data(path: Path, ckpt: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    from .cmd_train import data_from_checkpoint
    return data_from_checkpoint(path, ckpt, args.data_root, args.download, args.cache)


def run(args: argparse.Namespace) -> int:
    from .. import data
    from ..models.build import model_from_checkpoint
    from ..training import Trainer, TrainerConfig, load_checkpoint
    from ..errors import InvalidFileError
    from ..training.checkpoint import require
    from .cmd_train import DATA_KEYS
    path = Path(args.checkpoint)
    ckpt = load_checkpoint(path)
    epoch = require(path, ckpt, "position.epoch", int)
    model = model_from_checkpoint(ckpt, path)
    data_cfg = checkpoint_data(path, ckpt, args)
    tcfg = dict(require(path, ckpt, "trainer.config", dict))
    tcfg.update(progress=False, device="cpu")
    try:
        trainer = Trainer(model, TrainerConfig.from_dict(tcfg))
    except (TypeError, ValueError) as err:
        raise InvalidFileError(path, "trainer.config", tcfg, str(err)) from err
    options = {k: v for k, v in data_cfg.items() if k not in DATA_KEYS}
    split = data_cfg.get(f"{args.split}_split", args.split) or args.split
    ds = data.load(data_cfg["name"], split, root=data_cfg["root"], **options)
    res = trainer.evaluate(ds)
    res.update(checkpoint=str(path), split=split, model=ckpt["model"]["name"], epoch=epoch)
    if args.json:
        print(json.dumps(res))
    else:
        print(f"{path}: model {res['model']} (epoch {res['epoch']}) on {data_cfg['name']}/{split}: "
              f"accuracy {res['accuracy']:.4f}, loss {res['loss']:.4f}, {res['count']} samples")
        for layer, rate in res["rates"].items():
            print(f"  firing rate {layer}: {rate:.4f} spikes/neuron/step")
    return 0

