"""Learning-rate schedules chosen by name (from a config)."""
from __future__ import annotations

from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .. import _checks

# name -> (when it steps, what it needs)
SCHEDULES = ("constant", "cosine", "step", "exponential", "onecycle", "plateau")
STEPS_PER_BATCH = ("onecycle",)


def make_scheduler(name: str, optimizer: Optimizer, epochs: int, steps_per_epoch: int,
                   **options: Any) -> Any:
    """Build the schedule called ``name``.

    - ``constant``: no change.
    - ``cosine``: cosine decay to ``eta_min`` (default 0) over ``epochs``, stepped per epoch.
    - ``step``: multiply by ``gamma`` (0.1) every ``step_size`` (``max(1, epochs // 3)``) epochs.
    - ``exponential``: multiply by ``gamma`` (0.95) every epoch.
    - ``onecycle``: one-cycle to ``max_lr`` (the optimiser's lr) over all batches, stepped per batch.
    - ``plateau``: divide by 1/``factor`` (0.5) when the validation loss stalls ``patience`` (2) epochs.
    """
    _checks.one_of("schedule", name, SCHEDULES)
    lr = optimizer.param_groups[0]["lr"]
    S = torch.optim.lr_scheduler
    allowed = {"constant": (), "cosine": ("eta_min",), "step": ("step_size", "gamma"),
               "exponential": ("gamma",), "onecycle": ("max_lr", "pct_start"),
               "plateau": ("factor", "patience")}[name]
    for key in options:
        _checks.one_of(f"schedule option for {name!r}", key, allowed)
    if name == "constant":
        return S.LambdaLR(optimizer, lambda _: 1.0)
    if name == "cosine":
        return S.CosineAnnealingLR(optimizer, T_max=max(epochs, 1), eta_min=options.get("eta_min", 0.0))
    if name == "step":
        return S.StepLR(optimizer, step_size=int(options.get("step_size", max(1, epochs // 3))),
                        gamma=options.get("gamma", 0.1))
    if name == "exponential":
        return S.ExponentialLR(optimizer, gamma=options.get("gamma", 0.95))
    if name == "onecycle":
        return S.OneCycleLR(optimizer, max_lr=options.get("max_lr", lr), epochs=max(epochs, 1),
                            steps_per_epoch=max(steps_per_epoch, 1), pct_start=options.get("pct_start", 0.3))
    return S.ReduceLROnPlateau(optimizer, factor=options.get("factor", 0.5), patience=int(options.get("patience", 2)))


__all__ = ["SCHEDULES", "make_scheduler", "LRScheduler"]
