"""Delta (temporally sparse) activations: only changes propagate (delta networks, Neil et al. 2017;
the sigma-delta neurons of Loihi 2).

:class:`Delta` turns an activation sequence ``a [T, B, ...]`` into the changes a sender transmits::

    d[t] = (a[t] - r[t-1]) * (|a[t] - r[t-1]| >= threshold)      r[t] = r[t-1] + d[t],  r[-1] = 0

so most entries of ``d`` are zero when ``a`` changes slowly; the receiver's copy ``r`` never differs from
``a`` by ``threshold`` or more. :class:`Sigma` wraps an affine layer ``f(x) = W x + b`` (Linear, Conv,
possibly ``TimeDistributed``) and accumulates its response to the changes,
``y[t] = sum_{s<=t} W d[s] + b = W r[t] + b``, so with ``threshold=0`` ``Sigma(f)(Delta(a)) == f(a)``
exactly (to float rounding), and each step costs one multiply-accumulate per synapse of a *non-zero*
change only. The gradient passes straight through the threshold (as in the delta-network papers).
Encourage small changes with :func:`snnkit.training.regularizers.delta_l1`.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks

__all__ = ["Delta", "Sigma"]


class Delta(nn.Module):
    """Send only the changes of ``[T, B, ...]`` that reach ``threshold`` (see the module docstring)."""

    def __init__(self, threshold: float = 0.0) -> None:
        super().__init__()
        if not (isinstance(threshold, (int, float)) and threshold >= 0):
            raise ValueError(f"threshold={threshold!r} must be a number >= 0")
        self.threshold = float(threshold)

    def forward(self, a: Tensor) -> Tensor:
        _checks.time_major("a", a)
        if self.threshold == 0.0:  # every change is sent: plain differences, r = a
            return torch.diff(a, dim=0, prepend=torch.zeros_like(a[:1]))
        r = torch.zeros_like(a[0]).detach()
        out = []
        for a_t in a.unbind(0):
            change = a_t - r
            gate = (change.detach().abs() >= self.threshold).to(a_t.dtype)
            d = change * gate + (change - change.detach()) * (1 - gate)  # straight-through the gate
            r = r + d.detach()
            out.append(d)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return f"threshold={self.threshold}"


class Sigma(nn.Module):
    """Accumulate an affine ``layer``'s response to changes: ``y[t] = layer(sum_{s<=t} d[s])`` computed
    as ``cumsum_t(layer(d[t]) - layer(0)) + layer(0)`` (the bias enters once, not once per step)."""

    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.layer = layer

    def forward(self, d: Tensor) -> Tensor:
        _checks.time_major("d", d)
        y = self.layer(d)
        offset = self.layer(torch.zeros_like(d[:1]))  # the bias, shaped like one step of y
        return torch.cumsum(y - offset, dim=0) + offset
