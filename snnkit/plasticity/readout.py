"""Readout learning for reservoirs, driven by an error signal (the third factor) instead of a gradient.

Both rules see the presynaptic activity ``r`` (a reservoir's filtered spikes) and the error
``e = y - target`` of the readout ``y = W r`` as the ``modulator`` of :meth:`PlasticityRule.step`:

* :class:`RecursiveLeastSquares` (FORCE learning, Sussillo & Abbott 2009): ``P`` estimates the inverse
  correlation matrix of ``r`` (``P(0) = I / alpha``); per sample
  ``k = P r / (1 + r^T P r)``, ``P <- P - k (P r)^T``, ``W <- W - e k^T``. After a pass over data this is
  exactly the ridge solution ``W^T = (R^T R + alpha I)^-1 R^T Y`` (the test checks it against a direct
  solve).
* :class:`ErrorModulatedHebbian`: a local three-factor rule, ``dW = -lr * (g * e) (x) z`` with ``z`` an
  eligibility trace of ``r`` (``z <- z * exp(-1/tau_e) + r``) and ``g`` an attention gate per output
  (Roelfsema & van Ooyen 2005: only the outputs attended to learn; ``g = 1`` without one). Pass the
  gate through :meth:`ErrorModulatedHebbian.step`'s ``attention`` argument.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import _checks
from .rule import PlasticityRule, Update
from .synapse_views import SynapseView


def _error(modulator: Tensor | float | None, post_shape: torch.Size, name: str) -> Tensor:
    if not isinstance(modulator, Tensor) or modulator.shape != post_shape:
        shown = tuple(modulator.shape) if isinstance(modulator, Tensor) else type(modulator).__name__
        raise ValueError(f"{name} needs the readout error as modulator with the post shape {tuple(post_shape)}; "
                         f"got {shown}")
    return modulator


class RecursiveLeastSquares(PlasticityRule):
    """FORCE / recursive least squares on a linear readout (see the module doc).

    Args:
        synapse: the readout (``nn.Linear(n_reservoir, n_out)`` or its weight).
        alpha: regulariser; ``P`` starts at ``I / alpha`` (small alpha: fast, aggressive learning).
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, alpha: float = 1.0) -> None:
        super().__init__(synapse, update="immediate", lr=1.0)
        _checks.positive("alpha", alpha)
        n_in = self.weight.shape[1]
        self.alpha = float(alpha)
        self.register_buffer("P", torch.eye(n_in, dtype=self.weight.dtype, device=self.weight.device) / alpha)

    def reset(self) -> None:
        """RLS keeps ``P`` across sequences (it is the learned correlation estimate)."""

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        error = _error(modulator, post.shape, "RecursiveLeastSquares")
        dw = torch.zeros_like(self.weight)
        # one rank-1 update per sample; the error of later samples is corrected by earlier updates,
        # as when the samples arrive one after another
        for r, e, y in zip(pre.reshape(pre.shape[0], -1), error.reshape(error.shape[0], -1), post.reshape(post.shape[0], -1)):
            e = e + (dw @ r)                                     # account for this batch's earlier updates
            pr = self.P @ r
            k = pr / (1.0 + r @ pr)
            self.P.sub_(torch.outer(k, pr))
            dw -= torch.outer(e, k)
        return dw


class ErrorModulatedHebbian(PlasticityRule):
    """Error-modulated, attention-gated three-factor rule on a readout (see the module doc).

    Args:
        synapse: the readout.
        lr: learning rate.
        tau_e: eligibility-trace time constant in steps (``0`` or less: no trace, ``z = r``).
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, lr: float = 1e-3, tau_e: float = 0.0,
                 update: Update = "immediate") -> None:
        super().__init__(synapse, update=update, lr=lr)
        self.decay = math.exp(-1.0 / tau_e) if tau_e > 0 else 0.0
        self.trace: Tensor | None = None
        self.attention: Tensor | None = None

    def reset(self) -> None:
        self.trace = None

    def step(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None,
             attention: Tensor | None = None) -> Tensor:
        """As :meth:`PlasticityRule.step`, with ``attention`` (post-shaped gate in [0, 1], default 1)."""
        self.attention = attention
        return super().step(pre, post, modulator)

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        error = _error(modulator, post.shape, "ErrorModulatedHebbian")
        flat = pre.reshape(pre.shape[0], -1)
        self.trace = flat.clone() if self.trace is None else self.trace * self.decay + flat
        gated = error if self.attention is None else error * self.attention
        return -(gated.reshape(gated.shape[0], -1).t() @ self.trace) / pre.shape[0]


__all__ = ["RecursiveLeastSquares", "ErrorModulatedHebbian"]
