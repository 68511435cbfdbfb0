"""Trainer mechanics: batch-major input behind an explicit flag, loaders, early stopping, gradient
clipping, LR schedules by name, seeding."""
from __future__ import annotations

import pytest
import torch

from snnkit import data, models, training


def _model(seed: int = 0):
    training.seed_everything(seed)
    return models.create("mlp", spiking=True, in_features=8, num_classes=3, hidden=12)


def _tensors(n: int = 24, T: int = 10):
    g = torch.Generator().manual_seed(1)
    return (torch.rand(T, n, 8, generator=g) < 0.3).float(), torch.randint(0, 3, (n,), generator=g)


def test_batch_major_input_with_flag_equals_time_major() -> None:
    X, Y = _tensors()
    a, b = _model(), _model()
    cfg = {"epochs": 2, "batch_size": 8, "progress": False}
    training.Trainer(a, cfg).fit((X, Y))
    training.Trainer(b, {**cfg, "batch_first": True}).fit((X.transpose(0, 1).contiguous(), Y))
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    with pytest.raises(ValueError, match="batch_first=True"):
        training.Trainer(_model(), cfg).fit((X.transpose(0, 1)[:, :5], Y))


def test_trains_from_a_time_major_loader() -> None:
    ds = data.load("randman", "train", classes=3, channels=8, steps=10, samples_per_class=8, seed=0)
    loader = data.make_loader(ds, batch_size=6, shuffle=True, seed=0)
    t = training.Trainer(_model(), {"epochs": 1, "progress": False})
    hist = t.fit(loader)
    assert hist[0]["train_accuracy"] >= 0 and t.position["global_step"] == len(loader)


def test_early_stopping_stops_when_the_metric_stalls() -> None:
    X, Y = _tensors()
    t = training.Trainer(_model(), {"epochs": 10, "batch_size": 8, "lr": 1e-9, "progress": False,
                                     "early_stopping_patience": 2, "early_stopping_metric": "val_accuracy"})
    hist = t.fit((X, Y), val_data=(X, Y))
    assert len(hist) == 3  # best at epoch 1, no change for 2 epochs


def test_gradient_clipping_bounds_the_norm() -> None:
    X, Y = _tensors()
    t = training.Trainer(_model(), {"grad_clip": 1e-3, "progress": False, "loss": "ce_count"})
    X = X * 5  # strong input: large gradients
    t.train_step(X, Y)
    norm = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in t.model.parameters()]))
    assert norm <= 1e-3 * (1 + 1e-5)


@pytest.mark.parametrize("schedule", training.SCHEDULES)
def test_schedules_by_name(schedule: str) -> None:
    X, Y = _tensors()
    t = training.Trainer(_model(), {"epochs": 3, "batch_size": 8, "lr": 1e-2, "schedule": schedule,
                                     "progress": False})
    hist = t.fit((X, Y))
    lrs = [h["lr"] for h in hist]
    if schedule == "cosine":  # torch's CosineAnnealingLR closed form, T_max = epochs
        import math
        assert lrs == pytest.approx([1e-2 * (1 + math.cos(math.pi * e / 3)) / 2 for e in range(3)])
    if schedule == "constant":
        assert lrs == [1e-2] * 3
    with pytest.raises(ValueError, match="schedule option for 'step'"):
        training.make_scheduler("step", t.optimizer, 3, 3, warmup=2)


def test_seed_everything_repeats_a_run() -> None:
    X, Y = _tensors()
    runs = []
    for _ in range(2):
        m = _model(seed=7)
        training.Trainer(m, {"epochs": 1, "batch_size": 8, "progress": False, "seed": 7}).fit((X, Y))
        runs.append(m.state_dict())
    assert all(torch.equal(runs[0][k], runs[1][k]) for k in runs[0])
    with pytest.raises(ValueError, match="seed=-1"):
        training.seed_everything(-1)


def test_chunked_mode_needs_a_run_method() -> None:
    ann = models.create("mlp", spiking=False, in_features=8, num_classes=3, hidden=12, steps=10)
    with pytest.raises(ValueError, match="trainer.mode='online' needs a model with run"):
        training.Trainer(ann, {"mode": "online"})
