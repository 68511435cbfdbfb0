"""snnkit train CONFIG.toml [--nproc N] [--out DIR] [--resume]: train from a TOML config.

The config has three tables:

    [model]                 # snnkit.models.create(name, spiking, **rest)
    name = "mlp"
    hidden = 128            # in_features / num_classes / steps default to the data's
    [data]                  # snnkit.data.load(name, split, **rest)
    name = "randman"
    samples_per_class = 100
    [trainer]               # snnkit.training.TrainerConfig fields
    epochs = 5
    loss = "ce_max_membrane"

The output folder gets last.pt / best.pt checkpoints (the model name and config inside, so
snnkit evaluate can rebuild it), history.json, config.toml (a copy of CONFIG) and learning_curve.png.
Ctrl-C finishes the current step, saves last.pt and says where it is; --resume continues from it.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Mapping

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

SECTIONS = ("model", "data", "trainer")
DATA_KEYS = ("name", "root", "train_split", "valid_split", "test_split")
# Where data lives, whether it is downloaded and cached: the caller's choice only (command line or
# Python argument), never a checkpoint's (a file must not choose paths, downloads or caches).
CALLER_ONLY_DATA_KEYS = ("root", "download", "cache")
MAX_DATA_INT = 1_000_000  # cap on every integer option in [data] (sample counts, sizes)
MAX_CONFIG_BYTES = 1 << 20


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("train", help="train a model from a TOML config (model, data, trainer)",
                              description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("config", help="TOML file with [model], [data] and [trainer] tables")
    p.add_argument("--nproc", type=int, default=1, help="data-parallel processes on this machine (DDP, gloo on CPU)")
    p.add_argument("--out", default=None, help="output folder (default runs/<config name>)")
    p.add_argument("--resume", action="store_true", help="continue from OUT/last.pt when it exists")
    p.add_argument("--allow-config-change", action="store_true",
                   help="with --resume: apply a changed [trainer] config from here on and record the change "
                        "(default: refuse to resume when the config differs from the checkpoint's)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress bars (one line per epoch is still printed); bars are also off when "
                        "stderr is not a terminal")
    p.set_defaults(func=run)


def load_config(path: str | os.PathLike) -> dict[str, Any]:
    """Read and check a training config; errors name the key and what is allowed."""
    from ..errors import InvalidFileError, SizeLimitError
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"config file {str(path)!r} does not exist")
    size = path.stat().st_size
    if size > MAX_CONFIG_BYTES:
        raise SizeLimitError(path, "size", f"{size} bytes", f"at most {MAX_CONFIG_BYTES} bytes of TOML")
    try:
        cfg = tomllib.loads(path.read_bytes().decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise InvalidFileError(f"config {str(path)!r} is not valid TOML: {err}") from err
    try:
        return check_config(cfg)
    except (ValueError, TypeError) as err:
        raise InvalidFileError(f"config {str(path)!r}: {err}") from err


def check_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    from .. import data
    from ..models.build import MAX_MODEL_INT, POSITIVE_MODEL_KEYS, check_model_name, check_plain_values
    from ..training import TrainerConfig
    for key in cfg:
        if key not in SECTIONS:
            raise ValueError(f"config table [{key}] is not known; allowed tables: {list(SECTIONS)}")
    for section in SECTIONS:
        if not isinstance(cfg.get(section, {}), Mapping):
            raise ValueError(f"config key {section!r} must be a table [{section}]")
    model, dat = dict(cfg.get("model", {})), dict(cfg.get("data", {}))
    check_model_name(model)
    if "name" not in dat:
        raise ValueError(f"data.name is missing; allowed: {data.available()}")
    if str(dat["name"]).lower().replace("-", "_") not in data.available():
        raise ValueError(f"data.name={dat['name']!r} is not allowed; allowed: {data.available()}")
    for key in ("train_split", "valid_split", "test_split"):
        if key in dat and dat[key] not in (*data.SPLITS, None, ""):
            raise ValueError(f"data.{key}={dat[key]!r} is not allowed; allowed: {list(data.SPLITS)}")
    check_plain_values("model", model, MAX_MODEL_INT, POSITIVE_MODEL_KEYS)
    check_plain_values("data", dat, MAX_DATA_INT)
    trainer = TrainerConfig.from_dict(cfg.get("trainer", {}))
    return {"model": model, "data": dat, "trainer": trainer}


def data_from_checkpoint(path: str | os.PathLike, ckpt: Mapping[str, Any], root: str | None = None,
                         download: bool = False, cache: bool = False) -> dict[str, Any]:
    """The ``[data]`` table a checkpoint was trained on, checked like a config, with ``root``,
    ``download`` and ``cache`` replaced by the CALLER's values (what the file says about them is ignored)."""
    from ..errors import InvalidFileError

    table = ckpt.get("data")
    if not isinstance(table, Mapping) or not table:
        raise InvalidFileError(path, "data", table, "the [data] table snnkit train stores (a dict with 'name')")
    table = {k: v for k, v in table.items() if k not in CALLER_ONLY_DATA_KEYS}
    try:
        checked = check_config({"model": {"name": "mlp"}, "data": table})["data"]
    except ValueError as err:
        raise InvalidFileError(path, "data", table, str(err)) from err
    checked.update(root=root)
    if download:
        checked["download"] = True
    if cache:
        checked["cache"] = True
    return checked


