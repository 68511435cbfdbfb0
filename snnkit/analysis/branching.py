"""The branching factor of network activity: how many spikes, on average, one spike causes a step later.

A network at the critical point has a branching factor of 1 (Beggs & Plenz 2003): activity neither
dies out nor explodes. With ``A(t)`` the population spike count at step ``t`` and an external drive,
activity follows ``E[A(t+1) | A(t)] = m A(t) + h`` (a branching process with immigration), so:

* ``"regression"``: ``m`` is the least-squares slope of ``A(t+1)`` against ``A(t)`` (consistent for the
  full population);
* ``"ratio"``: the classic mean of ``A(t+1) / A(t)`` over steps with ``A(t) > 0`` (biased upwards by the
  drive ``h``; kept because papers report it);
* ``"multistep"``: the multistep-regression estimator of Wilting & Priesemann (2018), which stays
  consistent when only a fraction of the neurons is observed: the slopes ``r_k`` of ``A(t+k)`` against
  ``A(t)`` follow ``b m^k`` for any subsampling fraction; ``m`` comes from a line fitted to
  ``log r_k`` over lags ``k = 1..max_lag``.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

Method = Literal["regression", "ratio", "multistep"]


def population_activity(spikes: Tensor) -> Tensor:
    """Spike counts per step ``A(t)`` (float64) of spikes ``[T, ...]`` (every non-time axis summed)."""
    if not isinstance(spikes, Tensor) or spikes.dim() < 1:
        raise TypeError(f"spikes must be a tensor [T, ...]; got {type(spikes).__name__}")
    return spikes.detach().reshape(spikes.shape[0], -1).to(torch.float64).sum(1)


def _slope(a: Tensor, b: Tensor) -> float:
    a_c, b_c = a - a.mean(), b - b.mean()
    var = float((a_c * a_c).sum())
    return float((a_c * b_c).sum()) / var if var > 0 else float("nan")


def branching_factor(activity: Tensor, method: Method = "regression", max_lag: int = 10) -> float:
    """Estimate the branching factor of population activity ``A(t)`` ``[T]`` (see the module doc).

    Pass spike tensors through :func:`population_activity` first. Returns ``nan`` when the activity is
    constant (no information) and, for ``"ratio"``, when it never fires.
    """
    if method not in ("regression", "ratio", "multistep"):
        raise ValueError(f"method={method!r} is not allowed; allowed: ['regression', 'ratio', 'multistep']")
    a = torch.as_tensor(activity, dtype=torch.float64).flatten()
    if a.numel() < 3:
        raise ValueError(f"activity needs at least 3 steps; got {a.numel()}")
    if method == "regression":
        return _slope(a[:-1], a[1:])
    if method == "ratio":
        active = a[:-1] > 0
        return float((a[1:][active] / a[:-1][active]).mean()) if bool(active.any()) else float("nan")
    if isinstance(max_lag, bool) or not isinstance(max_lag, int) or not 2 <= max_lag < a.numel() // 2:
        raise ValueError(f"max_lag={max_lag!r} must be an integer in [2, T/2) for T={a.numel()}")
    lags, logs = [], []
    for k in range(1, max_lag + 1):
        r_k = _slope(a[:-k], a[k:])
        if r_k > 0:
            lags.append(k)
            logs.append(math.log(r_k))
    if len(lags) < 2:
        return float("nan")
    return math.exp(_slope(torch.tensor(lags, dtype=torch.float64), torch.tensor(logs, dtype=torch.float64)))


__all__ = ["branching_factor", "population_activity"]
