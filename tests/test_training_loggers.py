"""Trainer loggers: what the CSV file and the TensorBoard event files hold equals the trainer's own
history (the oracle), read back with the csv module and with TensorBoard's own event reader."""
from __future__ import annotations

import csv

import pytest
import torch
from torch import nn

from snnkit import neurons
from snnkit.training import Trainer
from snnkit.training.loggers import CSVLogger, TensorBoardLogger


def _fit(callbacks):
    g = torch.Generator().manual_seed(0)
    x = (torch.rand(10, 64, 12, generator=g) < 0.3).float()
    y = torch.randint(0, 3, (64,), generator=g)
    torch.manual_seed(0)
    net = neurons.Sequential(nn.Linear(12, 16), neurons.LIF(tau_mem=5.0), nn.Linear(16, 3), neurons.LI(tau_mem=5.0))
    trainer = Trainer(net, {"epochs": 3, "batch_size": 16, "lr": 1e-2, "progress": False}, callbacks=callbacks)
    return trainer, trainer.fit((x, y), (x[:, :32], y[:32]))


def test_csv_logger_rows_equal_history(tmp_path):
    logger = CSVLogger(tmp_path / "logs" / "metrics.csv")
    _, history = _fit([logger])
    with open(tmp_path / "logs" / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(history) == 3
    for row, rec in zip(rows, history):
        assert int(row["epoch"]) == rec["epoch"]
        for key in ("train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr"):
            assert float(row[key]) == pytest.approx(rec[key], rel=1e-12)
        assert rec["rates"], "a spiking layer must be monitored"
        for layer, rate in rec["rates"].items():
            assert float(row[f"rate/{layer}"]) == pytest.approx(rate, rel=1e-12)


def test_csv_logger_rejects_other_suffix(tmp_path):
    with pytest.raises(ValueError, match="csv"):
        CSVLogger(tmp_path / "metrics.txt")


def test_tensorboard_logger_scalars_equal_history(tmp_path):
    event_accumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator")
    logger = TensorBoardLogger(tmp_path / "tb")
    trainer, history = _fit([logger])
    logger.close()
    acc = event_accumulator.EventAccumulator(str(tmp_path / "tb"))
    acc.Reload()
    val = [e.value for e in acc.Scalars("val/accuracy")]
    assert val == pytest.approx([h["val_accuracy"] for h in history], rel=1e-6)
    assert [e.step for e in acc.Scalars("train/loss")] == [1, 2, 3]
    assert len(acc.Scalars("train/loss_step")) == trainer.position["global_step"] == 12
