"""Event transforms and binning. Events are numpy structured arrays in tonic's convention: fields
``t`` (microseconds), ``x`` (channel or column), optionally ``y`` (row) and ``p`` (polarity).

Each transform is a small frozen dataclass (so its ``repr`` is a complete description, used as the
cache key) with ``__call__(events) -> events`` and ``sensor_size(size) -> size`` for the
``(W, H, P)`` sensor it produces. :class:`ToFrames` turns events into a dense float tensor.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import Tensor

SensorSize = tuple[int, int, int]  # (width or channels, height, polarities), tonic's order


def _check_int(name: str, value: object, low: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


def _check_number(name: str, value: object, low: float = 0.0, strict: bool = True) -> float:
    ok = isinstance(value, (int, float, np.floating)) and not isinstance(value, bool) and np.isfinite(value)
    if not ok or (value <= low if strict else value < low):
        raise ValueError(f"{name}={value!r} must be a finite number {'>' if strict else '>='} {low}")
    return float(value)


@dataclass(frozen=True)
class PoolChannels:
    """Merge groups of ``factor`` neighbouring channels (x) and ``factor_y`` rows (y): 700 -> 140 by 5."""

    factor: int
    factor_y: int = 1
    random: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_int("factor", self.factor)
        _check_int("factor_y", self.factor_y)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        out = events.copy()
        out["x"] = events["x"] // self.factor
        if "y" in events.dtype.names:
            out["y"] = events["y"] // self.factor_y
        return out

    def sensor_size(self, size: SensorSize) -> SensorSize:
        return (-(-size[0] // self.factor), -(-size[1] // self.factor_y), size[2])


@dataclass(frozen=True)
class CropTime:
    """Keep events with ``start_us <= t < stop_us`` and shift time so ``start_us`` becomes 0."""

    start_us: float = 0.0
    stop_us: float | None = None
    random: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_number("start_us", self.start_us, 0.0, strict=False)
        if self.stop_us is not None and _check_number("stop_us", self.stop_us) <= self.start_us:
            raise ValueError(f"stop_us={self.stop_us!r} must be greater than start_us={self.start_us!r}")

    def __call__(self, events: np.ndarray) -> np.ndarray:
        keep = events["t"] >= self.start_us
        if self.stop_us is not None:
            keep &= events["t"] < self.stop_us
        out = events[keep]
        out["t"] = (out["t"] - self.start_us).astype(out["t"].dtype)
        return out

    def sensor_size(self, size: SensorSize) -> SensorSize:
        return size


@dataclass(frozen=True)
class CropSensor:
    """Keep the window ``x0 <= x < x0 + width`` (and ``y0 <= y < y0 + height``), re-indexed from 0."""

    x0: int
    width: int
    y0: int = 0
    height: int | None = None
    random: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        _check_int("x0", self.x0, 0)
        _check_int("width", self.width)
        _check_int("y0", self.y0, 0)
        if self.height is not None:
            _check_int("height", self.height)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        keep = (events["x"] >= self.x0) & (events["x"] < self.x0 + self.width)
        if self.height is not None and "y" in events.dtype.names:
            keep &= (events["y"] >= self.y0) & (events["y"] < self.y0 + self.height)
        out = events[keep]
        out["x"] -= self.x0
        if self.height is not None and "y" in events.dtype.names:
            out["y"] -= self.y0
        return out

    def sensor_size(self, size: SensorSize) -> SensorSize:
        return (self.width, size[1] if self.height is None else self.height, size[2])


class TimeJitter:
    """Add Gaussian noise of ``std_us`` to every spike time (augmentation; random, so never cached).

    Times are clipped at 0 and events re-sorted by time. ``seed`` fixes the generator's stream.
    """

    random = True

    def __init__(self, std_us: float, seed: int | None = None) -> None:
        self.std_us = _check_number("std_us", std_us, 0.0, strict=False)
        self.seed = seed
        self._rng = np.random.default_rng(seed)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        out = events.copy()
        noisy = out["t"] + self._rng.normal(0.0, self.std_us, out.size)
        out["t"] = np.maximum(noisy, 0.0).astype(out["t"].dtype)
        return out[np.argsort(out["t"], kind="stable")]

    def sensor_size(self, size: SensorSize) -> SensorSize:
        return size

    def __repr__(self) -> str:
        return f"TimeJitter(std_us={self.std_us}, seed={self.seed})"


@dataclass(frozen=True)
class ToFrames:
    """Count events in ``n_bins`` time bins of ``bin_us`` starting at ``start_us``.

    Bin ``k`` holds events with ``start_us + k * bin_us <= t < start_us + (k + 1) * bin_us``; events
    outside all bins are dropped. Output: float tensor ``[T, W]`` for one-row, one-polarity sensors
    (audio channels), else ``[T, P, H, W]`` (tonic's frame layout).
    """

    sensor_size: SensorSize
    bin_us: float
    n_bins: int
    start_us: float = 0.0

    def __post_init__(self) -> None:
        if len(self.sensor_size) != 3:
            raise ValueError(f"sensor_size={self.sensor_size!r} must be (width, height, polarities)")
        for i, name in enumerate(("width", "height", "polarities")):
            _check_int(f"sensor_size[{i}] ({name})", self.sensor_size[i])
        _check_number("bin_us", self.bin_us)
        _check_int("n_bins", self.n_bins)

    @property
    def shape(self) -> tuple[int, ...]:
        width, height, pol = self.sensor_size
        if height == 1 and pol == 1:
            return (self.n_bins, width)
        return (self.n_bins, pol, height, width)

    def flat_index(self, events: np.ndarray) -> np.ndarray:
        """Flat positions into ``shape`` of the events that fall inside the bins."""
        width, height, pol = self.sensor_size
        bins = np.floor((events["t"].astype(np.float64) - self.start_us) / self.bin_us).astype(np.int64)
        x = events["x"].astype(np.int64)
        y = events["y"].astype(np.int64) if "y" in events.dtype.names else np.zeros_like(x)
        p = events["p"].astype(np.int64) if ("p" in events.dtype.names and pol > 1) else np.zeros_like(x)
        keep = (bins >= 0) & (bins < self.n_bins) & (x >= 0) & (x < width) & (y >= 0) & (y < height)
        keep &= (p >= 0) & (p < pol)
        return ((bins[keep] * pol + p[keep]) * height + y[keep]) * width + x[keep]

    def __call__(self, events: np.ndarray) -> Tensor:
        size = int(np.prod(self.shape))
        counts = np.bincount(self.flat_index(events), minlength=size).astype(np.float32)
        return torch.from_numpy(counts).reshape(self.shape)


def output_sensor_size(transforms: Sequence[object], size: SensorSize) -> SensorSize:
    """The sensor size after applying ``transforms`` in order."""
    for transform in transforms:
        size = transform.sensor_size(size)  # type: ignore[attr-defined]
    return size