def load_splits(data_cfg: Mapping[str, Any]) -> dict[str, Any]:
    """``{"train", "valid", "test"}`` datasets (``None`` where the split is switched off)."""
    from .. import data
    options = {k: v for k, v in data_cfg.items() if k not in DATA_KEYS}
    out = {}
    for split in ("train", "valid", "test"):
        name = data_cfg.get(f"{split}_split", split)
        out[split] = data.load(data_cfg["name"], name, root=data_cfg.get("root"), **options) if name else None
    return out


def write_json(path: Path, obj: Any) -> None:
    """Atomic JSON write (temp file in the same folder + ``os.replace``; umask permissions)."""
    from .._atomic import atomic_path
    with atomic_path(path) as tmp, open(tmp, "w") as f:
        json.dump(obj, f, indent=2, default=str)


def _has_learned_delays(model: Any) -> bool:
    from ..synapses import DelayedLinear
    return any(isinstance(m, DelayedLinear) and m.mode == "learned" for m in model.modules())


def run(args: argparse.Namespace) -> int:
    if args.nproc < 1:
        raise ValueError(f"--nproc={args.nproc} must be >= 1")
    out = Path(args.out) if args.out else Path("runs") / Path(args.config).stem
    if args.nproc > 1 and int(os.environ.get("WORLD_SIZE", "1")) == 1:
        load_config(args.config)  # fail here, once, rather than in every worker
        from ..training import launch
        argv = ["train", str(args.config), "--out", str(out)] + (["--resume"] if args.resume else []) \
            + (["--allow-config-change"] if args.allow_config_change else []) \
            + (["--no-progress"] if args.no_progress else [])
        try:
            return launch(args.nproc, argv)
        except KeyboardInterrupt:
            last = out / "last.pt"
            raise KeyboardInterrupt("interrupted; " + (f"last checkpoint: {last} (continue with: snnkit train "
                                    f"{args.config} --out {out} --nproc {args.nproc} --resume)" if last.is_file()
                                    else "no checkpoint was written yet")) from None
    import torch

    from ..training import Trainer, seed_everything
    cfg = load_config(args.config)
    bars = not args.no_progress and sys.stderr.isatty()
    cfg["trainer"].progress = bars
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        torch.set_num_threads(1)  # one core per worker
    splits = load_splits(cfg["data"])
    seed_everything(cfg["trainer"].seed)
    from ..models.build import build_model
    model = build_model(cfg["model"], splits["train"])
    trainer = Trainer(model, cfg["trainer"], out_dir=out, extra={"data": cfg["data"]},
                      callbacks=[] if bars else [_print_epoch])
    learned_delays = _has_learned_delays(model)
    if learned_delays:  # the DCLS recipe: own lr for delays, clamping, sigma schedule (REFERENCE section 4)
        from ..synapses import DCLSRecipe
        recipe = DCLSRecipe(model, cfg["trainer"].epochs)
        recipe.attach(trainer)
        trainer.callbacks.append(recipe)
    if trainer.rank == 0:
        from .._atomic import atomic_path
        with atomic_path(out / "config.toml") as tmp:
            tmp.write_bytes(Path(args.config).read_bytes())
    try:
        trainer.fit(splits["train"], splits["valid"], resume=True if args.resume else None,
                    allow_config_change=args.allow_config_change)
    except KeyboardInterrupt:
        where = trainer.last_checkpoint
        raise KeyboardInterrupt(
            f"interrupted at epoch {trainer.position['epoch'] + 1}, step {trainer.position['global_step']}; "
            + (f"last checkpoint: {where} (continue with: snnkit train {args.config} --out {out} --resume)"
               if where else "no checkpoint was written yet")) from None
    result: dict[str, Any] = {"history": trainer.history}
    if learned_delays:  # evaluate as the paper does: rounded, integer delays
        from ..synapses import freeze_delays
        freeze_delays(model)
    if splits["test"] is not None:
        result["test"] = trainer.evaluate(splits["test"])
    if trainer.rank == 0:
        write_json(out / "history.json", result)
        plot_learning_curve(trainer.history, out / "learning_curve.png")
        if "test" in result:
            print(f"test accuracy {result['test']['accuracy']:.4f} (loss {result['test']['loss']:.4f}, "
                  f"{result['test']['count']} samples); checkpoint {out / 'last.pt'}")
    if trainer.world_size > 1:
        _exit_worker()
    return 0


def _print_epoch(event: str, trainer: Any, record: dict) -> None:
    """One line per epoch when the progress bars are off (``--no-progress`` or not a terminal)."""
    if event != "epoch" or trainer.rank != 0:
        return
    msg = f"epoch {record['epoch']}: loss {record['train_loss']:.4f} acc {record['train_accuracy']:.3f}"
    if "val_accuracy" in record:
        msg += f" | val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.3f}"
    print(msg, flush=True)


def plot_learning_curve(history: list[dict[str, Any]], path: Path) -> Path:
    """Loss and accuracy per epoch (train and validation) as a PNG; never touches pyplot's backend."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ..analysis.plots import save_figure
    fig = Figure(figsize=(8, 3.2))
    FigureCanvasAgg(fig)
    epochs = [r["epoch"] for r in history]
    for ax, metric in zip(fig.subplots(1, 2), ("loss", "accuracy")):
        for split in ("train", "val"):
            values = [r.get(f"{split}_{metric}") for r in history]
            if any(v is not None for v in values):
                ax.plot(epochs, values, marker="o", label=split)
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)


def _exit_worker() -> None:
    """End a torchrun worker once its work is saved. Leaving the process group first and then skipping
    the C++ static destructors avoids an occasional abort in gloo's teardown at interpreter exit
    ("terminate called without an active exception"), which torchrun would report as a failure."""
    import sys

    import torch.distributed as dist

    if dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
