"""Learning-rate schedules chosen by name (from a config), and the time-step curriculum
(:class:`TimestepCurriculum`) that shortens the simulated sequence as training goes on."""
from __future__ import annotations

from dataclasses import dataclass
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


@dataclass(frozen=True)
class TimestepCurriculum:
    """How many time steps the :class:`~snnkit.training.Trainer` simulates in each epoch.

    ``stages``: ``((T, epochs), ...)`` in order; after the last stage its ``T`` stays. The trainer keeps
    the first ``T`` steps of every batch (training and evaluation), so with direct encoding (the analog
    input repeated at every step) each stage is the same task in fewer steps, warm-started from the
    weights of the stage before: the IIR-SNN recipe (Chowdhury, Rathi & Roy 2022) trains at ``T=5``, then
    at 4, 3, 2 and finally 1 step. Use ``Trainer(..., timesteps=TimestepCurriculum.iir(5, 1, 2))`` with
    ``epochs = curriculum.epochs``."""

    stages: tuple[tuple[int, int], ...]

    def __post_init__(self) -> None:
        if not self.stages:
            raise ValueError("stages must name at least one (T, epochs) stage")
        for T, epochs in self.stages:
            if not (isinstance(T, int) and T >= 1 and isinstance(epochs, int) and epochs >= 1):
                raise ValueError(f"stage (T={T!r}, epochs={epochs!r}) must hold two ints >= 1")

    @classmethod
    def iir(cls, start: int = 5, stop: int = 1, epochs_per_stage: int = 1) -> "TimestepCurriculum":
        """``T = start, start-1, ..., stop``, ``epochs_per_stage`` epochs each."""
        if not (isinstance(start, int) and isinstance(stop, int) and start >= stop >= 1):
            raise ValueError(f"start={start!r} and stop={stop!r} must be ints with start >= stop >= 1")
        return cls(tuple((T, epochs_per_stage) for T in range(start, stop - 1, -1)))

    @property
    def epochs(self) -> int:
        return sum(e for _, e in self.stages)

    def steps_at(self, epoch: int) -> int:
        """Time steps in (0-based) ``epoch``."""
        for T, epochs in self.stages:
            if epoch < epochs:
                return T
            epoch -= epochs
        return self.stages[-1][0]


__all__ = ["SCHEDULES", "make_scheduler", "LRScheduler", "TimestepCurriculum"]
