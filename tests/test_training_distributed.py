"""Data-parallel training: two gloo processes on CPU (``snnkit train --nproc 2``, i.e. torchrun) end with
the same weights as one process on the same global batch."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from snnkit import models
from snnkit.training import load_checkpoint, seed_everything

CONFIG = """
[model]
name = "mlp"
hidden = 16

[data]
name = "randman"
classes = 4
channels = 20
steps = 12
samples_per_class = 16
eval_samples_per_class = 4
seed = 1
test_split = ""

[trainer]
epochs = 2
batch_size = 16
optimizer = "sgd"
momentum = 0.0
lr = 0.1
loss = "ce_count"
seed = 3
progress = false
"""


def _train(config: Path, out: Path, nproc: int) -> dict[str, torch.Tensor]:
    env = {k: v for k, v in os.environ.items() if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK")}
    cmd = [sys.executable, "-m", "snnkit", "train", str(config), "--out", str(out), "--nproc", str(nproc)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert res.returncode == 0, res.stdout + res.stderr
    return load_checkpoint(out / "last.pt")["model"]["state_dict"]


@pytest.mark.slow
@pytest.mark.skipif(not torch.distributed.is_available(), reason="torch built without torch.distributed")
def test_two_gloo_processes_match_one_process(tmp_path: Path) -> None:
    config = tmp_path / "ddp.toml"
    config.write_text(CONFIG)
    one = _train(config, tmp_path / "one", 1)
    two = _train(config, tmp_path / "two", 2)
    for k in one:  # float32 sums in another order (all-reduce of two halves): rounding-level differences
        torch.testing.assert_close(two[k], one[k], rtol=1e-4, atol=1e-5)
    # training moved the weights, so the comparison is not about the shared initial state
    seed_everything(3)
    init = models.create("mlp", spiking=True, in_features=20, num_classes=4, hidden=16, steps=12).state_dict()
    assert (one["0.weight"] - init["0.weight"]).abs().max() > 1e-2
