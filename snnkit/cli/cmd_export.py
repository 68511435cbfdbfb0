"""``snnkit export CHECKPOINT --to nir|loihi|crossbar [--out DIR]``: deploy a trained checkpoint and
report its accuracy on the backend, measured on the checkpoint's own test split."""
from __future__ import annotations

import argparse
import json
from pathlib import Path

from .cmd_evaluate import add_data_flags, checkpoint_data
from .deploy import TARGETS, run_steps


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="export a checkpoint to NIR, Loihi 2 (netx) or a PCM crossbar")
    p.add_argument("checkpoint", help="a .pt file written by snnkit train / snnkit demo")
    p.add_argument("--to", required=True, action="append", choices=TARGETS,
                   help="backend (repeat for several)")
    p.add_argument("--nir-target", default=None, choices=("snntorch", "norse", "spikingjelly"),
                   help="with --to nir: write the file for this peer's NIR importer (same spikes as snnkit, or "
                        "an error saying what it cannot run); default: for snnkit, keeping snnkit-only "
                        "features such as soft reset as node metadata")
    p.add_argument("--out", default=None, help="output folder (default: beside the checkpoint)")
    p.add_argument("--split", default="test", help="data split used to measure accuracy")
    p.add_argument("--max-samples", type=int, default=512, help="at most this many samples are run")
    p.add_argument("--json", action="store_true", help="print the results as one JSON object")
    add_data_flags(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .. import data
    from ..training import load_checkpoint, predict
    from ..models.build import model_from_checkpoint
    from .cmd_train import DATA_KEYS

    path = Path(args.checkpoint)
    ckpt = load_checkpoint(path)
    model = model_from_checkpoint(ckpt, path).eval()
    data_cfg = checkpoint_data(path, ckpt, args)
    options = {k: v for k, v in data_cfg.items() if k not in DATA_KEYS}
    ds = data.load(data_cfg["name"], args.split, root=data_cfg["root"], **options)
    n = min(len(ds), args.max_samples)
    x, y = data.collate_time_major([ds[i] for i in range(n)])
    from ..training.checkpoint import require
    from ..training.losses import LOSSES
    loss = require(path, ckpt, "trainer.config", dict).get("loss", "ce_max_membrane")
    if loss not in LOSSES:
        from ..errors import InvalidFileError
        raise InvalidFileError(path, "trainer.config.loss", loss, f"one of {list(LOSSES)}")
    out_dir = Path(args.out) if args.out else path.parent / "export"
    say = (lambda *a, **k: None) if args.json else print
    results = run_steps(model, x, y, out_dir, lambda out: predict(out, loss), tuple(args.to), say,
                        membrane_decode="mean" if loss == "ce_mean_membrane" else "max", nir_target=args.nir_target)
    if args.json:
        for r in results.values():
            r.pop("markdown", None)
        print(json.dumps(results, default=str))
    return 0
