"""Raster and trace plots (matplotlib, Agg backend), written atomically as PNG files."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import Tensor


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_figure(fig, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` atomically (temp file in the same folder, then ``os.replace``)."""
    path = Path(path)
    if path.suffix == "":
        raise ValueError(f"path={str(path)!r} needs a file extension such as .png")
    from .._atomic import atomic_path
    try:
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, dpi=110, bbox_inches="tight", format=path.suffix[1:])
    finally:
        _pyplot().close(fig)
    return path


def _as_time_by_unit(name: str, x: Tensor | np.ndarray, sample: int) -> np.ndarray:
    a = x.detach().cpu().float().numpy() if isinstance(x, Tensor) else np.asarray(x, dtype=np.float32)
    if a.ndim == 3:
        if not 0 <= sample < a.shape[1]:
            raise ValueError(f"sample={sample} is out of range for {name} with batch size {a.shape[1]}")
        a = a[:, sample]
    elif a.ndim > 3:
        a = a[:, sample].reshape(a.shape[0], -1)
    if a.ndim != 2:
        raise ValueError(f"{name} must be [T, N] or [T, B, N]; got shape {a.shape}")
    return a


def plot_raster(spikes: Tensor | np.ndarray, path: str | os.PathLike, sample: int = 0,
                title: str | None = None, dt: float = 1.0) -> Path:
    """Raster plot of ``spikes`` ``[T, N]`` or ``[T, B, N]`` (one ``sample`` of the batch) to ``path``."""
    a = _as_time_by_unit("spikes", spikes, sample)
    t, n = np.nonzero(a)
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.scatter(t * dt, n, s=2, marker="|", c="k")
    ax.set_xlim(0, a.shape[0] * dt)
    ax.set_ylim(-0.5, a.shape[1] - 0.5)
    ax.set_xlabel("time")
    ax.set_ylabel("neuron")
    ax.set_title(title or f"{int(a.sum())} spikes, {a.shape[1]} neurons, rate {a.mean():.3f}/step")
    return save_figure(fig, path)


def plot_traces(traces: Tensor | np.ndarray, path: str | os.PathLike, sample: int = 0,
                units: Sequence[int] | None = None, threshold: float | None = None,
                spikes: Tensor | np.ndarray | None = None, title: str | None = None, dt: float = 1.0) -> Path:
    """Membrane (or any) traces ``[T, N]`` / ``[T, B, N]`` of a few ``units`` (default: up to 5), with an
    optional threshold line and spike marks, to ``path``."""
    a = _as_time_by_unit("traces", traces, sample)
    units = list(range(min(5, a.shape[1]))) if units is None else list(units)
    for u in units:
        if not 0 <= u < a.shape[1]:
            raise ValueError(f"units contains {u}; allowed 0..{a.shape[1] - 1}")
    s = None if spikes is None else _as_time_by_unit("spikes", spikes, sample)
    time = np.arange(a.shape[0]) * dt
    plt = _pyplot()
    fig, axes = plt.subplots(len(units), 1, figsize=(7, 1.4 * len(units) + 0.6), sharex=True, squeeze=False)
    for ax, u in zip(axes[:, 0], units):
        ax.plot(time, a[:, u], lw=1)
        if threshold is not None:
            ax.axhline(threshold, color="r", ls="--", lw=0.8)
        if s is not None:
            ts = time[s[:, u] > 0]
            ax.vlines(ts, a[:, u].min(), a[:, u].max(), color="k", lw=0.6, alpha=0.5)
        ax.set_ylabel(f"#{u}")
    axes[-1, 0].set_xlabel("time")
    axes[0, 0].set_title(title or "traces")
    return save_figure(fig, path)


_ = torch
