"""Astrocyte-modulated STDP (after NALSM, Ivanov & Michmizos 2021): plasticity that steers a liquid
toward the critical branching factor.

An astrocyte listens to the liquid's population activity ``A(t)`` and keeps exponentially weighted
moments of ``A(t-1)`` and ``A(t)`` (time constant ``tau_astro`` steps); the running regression slope
of ``A(t)`` on ``A(t-1)`` is its estimate of the branching factor ``sigma_hat`` (how many spikes one
spike causes a step later; the "regression" estimator of :mod:`snnkit.analysis.branching`). Its state is the
distance to the target, ``a = sigma_target - sigma_hat``, and it gates the two sides of pair STDP:

    dw = A+ * g+(a) * (post (x) x_pre) - A- * g-(a) * (x_post (x) pre),
    g+(a) = clip(1 + gain * a, 0, 2),   g-(a) = clip(1 - gain * a, 0, 2)

A subcritical liquid (``a > 0``) potentiates more than it depresses, so recurrent weights grow and
activity branches more; a supercritical one depresses. With ``gain = 0`` the rule is plain pair STDP.
This is our formulation of the mechanism the paper describes (an astrocyte integrating liquid
activity and biasing LTP against LTD); the paper's exact equations differ in detail.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import _checks
from .stdp import PairSTDP
from .synapse_views import SynapseView


class Astrocyte:
    """Running branching-factor estimate of a population and its distance to ``target`` (see module doc)."""

    def __init__(self, target: float = 1.0, tau_astro: float = 50.0) -> None:
        _checks.positive("target", target)
        _checks.positive("tau_astro", tau_astro)
        self.target, self.decay = float(target), math.exp(-1.0 / tau_astro)
        self.reset()

    def reset(self) -> None:
        self.moments = [0.0, 0.0, 0.0, 0.0]       # E[x], E[y], E[x y], E[x x] with x = A(t-1), y = A(t)
        self.weight = 0.0                         # total weight, to undo the zero start (bias correction)
        self.previous: float | None = None

    def observe(self, spikes: Tensor) -> float:
        """Feed one step's spikes ``[B, n]`` (summed over the batch); returns the state ``a``."""
        count = float(spikes.detach().sum())
        if self.previous is not None:
            x, y, k = self.previous, count, 1 - self.decay
            for i, value in enumerate((x, y, x * y, x * x)):
                self.moments[i] += k * (value - self.moments[i])
            self.weight += k * (1 - self.weight)
        self.previous = count
        return self.state

    @property
    def sigma_hat(self) -> float:
        if self.weight == 0:
            return float("nan")
        mx, my, mxy, mxx = (m / self.weight for m in self.moments)
        var = mxx - mx * mx
        return (mxy - mx * my) / var if var > 1e-12 else float("nan")

    @property
    def state(self) -> float:
        sigma = self.sigma_hat
        return 0.0 if math.isnan(sigma) else self.target - sigma


class AstrocyteGatedSTDP(PairSTDP):
    """Pair STDP on recurrent synapses whose LTP/LTD balance an :class:`Astrocyte` sets.

    Step it with ``pre`` = the liquid's spikes of the previous step and ``post`` = this step's spikes.
    ``mask`` (weight-shaped, bool) limits learning to the plastic synapses (e.g. existing excitatory
    ones, so Dale's law and the sparsity pattern survive); ``gain`` scales the astrocyte's influence.
    Other arguments as :class:`PairSTDP`.
    """

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, astrocyte: Astrocyte | None = None,
                 gain: float = 2.0, mask: Tensor | None = None, **stdp: object) -> None:
        base_plus, base_minus = stdp.pop("a_plus", 0.01), stdp.pop("a_minus", 0.0105)
        super().__init__(synapse, a_plus=self._ltp_amplitude, a_minus=self._ltd_amplitude, **stdp)
        if callable(base_plus) or callable(base_minus):
            raise TypeError("AstrocyteGatedSTDP takes numeric a_plus/a_minus (the astrocyte supplies the gating)")
        self.base_plus, self.base_minus, self.gain = float(base_plus), float(base_minus), float(gain)
        self.astrocyte = astrocyte if astrocyte is not None else Astrocyte()
        if mask is not None and mask.shape != self.weight.shape:
            raise ValueError(f"mask shape {tuple(mask.shape)} must equal the weight shape {tuple(self.weight.shape)}")
        self.mask = mask

    def _ltp_amplitude(self, w: Tensor) -> float:
        return self.base_plus * min(max(1 + self.gain * self.astrocyte.state, 0.0), 2.0)

    def _ltd_amplitude(self, w: Tensor) -> float:
        return self.base_minus * min(max(1 - self.gain * self.astrocyte.state, 0.0), 2.0)

    def reset(self) -> None:
        super().reset()
        self.astrocyte.reset()

    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        self.astrocyte.observe(post)
        dw = super().delta(pre, post, modulator)
        return dw if self.mask is None else dw * self.mask


__all__ = ["Astrocyte", "AstrocyteGatedSTDP"]
