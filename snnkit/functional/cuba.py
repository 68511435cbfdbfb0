"""Current-based LIF (CUBA): a synaptic current filters the input before the membrane.

Per step, ``syn_decay = decay(tau_syn, dt)``, ``beta = decay(tau_mem, dt)``::

    i[t] = syn_decay * i[t-1] + x[t]
    h[t] = beta * v[t-1] + i[t]                 ((1 - beta) * i[t] with decay_input=True)
    s[t] = Heaviside(h[t] - v_th);  v[t] = reset(h[t], s[t])   (as in LIF)

This is the model of Lava's LIF process (``du = 1 - syn_decay``, ``dv = 1 - beta``) and NIR's CubaLIF.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from .._compat import renamed_attribute
from .discretize import check_tau, decay
from .lif import LIFParameters, integrate, reset_membrane
from .scan import at_rest, scan


class CubaLIFState(NamedTuple):
    """State of a CUBA LIF population: synaptic current ``i`` and membrane ``v``."""

    i: Tensor
    v: Tensor

@dataclass(frozen=True)
class CubaLIFParameters:
    tau_syn: float | Tensor = 5.0
    lif: LIFParameters = field(default_factory=LIFParameters)

    def __post_init__(self) -> None:
        check_tau(self.tau_syn, self.lif.dt, self.lif.method, "tau_syn")

    def syn_decay(self, like: Tensor) -> Tensor:
        """The per-step decay of the synaptic current, on ``like``'s device and dtype."""
        return decay(self.tau_syn, self.lif.dt, self.lif.method, "tau_syn").to(like.device, like.dtype)

    def alpha(self, like: Tensor) -> Tensor:
        """Deprecated name of :meth:`syn_decay` (``alpha`` means surrogate sharpness elsewhere)."""
        renamed_attribute("CubaLIFParameters", "alpha", "syn_decay")
        return self.syn_decay(like)


def cuba_lif_step(x: Tensor, state: tuple[Tensor, Tensor] | None, p: CubaLIFParameters
                  ) -> tuple[Tensor, CubaLIFState]:
    """One step; ``state = (i, v)`` (``None``: at rest). Returns ``(spikes, CubaLIFState(i, v))``."""
    i, v = at_rest(CubaLIFState, x) if state is None else state
    i = p.syn_decay(x) * i + x
    beta, th = p.lif.beta(x), p.lif.threshold(x)
    h = integrate(i, v, beta, p.lif.decay_input)
    s = p.lif.surrogate(h - th)
    return s, CubaLIFState(i, reset_membrane(h, s, th, p.lif))


def cuba_lif_multistep(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: CubaLIFParameters
                       ) -> tuple[Tensor, CubaLIFState]:
    """Reference multi-step CUBA LIF over ``xs [T, B, ...]``: ``(spikes, final CubaLIFState)``."""
    return scan(cuba_lif_step, xs, state, p)
