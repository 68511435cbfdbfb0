"""Homeostasis and competition: adaptive thresholds, winner-take-all, lateral inhibition.

- :class:`AdaptiveThreshold`: every spike raises a neuron's threshold by ``theta_plus``, which decays
  with ``tau_theta`` (Diehl & Cook 2015): busy neurons get harder to fire, so all neurons get used.
- :func:`winner_take_all`: of the neurons that crossed threshold, keep the ``k`` with the highest
  membrane (hard lateral inhibition within one step).
- :func:`lateral_inhibition`: the inhibitory current each neuron receives from the others' spikes
  (soft lateral inhibition for the next step).
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .. import _checks
from ..functional import decay as _decay


class AdaptiveThreshold(nn.Module):
    """A per-neuron threshold offset ``theta`` raised by spikes, decaying to zero (shared across the batch).

    ``theta <- theta * exp(-dt / tau_theta) + theta_plus * mean_batch(spikes)``; the effective threshold
    is ``v_th + theta``. ``tau_theta=None`` disables the decay (Diehl & Cook's theta during training).
    """

    def __init__(self, shape: int | tuple[int, ...], *, v_th: float = 1.0, theta_plus: float = 0.05,
                 tau_theta: float | None = 1e4, dt: float = 1.0) -> None:
        super().__init__()
        _checks.positive("theta_plus", theta_plus)
        self.v_th, self.theta_plus = float(v_th), float(theta_plus)
        self.decay_factor = 1.0 if tau_theta is None else float(_decay(float(tau_theta), dt))
        self.register_buffer("theta", torch.zeros(shape))

    def threshold(self) -> Tensor:
        """The effective threshold ``v_th + theta`` (broadcasts over the batch)."""
        return self.v_th + self.theta

    @torch.no_grad()
    def step(self, spikes: Tensor) -> Tensor:
        """Update ``theta`` from this step's spikes ``[B, *shape]``; returns the new threshold."""
        self.theta.mul_(self.decay_factor).add_(spikes.detach().float().mean(0), alpha=self.theta_plus)
        return self.threshold()


def winner_take_all(spikes: Tensor, membrane: Tensor, k: int = 1, dim: int = 1) -> Tensor:
    """Keep at most ``k`` spikes per sample along ``dim``: those with the highest ``membrane``."""
    if k < 1:
        raise ValueError(f"k={k} must be >= 1")
    if spikes.shape != membrane.shape:
        raise ValueError(f"spikes {tuple(spikes.shape)} and membrane {tuple(membrane.shape)} must have one shape")
    k = min(k, spikes.shape[dim])
    score = torch.where(spikes > 0, membrane, torch.full_like(membrane, -float("inf")))
    top = score.topk(k, dim=dim).indices
    keep = torch.zeros_like(spikes).scatter_(dim, top, 1.0)
    return spikes * keep


def lateral_inhibition(spikes: Tensor, strength: float | Tensor, dim: int = 1) -> Tensor:
    """The current ``-strength * (sum of the other neurons' spikes)`` each neuron receives (along ``dim``)."""
    total = spikes.sum(dim, keepdim=True)
    return -strength * (total - spikes)


__all__ = ["AdaptiveThreshold", "winner_take_all", "lateral_inhibition"]
