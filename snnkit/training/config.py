"""Trainer settings as a dataclass that validates itself; built from a TOML ``[trainer]`` table with
:meth:`TrainerConfig.from_dict`, whose errors name the key and the allowed values."""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from .. import _checks
from .losses import LOSSES
from .schedules import SCHEDULES

OPTIMIZERS = ("adam", "adamw", "sgd")
MODES = ("bptt", "tbptt", "online", "sltt", "sltt_k", "ottt")
METRICS = ("val_loss", "val_accuracy", "train_loss")
MAX_INT = {"epochs": 1_000_000, "batch_size": 1 << 20, "eval_batch_size": 1 << 20, "tbptt_steps": 1_000_000}


@dataclass
class TrainerConfig:
    """Everything :class:`snnkit.training.Trainer` needs besides the model and the data.

    ``mode``: ``"bptt"`` (whole sequence), ``"tbptt"`` (chunks of ``tbptt_steps`` with the state
    detached between chunks), ``"online"`` / ``"sltt"`` (the spatial-only gradient of SLTT: memory does
    not grow with T), ``"sltt_k"`` (SLTT through ``sltt_steps`` random steps, 0: T // 10) or ``"ottt"``
    (presynaptic traces); see :mod:`snnkit.training.online`.
    ``batch_size`` is the GLOBAL batch (split over data-parallel workers). ``checkpoint_every``: also
    checkpoint every N optimiser steps (0: only at epoch ends and on interrupt).
    ``rate_reg``: ``{layer or "*": {target=, lower=, upper=, weight=}}``.
    ``event_driven``: train and evaluate with event-driven synapses (:func:`snnkit.kernels.set_event_driven`:
    Linear + LIF pairs on spike input add only the weights of the spikes; faster, not bit-equal to
    ``nn.Linear``); false leaves the global setting as it is. ``flush_denormals``: flush denormal floats to
    zero while training and evaluating (:func:`snnkit.kernels.flush_denormals`; a saturated loss otherwise
    makes every step several times slower on x86 CPUs).
    """

    epochs: int = 10
    batch_size: int = 64
    eval_batch_size: int = 256
    lr: float = 1e-3
    optimizer: str = "adam"
    weight_decay: float = 0.0
    momentum: float = 0.9
    schedule: str = "constant"
    schedule_options: dict[str, Any] = field(default_factory=dict)
    loss: str = "ce_max_membrane"
    grad_clip: float | None = None
    mode: str = "bptt"
    tbptt_steps: int = 10
    sltt_steps: int = 0
    early_stopping_patience: int | None = None
    early_stopping_metric: str = "val_loss"
    seed: int = 0
    checkpoint_every: int = 0
    batch_first: bool = False
    rate_reg: dict[str, dict[str, float]] = field(default_factory=dict)
    device: str = "cpu"
    progress: bool = True
    event_driven: bool = False
    flush_denormals: bool = True

    def __post_init__(self) -> None:
        _checks.one_of("trainer.optimizer", self.optimizer, OPTIMIZERS)
        _checks.one_of("trainer.schedule", self.schedule, SCHEDULES)
        _checks.one_of("trainer.loss", self.loss, LOSSES)
        _checks.one_of("trainer.mode", self.mode, MODES)
        _checks.one_of("trainer.early_stopping_metric", self.early_stopping_metric, METRICS)
        for name, cap in MAX_INT.items():
            _int(f"trainer.{name}", getattr(self, name), 1, cap)
        _int("trainer.seed", self.seed, 0, 2**63 - 1)
        _int("trainer.sltt_steps", self.sltt_steps, 0, 1_000_000)
        _int("trainer.checkpoint_every", self.checkpoint_every, 0)
        if self.early_stopping_patience is not None:
            _int("trainer.early_stopping_patience", self.early_stopping_patience, 1)
        _checks.positive("trainer.lr", self.lr)
        _finite("trainer.weight_decay", self.weight_decay, 0.0, math.inf)
        _finite("trainer.momentum", self.momentum, 0.0, 1.0)
        if self.grad_clip is not None:
            _checks.positive("trainer.grad_clip", self.grad_clip)
        if not isinstance(self.rate_reg, Mapping):
            raise TypeError(f"trainer.rate_reg must be a table {{layer = {{target, lower, upper, weight}}}}; "
                            f"got {self.rate_reg!r}")
        if not isinstance(self.schedule_options, Mapping):
            raise TypeError(f"trainer.schedule_options must be a table of numbers; got {self.schedule_options!r}")
        for key, value in self.schedule_options.items():
            _finite(f"trainer.schedule_options.{key}", value, -math.inf, math.inf)
        for bools in ("batch_first", "progress", "event_driven", "flush_denormals"):
            if not isinstance(getattr(self, bools), bool):
                raise TypeError(f"trainer.{bools}={getattr(self, bools)!r} is not allowed; allowed: true or false")
        _check_device(self.device)

    @classmethod
    def from_dict(cls, table: Mapping[str, Any], section: str = "trainer") -> "TrainerConfig":
        """Build from a mapping; an unknown key raises ``ValueError`` naming it and the allowed keys."""
        allowed = [f.name for f in dataclasses.fields(cls)]
        for key in table:
            if key not in allowed:
                raise ValueError(f"{section}.{key} is not a known setting; allowed: {allowed}")
        return cls(**dict(table))

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _int(name: str, value: Any, minimum: int, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name}={value!r} must be an integer >= {minimum}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={value!r} must be an integer <= {maximum}")


def _finite(name: str, value: Any, low: float, high: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or not low <= value <= high:
        raise ValueError(f"{name}={value!r} is not allowed; allowed: a finite number in [{low}, {high}]")


def _check_device(device: Any) -> None:
    """A device this machine has: 'cpu', 'cuda' / 'cuda:N' with CUDA present, 'mps' with MPS present."""
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"trainer.device={device!r} is not allowed; allowed: 'cpu', 'cuda', 'cuda:N', 'mps'") from err
    have = ["cpu"]
    if torch.cuda.is_available():
        have += ["cuda"] + [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        have.append("mps")
    if dev.type not in ("cpu", "cuda", "mps") or str(dev) not in have and dev.type != "cpu":
        raise ValueError(f"trainer.device={device!r} is not available on this machine; allowed here: {have}")
