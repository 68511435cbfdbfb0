"""Accuracy against time after programming, with and without global drift compensation."""
from __future__ import annotations

import os
from typing import Any, Callable, Mapping, Sequence

import torch
from torch import Tensor, nn
from tqdm.auto import tqdm

from ..._atomic import atomic_path
from .array import as_config
from .layers import ProfileLike, drift_to, seeded_generator, set_compensation, simulate

DEFAULT_TIMES: tuple[float, ...] = (1.0, 3600.0, 86400.0, 365 * 86400.0)
_LABELS = {1.0: "1 s", 60.0: "1 min", 3600.0: "1 hour", 86400.0: "1 day", 7 * 86400.0: "1 week",
           30 * 86400.0: "1 month", 365 * 86400.0: "1 year", 10 * 365 * 86400.0: "10 years"}


def time_label(t: float) -> str:
    return _LABELS.get(float(t), f"{t:g} s")


def _predict(out: Tensor) -> Tensor:
    # Time-major SNN output [T, B, C]: class = most spikes (or largest summed readout) over time.
    return (out.sum(0) if out.dim() == 3 else out).argmax(-1)


@torch.no_grad()
def _accuracy(model: nn.Module, x: Tensor, y: Tensor, batch_dim: int, batch_size: int,
              predict: Callable[[Tensor], Tensor]) -> float:
    correct = 0
    for lo in range(0, y.shape[0], batch_size):
        xb = x.narrow(batch_dim, lo, min(batch_size, y.shape[0] - lo))
        correct += int((predict(model(xb)) == y[lo:lo + xb.shape[batch_dim]]).sum())
    return correct / y.shape[0]


