"""Metric loggers for :class:`snnkit.training.Trainer`, passed as ``callbacks``.

    from snnkit.training.loggers import CSVLogger, TensorBoardLogger
    trainer = Trainer(model, config, callbacks=[CSVLogger("runs/x/metrics.csv"), TensorBoardLogger("runs/x/tb")])

Both log one record per epoch: ``train_loss``, ``train_accuracy``, ``lr``, ``val_loss`` and
``val_accuracy`` when there is validation data, and the firing rate of every spiking layer
(``rate/<layer name>``, spikes per neuron per step). ``TensorBoardLogger`` also logs the training loss
of every step. Only the process of rank 0 writes (data-parallel runs log once).
"""
from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Any

from .._atomic import atomic_path

SCALARS = ("train_loss", "train_accuracy", "lr", "val_loss", "val_accuracy")


def epoch_scalars(record: dict[str, Any]) -> dict[str, float]:
    """The scalars of one epoch record of ``Trainer.history``, rates flattened to ``rate/<layer>``."""
    out = {k: float(record[k]) for k in SCALARS if k in record}
    out.update({f"rate/{name}": float(v) for name, v in record.get("rates", {}).items()})
    return out


class CSVLogger:
    """Writes ``epoch`` plus :func:`epoch_scalars` to a CSV file, one row per epoch. The file is rewritten
    atomically after every epoch, so it is never half-written; columns are those of the first epoch
    plus any that appear later (missing cells are empty)."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() != ".csv":
            raise ValueError(f"path={str(path)!r} must end in .csv")
        self.rows: list[dict[str, float]] = []

    def __call__(self, event: str, trainer: Any, info: dict[str, Any]) -> None:
        if event != "epoch" or getattr(trainer, "rank", 0) != 0:
            return
        self.rows.append({"epoch": int(info["epoch"]), **epoch_scalars(info)})
        columns: list[str] = []
        for row in self.rows:
            columns += [k for k in row if k not in columns]
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=columns, restval="")
        writer.writeheader()
        writer.writerows(self.rows)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(self.path) as tmp:
            tmp.write_text(text.getvalue())


class TensorBoardLogger:
    """Writes TensorBoard event files into ``log_dir``: ``train/loss_step`` every step (x: global step)
    and :func:`epoch_scalars` every epoch (x: epoch). Needs ``pip install "snnkit[logging]"``."""

    def __init__(self, log_dir: str | os.PathLike, flush_secs: int = 30) -> None:
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ModuleNotFoundError as err:
            raise ModuleNotFoundError('TensorBoardLogger needs the optional package tensorboard: '
                                      'pip install "snnkit[logging]"', name="tensorboard") from err
        self.log_dir = Path(log_dir)
        self._writer_class, self._flush_secs = SummaryWriter, flush_secs
        self.writer: Any = None

    def _open(self) -> Any:
        if self.writer is None:
            self.writer = self._writer_class(log_dir=str(self.log_dir), flush_secs=self._flush_secs)
        return self.writer

    def __call__(self, event: str, trainer: Any, info: dict[str, Any]) -> None:
        if getattr(trainer, "rank", 0) != 0:
            return
        if event == "step" and "loss" in info:
            self._open().add_scalar("train/loss_step", float(info["loss"]), int(info["global_step"]))
        elif event == "epoch":
            writer = self._open()
            for key, value in epoch_scalars(info).items():
                tag = key if key.startswith("rate/") else key.replace("_", "/", 1)  # train/loss, val/accuracy
                writer.add_scalar(tag, value, int(info["epoch"]))
            writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


__all__ = ["CSVLogger", "TensorBoardLogger", "epoch_scalars"]
