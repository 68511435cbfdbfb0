"""Randman: random manifold spike patterns (after Zenke & Vogels 2021, written from the paper's idea).

Each class is a smooth random map ``u -> f_c(u)`` from a low-dimensional manifold coordinate
``u in [0, 1]^D`` to ``[0, 1]^(F * S)`` (F channels, S spikes per channel). A sample draws ``u``
uniformly and fires channel ``j`` at times ``round(f_c(u)[j, s] * step_frac * (T - 1))``. The maps
are sums of random sinusoids whose amplitude falls as ``k^-alpha`` for frequency ``k``: larger
``alpha`` gives smoother manifolds (easier), larger ``D`` gives more variation within a class
(harder). Everything is derived from ``seed``: the manifolds from the seed alone, the samples of
each split from ``(seed, split)``, so train/valid/test share classes but never samples.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from .core import SPLITS, check_split

_SPLIT_STREAM = {"train": 1, "valid": 2, "test": 3}


@dataclass(frozen=True)
class RandmanConfig:
    """Size and difficulty of a Randman task (defaults: the no-download demo task)."""

    classes: int = 10
    channels: int = 100
    steps: int = 50
    manifold_dim: int = 1
    spikes_per_channel: int = 1
    alpha: float = 2.0
    frequencies: int = 4
    step_frac: float = 1.0
    samples_per_class: int = 300  # train split; valid and test get eval_samples_per_class
    eval_samples_per_class: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("classes", "channels", "steps", "manifold_dim", "spikes_per_channel", "frequencies",
                     "samples_per_class", "eval_samples_per_class"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"randman option {name}={value!r} must be an integer >= 1")
        if self.classes < 2:
            raise ValueError(f"randman option classes={self.classes!r} must be >= 2")
        if not (isinstance(self.alpha, (int, float)) and self.alpha >= 0):
            raise ValueError(f"randman option alpha={self.alpha!r} must be a number >= 0")
        if not (isinstance(self.step_frac, (int, float)) and 0 < self.step_frac <= 1):
            raise ValueError(f"randman option step_frac={self.step_frac!r} must be in (0, 1]")


def _manifold_params(cfg: RandmanConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Amplitudes, frequency scales and phases, shape [C, F*S, D, K] each (from the seed only)."""
    rng = np.random.default_rng([cfg.seed, 0])
    shape = (cfg.classes, cfg.channels * cfg.spikes_per_channel, cfg.manifold_dim, cfg.frequencies)
    k = np.arange(1, cfg.frequencies + 1, dtype=np.float64)
    amplitude = rng.uniform(0.0, 1.0, shape) / k**cfg.alpha
    freq = rng.uniform(0.0, 1.0, shape) * k
    phase = rng.uniform(0.0, 1.0, shape)
    return amplitude, freq, phase


def _evaluate(params: tuple[np.ndarray, np.ndarray, np.ndarray], cls: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Manifold coordinates before normalisation: [N, F*S] for class ids [N] and points u [N, D]."""
    amplitude, freq, phase = (p[cls] for p in params)  # [N, F*S, D, K]
    angle = 2 * np.pi * (freq * u[:, None, :, None] + phase)
    return (amplitude * np.sin(angle)).sum(axis=(2, 3))


def _normalisation(cfg: RandmanConfig, params: tuple[np.ndarray, np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per class and output dimension min and span over a fixed probe set, so values land in [0, 1]."""
    rng = np.random.default_rng([cfg.seed, 9])
    probes = 256
    cls = np.repeat(np.arange(cfg.classes), probes)
    u = rng.uniform(0.0, 1.0, (cfg.classes * probes, cfg.manifold_dim))
    values = _evaluate(params, cls, u).reshape(cfg.classes, probes, -1)
    low = values.min(axis=1)
    span = np.maximum(values.max(axis=1) - low, 1e-12)
    return low, span


def generate_randman(cfg: RandmanConfig, split: str = "train") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Spike times of one split: ``(times [N, F*S] int, channels [F*S] int, labels [N] int)``.

    Sample ``n`` fires channel ``channels[i]`` at step ``times[n, i]``. Classes are interleaved
    and the order is shuffled with the split's own stream.
    """
    check_split(split)
    params = _manifold_params(cfg)
    low, span = _normalisation(cfg, params)
    per_class = cfg.samples_per_class if split == "train" else cfg.eval_samples_per_class
    rng = np.random.default_rng([cfg.seed, _SPLIT_STREAM[split]])
    labels = rng.permutation(np.repeat(np.arange(cfg.classes), per_class))
    u = rng.uniform(0.0, 1.0, (labels.size, cfg.manifold_dim))
    coords = np.clip((_evaluate(params, labels, u) - low[labels]) / span[labels], 0.0, 1.0)
    times = np.rint(coords * cfg.step_frac * (cfg.steps - 1)).astype(np.int64)
    channels = np.tile(np.arange(cfg.channels), cfg.spikes_per_channel)
    return times, channels, labels.astype(np.int64)


class RandmanDataset(torch.utils.data.Dataset):
    """One split of a Randman task; items are ``(x [T, F] float spike counts, label)``."""

    def __init__(self, split: str = "train", config: RandmanConfig | None = None, **options: object) -> None:
        if config is not None and options:
            raise TypeError(f"pass either config or options, not both; got options {sorted(options)}")
        allowed = set(RandmanConfig.__dataclass_fields__)
        unknown = sorted(set(options) - allowed)
        if unknown:
            raise TypeError(f"unknown randman option(s) {unknown}; allowed: {sorted(allowed)}")
        self.config = config or RandmanConfig(**options)  # type: ignore[arg-type]
        self.split = split
        times, channels, labels = generate_randman(self.config, split)
        self._times = torch.from_numpy(times)
        self._channels = torch.from_numpy(channels)
        self.labels = torch.from_numpy(labels)
        self.num_classes = self.config.classes
        self.num_channels = self.config.channels
        self.num_steps = self.config.steps

    def __len__(self) -> int:
        return int(self.labels.numel())

    def __getitem__(self, index: int) -> tuple[Tensor, int]:
        x = torch.zeros(self.config.steps, self.config.channels)
        ones = torch.ones(self._channels.numel())
        x.index_put_((self._times[index], self._channels), ones, accumulate=True)
        return x, int(self.labels[index])

    def dense(self) -> tuple[Tensor, Tensor]:
        """All samples at once: ``(x [T, N, F], labels [N])`` (time-major)."""
        n = len(self)
        x = torch.zeros(self.config.steps, n, self.config.channels)
        rows = torch.arange(n)[:, None].expand_as(self._times)
        x.index_put_((self._times, rows, self._channels.expand_as(self._times)),
                     torch.ones(self._times.shape), accumulate=True)
        return x, self.labels.clone()


__all__ = ["RandmanConfig", "RandmanDataset", "generate_randman", "SPLITS"]