def drift_study(model: nn.Module, x: Tensor, y: Tensor, profile: ProfileLike = "pcm",  # type: ignore[valid-type]
                times: Sequence[float] = DEFAULT_TIMES, repeats: int = 1, seed: int = 0,
                batch_dim: int | None = None, batch_size: int = 1024,
                predict: Callable[[Tensor], Tensor] | None = None, overrides: Mapping[str, Any] | None = None,
                plot_path: str | os.PathLike | None = None, label: str | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Program ``model`` onto crossbars ``repeats`` times and measure its accuracy on ``(x, y)`` at each
    time after programming, with and without global drift compensation.

    Args:
        model: trained model; an SNN taking time-major ``[T, B, ...]`` (prediction = argmax of the
            output summed over time) or an ANN taking ``[B, ...]``.
        x, y: inputs and integer labels ``[B]``.
        times: seconds after programming (default 1 s, 1 hour, 1 day, 1 year).
        repeats: independent programmings (chips); the table gives mean and std over them.
        batch_dim: batch axis of ``x``; ``None`` guesses (1 when ``x`` is ``[T, B, ...]`` with
            ``x.shape[1] == len(y)``, else 0).
        predict: maps the model output to class indices (default described above).
        plot_path: also write a PNG plot there.

    Returns a table dict: ``profile``, ``label``, ``times_s``, ``time_labels``, ``digital``
    (accuracy of the unmapped model), ``compensated`` / ``uncompensated`` (mean per time),
    ``compensated_std`` / ``uncompensated_std``, ``repeats``.
    """
    if not isinstance(y, Tensor) or y.dim() != 1:
        raise ValueError(f"y must be a 1-D tensor of class indices; got {getattr(y, 'shape', type(y))}")
    if not (isinstance(repeats, int) and repeats >= 1):
        raise ValueError(f"repeats={repeats!r} must be an integer >= 1")
    if not times or any(not (isinstance(t, (int, float)) and t >= 0) for t in times):
        raise ValueError(f"times={list(times)!r} must be a non-empty list of seconds >= 0")
    if batch_dim is None:
        batch_dim = 1 if x.dim() >= 3 and x.shape[1] == y.shape[0] and x.shape[0] != y.shape[0] else 0
    if x.shape[batch_dim] != y.shape[0]:
        raise ValueError(f"x has {x.shape[batch_dim]} samples along batch_dim={batch_dim}; y has {y.shape[0]}")
    predict = predict or _predict
    was_training = model.training
    model.eval()
    digital = _accuracy(model, x, y, batch_dim, batch_size, predict)
    model.train(was_training)
    results = {True: torch.zeros(repeats, len(times)), False: torch.zeros(repeats, len(times))}
    config = as_config(profile, overrides)
    bar = tqdm(total=repeats * len(times), desc="drift study", disable=not progress, leave=False)
    for r in range(repeats):
        sim = simulate(model, config, t_inference=float(times[0]), seed=seed + r)
        gen = seeded_generator(seed + r + 1_000_003)  # drift/read draws, independent of the programming draws
        for i, t in enumerate(times):
            drift_to(sim, float(t), gen)
            for comp in (True, False):
                set_compensation(sim, comp)
                results[comp][r, i] = _accuracy(sim, x, y, batch_dim, batch_size, predict)
            bar.update(1)
    bar.close()
    table = {
        "profile": config.name, "label": label or type(model).__name__, "times_s": [float(t) for t in times],
        "time_labels": [time_label(t) for t in times], "digital": digital, "repeats": repeats,
        "compensated": results[True].mean(0).tolist(), "uncompensated": results[False].mean(0).tolist(),
        "compensated_std": (results[True].std(0) if repeats > 1 else torch.zeros(len(times))).tolist(),
        "uncompensated_std": (results[False].std(0) if repeats > 1 else torch.zeros(len(times))).tolist(),
    }
    if plot_path is not None:
        plot_drift_study([table], plot_path)
    return table


def drift_table_markdown(tables: Sequence[Mapping[str, Any]]) -> str:
    """The tables as one Markdown table (accuracy in %, mean +- std over repeats)."""
    if not tables:
        raise ValueError("tables is empty")
    labels = tables[0]["time_labels"]
    lines = ["| model | compensation | digital | " + " | ".join(labels) + " |",
             "|---|---|---|" + "---|" * len(labels)]
    for tab in tables:
        for comp in ("compensated", "uncompensated"):
            cells = [f"{100 * m:.1f} +- {100 * s:.1f}" if tab["repeats"] > 1 else f"{100 * m:.1f}"
                     for m, s in zip(tab[comp], tab[comp + "_std"])]
            lines.append(f"| {tab['label']} ({tab['profile']}) | {'yes' if comp == 'compensated' else 'no'} | "
                         f"{100 * tab['digital']:.1f} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot_drift_study(tables: Sequence[Mapping[str, Any]] | Mapping[str, Any], path: str | os.PathLike) -> str:
    """Plot accuracy against time after programming (log axis) for one or more tables; PNG, atomic write."""
    import matplotlib
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    tables = [tables] if isinstance(tables, Mapping) else list(tables)
    fig = Figure(figsize=(6.4, 4.2))
    ax = fig.subplots()
    colors = matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, tab in enumerate(tables):
        c = colors[k % len(colors)]
        t = tab["times_s"]
        for comp, style in (("compensated", "-o"), ("uncompensated", "--s")):
            m = [100 * v for v in tab[comp]]
            s = [100 * v for v in tab[comp + "_std"]]
            ax.errorbar(t, m, yerr=s if tab["repeats"] > 1 else None, fmt=style, color=c, capsize=3,
                        label=f"{tab['label']} ({'with' if comp == 'compensated' else 'no'} drift comp.)")
        ax.axhline(100 * tab["digital"], color=c, lw=0.8, ls=":", label=f"{tab['label']} digital")
    ax.set_xscale("log")
    ax.set_xticks(tables[0]["times_s"], tables[0]["time_labels"])
    ax.set_xlabel("time after programming")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"Accuracy vs drift on {tables[0]['profile']} crossbars")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    path = os.fspath(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return path
