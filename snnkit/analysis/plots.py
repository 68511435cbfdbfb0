"""Raster and trace plots.

Every function builds a :class:`matplotlib.figure.Figure` without pyplot, so it never changes the
user's backend and never leaves figures open in pyplot's registry. Pass ``ax=`` to draw on your own
axes; pass ``path=`` to also write the figure atomically (then the :class:`~pathlib.Path` is returned,
else the Figure).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch import Tensor

from .._atomic import atomic_path


def save_figure(fig: Any, path: str | os.PathLike) -> Path:
    """Save ``fig`` to ``path`` atomically (:func:`snnkit.atomic_path`: the file gets the user's normal
    permissions); a pyplot figure is then closed so it does not pile up in pyplot's registry."""
    path = Path(path)
    if path.suffix == "":
        raise ValueError(f"path={str(path)!r} needs a file extension such as .png")
    try:
        with atomic_path(path, suffix=path.suffix) as tmp:
            fig.savefig(tmp, format=path.suffix[1:], dpi=110, bbox_inches="tight")
    finally:
        if hasattr(fig, "number"):
            import matplotlib.pyplot as plt
            plt.close(fig)
    return path


def new_axes(ax: Any = None, figsize: tuple[float, float] = (7, 3.5)) -> tuple[Any, Any]:
    """``(figure, axes)``: the given ``ax`` and its figure, or a new pyplot-free Figure with one Axes."""
    if ax is not None:
        return ax.figure, ax
    from matplotlib.figure import Figure
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.add_subplot()


def _finish(fig: Any, path: str | os.PathLike | None) -> Any:
    return fig if path is None else save_figure(fig, path)


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


def plot_raster(spikes: Tensor | np.ndarray, path: str | os.PathLike | None = None, sample: int = 0,
                title: str | None = None, dt: float = 1.0, time_unit: str = "ms", ax: Any = None) -> Any:
    """Raster plot of ``spikes`` ``[T, N]`` or ``[T, B, N]`` (one ``sample`` of the batch).

    Args:
        dt: the time step in ``time_unit`` (x axis: ``step * dt``).
        path: also write the figure there (returns the Path); else the Figure is returned.
        ax: draw on this Axes instead of a new Figure.
    """
    a = _as_time_by_unit("spikes", spikes, sample)
    t, n = np.nonzero(a)
    fig, ax = new_axes(ax)
    ax.scatter(t * dt, n, s=2, marker="|", c="k")
    ax.set_xlim(0, a.shape[0] * dt)
    ax.set_ylim(-0.5, a.shape[1] - 0.5)
    ax.set_xlabel(f"time ({time_unit})")
    ax.set_ylabel("neuron index")
    ax.set_title(title or f"{int(a.sum())} spikes, {a.shape[1]} neurons, rate {a.mean():.3f} per step")
    return _finish(fig, path)


def plot_traces(traces: Tensor | np.ndarray, path: str | os.PathLike | None = None, sample: int = 0,
                units: Sequence[int] | None = None, threshold: float | None = None,
                spikes: Tensor | np.ndarray | None = None, title: str | None = None, dt: float = 1.0,
                time_unit: str = "ms", value_label: str = "membrane (a.u.)", ax: Any = None) -> Any:
    """Membrane (or any) traces ``[T, N]`` / ``[T, B, N]`` of a few ``units`` (default: up to 5), with an
    optional threshold line and spike marks. With ``ax`` all units share that Axes; otherwise one
    row per unit. Returns the Figure, or the Path when ``path`` is given."""
    a = _as_time_by_unit("traces", traces, sample)
    units = list(range(min(5, a.shape[1]))) if units is None else list(units)
    for u in units:
        if not 0 <= u < a.shape[1]:
            raise ValueError(f"units contains {u}; allowed 0..{a.shape[1] - 1}")
    s = None if spikes is None else _as_time_by_unit("spikes", spikes, sample)
    time = np.arange(a.shape[0]) * dt
    if ax is not None:
        fig, rows = ax.figure, [ax] * len(units)
    else:
        from matplotlib.figure import Figure
        fig = Figure(figsize=(7, 1.4 * len(units) + 0.6), layout="constrained")
        rows = list(fig.subplots(len(units), 1, sharex=True, squeeze=False)[:, 0])
    for row, u in zip(rows, units):
        row.plot(time, a[:, u], lw=1, label=f"neuron {u}")
        if threshold is not None:
            row.axhline(threshold, color="r", ls="--", lw=0.8)
        if s is not None:
            ts = time[s[:, u] > 0]
            row.vlines(ts, a[:, u].min(), a[:, u].max(), color="k", lw=0.6, alpha=0.5)
        row.set_ylabel(value_label if ax is not None else f"#{u}")
    rows[-1].set_xlabel(f"time ({time_unit})")
    rows[0].set_title(title or f"traces ({value_label})")
    return _finish(fig, path)
