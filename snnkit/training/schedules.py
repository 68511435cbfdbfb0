"""Learning-rate schedules chosen by name (from a config), and the time-step curriculum
(:class:`TimestepCurriculum`) that shortens the simulated sequence as training goes on."""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

from .. import _checks

# name -> (when it steps, what it needs)
SCHEDULES = ("constant", "cosine", "step", "exponential", "onecycle", "plateau", "dcls_onecycle")
STEPS_PER_BATCH = ("onecycle", "dcls_onecycle")


def make_scheduler(name: str, optimizer: Optimizer, epochs: int, steps_per_epoch: int,
                   **options: Any) -> Any:
    """Build the schedule called ``name``.

    - ``constant``: no change.
    - ``cosine``: cosine decay to ``eta_min`` (default 0) over ``epochs``, stepped per epoch.
    - ``step``: multiply by ``gamma`` (0.1) every ``step_size`` (``max(1, epochs // 3)``) epochs.
    - ``exponential``: multiply by ``gamma`` (0.95) every epoch.
    - ``onecycle``: one-cycle to ``max_lr`` (the optimiser's lr) over all batches, stepped per batch.
    - ``plateau``: divide by 1/``factor`` (0.5) when the validation loss stalls ``patience`` (2) epochs.
    - ``dcls_onecycle``: the DCLS paper's pair (Hammouamri et al. 2024), stepped per batch: parameter
      groups named ``"delays"`` (see :func:`snnkit.synapses.delay_param_groups`) follow a cosine decay
      from their own lr to 0; every other group a one-cycle from ``lr / 25`` up to ``max_lr_factor``
      (5) x its lr at ``pct_start`` (0.3) of training, then down to ``lr * max_lr_factor / 25e4``
      (torch's OneCycleLR defaults, per group, so the delays keep their 100x learning rate).
    """
    _checks.one_of("schedule", name, SCHEDULES)
    lr = optimizer.param_groups[0]["lr"]
    S = torch.optim.lr_scheduler
    allowed = {"constant": (), "cosine": ("eta_min",), "step": ("step_size", "gamma"),
               "exponential": ("gamma",), "onecycle": ("max_lr", "pct_start"),
               "plateau": ("factor", "patience"), "dcls_onecycle": ("max_lr_factor", "pct_start")}[name]
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
    if name == "dcls_onecycle":
        total = max(epochs, 1) * max(steps_per_epoch, 1)
        return S.LambdaLR(optimizer, [_dcls_lambda(g.get("name") == "delays", total,
                                                   float(options.get("max_lr_factor", 5.0)),
                                                   float(options.get("pct_start", 0.3)))
                                      for g in optimizer.param_groups])
    return S.ReduceLROnPlateau(optimizer, factor=options.get("factor", 0.5), patience=int(options.get("patience", 2)))


def _cos(a: float, b: float, fraction: float) -> float:
    """Cosine interpolation from ``a`` (fraction 0) to ``b`` (fraction 1)."""
    return b + (a - b) / 2 * (1 + math.cos(math.pi * min(max(fraction, 0.0), 1.0)))


def _dcls_lambda(delays: bool, total: int, factor: float, pct: float):
    """LR multiplier per batch step: cosine to 0 for delays, one-cycle for the rest."""
    if delays:
        return lambda step: _cos(1.0, 0.0, step / total)
    peak, last = max(pct * total - 1, 1.0), max(total - 1, 2)  # step indices as in torch's OneCycleLR
    start, end = factor / 25.0, factor / 25e4
    return lambda step: (_cos(start, factor, step / peak) if step <= peak
                         else _cos(factor, end, (step - peak) / max(last - peak, 1.0)))


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
