"""Adaptive LIF (ALIF, Bellec et al. 2018): every spike raises the neuron's threshold, which relaxes back.

Per step, ``beta = decay(tau_mem)``, ``rho = decay(tau_adapt)``::

    h[t]   = beta * v[t-1] + x[t]
    th[t]  = v_th + beta_adapt * a[t-1]
    s[t]   = Heaviside(h[t] - th[t])
    v[t]   = reset(h[t], s[t], th[t])          (as in LIF, subtracting th[t] for reset="subtract")
    a[t]   = rho * a[t-1] + s[t]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from .. import _checks
from .discretize import check_tau, decay
from .lif import LIFParameters, integrate, reset_membrane
from .scan import at_rest, scan


class ALIFState(NamedTuple):
    """State of an ALIF population: membrane ``v`` and adaptation ``a``."""

    v: Tensor
    a: Tensor

def _subtract_lif() -> LIFParameters:
    return LIFParameters(reset="subtract")


@dataclass(frozen=True)
class ALIFParameters:
    tau_adapt: float | Tensor = 200.0
    beta_adapt: float | Tensor = 1.8
    lif: LIFParameters = field(default_factory=_subtract_lif)

    def __post_init__(self) -> None:
        check_tau(self.tau_adapt, self.lif.dt, self.lif.method, "tau_adapt")
        _checks.param_finite("beta_adapt", self.beta_adapt)

    def rho(self, like: Tensor) -> Tensor:
        """The per-step decay of the adaptation, on ``like``'s device and dtype."""
        return decay(self.tau_adapt, self.lif.dt, self.lif.method, "tau_adapt").to(like.device, like.dtype)

    def threshold(self, a: Tensor, like: Tensor) -> Tensor:
        """The adapted threshold ``v_th + beta_adapt * a``."""
        return self.lif.threshold(like) + self.beta_adapt * a


def adapt(a: Tensor, s: Tensor, rho: Tensor | float) -> Tensor:
    """The adaptation after spikes ``s``: ``rho * a + s``."""
    return rho * a + s


def alif_step(x: Tensor, state: tuple[Tensor, Tensor] | None, p: ALIFParameters
              ) -> tuple[Tensor, ALIFState]:
    """One step; ``state = (v, a)`` (``None``: at rest). Returns ``(spikes, ALIFState(v, a))``."""
    v, a = at_rest(ALIFState, x) if state is None else state
    th = p.threshold(a, x)
    h = integrate(x, v, p.lif.beta(x), p.lif.decay_input)
    s = p.lif.surrogate(h - th)
    v = reset_membrane(h, s, th, p.lif)
    return s, ALIFState(v, adapt(a, s, p.rho(x)))


def alif_multistep(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: ALIFParameters
                   ) -> tuple[Tensor, ALIFState]:
    """Reference multi-step ALIF over ``xs [T, B, ...]``: ``(spikes, final ALIFState)``."""
    return scan(alif_step, xs, state, p)


