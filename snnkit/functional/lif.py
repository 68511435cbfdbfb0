"""Leaky integrate-and-fire (LIF) and integrate-and-fire (IF) dynamics: the reference definition.

Per step, with ``beta = decay(tau_mem, dt)`` (see :mod:`snnkit.functional.discretize`)::

    h[t] = beta * v[t-1] + x[t]                 (decay_input=False)
    h[t] = beta * v[t-1] + (1 - beta) * x[t]    (decay_input=True)
    s[t] = Heaviside(h[t] - v_th)               (surrogate gradient)
    v[t] = h[t] * (1 - s[t]) + v_reset * s[t]   (reset="hard")
    v[t] = h[t] - v_th * s[t]                   (reset="subtract", "soft")
    v[t] = h[t]                                 (reset="none")

With ``detach_reset=True`` the ``s[t]`` inside the reset carries no gradient. IF is LIF with
``beta = 1`` (no leak). The fused engines in :mod:`snnkit.kernels` compute exactly this.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from torch import Tensor

from .. import _checks
from ..surrogate import Surrogate, get as get_surrogate
from .discretize import Method, check_tau, decay

ResetMode = Literal["hard", "subtract", "none"]
RESET_MODES = ("hard", "subtract", "none")


def _surrogate_field() -> Surrogate:
    return get_surrogate("atan")


@dataclass(frozen=True)
class LIFParameters:
    """Parameters of a LIF population; tensors broadcast over the feature dims ``[...]`` of ``[B, ...]``.

    ``tau_mem`` is in the unit of ``dt`` (e.g. ms). ``tau_mem=None`` means no leak (IF).
    """

    tau_mem: float | Tensor | None = 10.0
    dt: float = 1.0
    v_th: float | Tensor = 1.0
    v_reset: float = 0.0
    reset: ResetMode = "hard"
    decay_input: bool = False
    method: Method = "exp"
    surrogate: Surrogate = field(default_factory=_surrogate_field)
    detach_reset: bool = False

    def __post_init__(self) -> None:
        _checks.one_of("reset", self.reset, RESET_MODES)
        _checks.positive("dt", self.dt)
        if self.tau_mem is not None:  # tau_mem > 0 and a stable discretisation (tensors: debug mode only)
            check_tau(self.tau_mem, self.dt, self.method, "tau_mem")
        _checks.param_finite("v_th", self.v_th)
        _checks.param_finite("v_reset", self.v_reset)
        if not isinstance(self.surrogate, Surrogate):
            object.__setattr__(self, "surrogate", get_surrogate(self.surrogate))

    def beta(self, like: Tensor) -> Tensor:
        """The per-step membrane decay as a tensor on ``like``'s device and dtype (1 for IF)."""
        if self.tau_mem is None:
            return torch.ones((), dtype=like.dtype, device=like.device)
        return decay(self.tau_mem, self.dt, self.method, "tau_mem").to(device=like.device, dtype=like.dtype)

    def threshold(self, like: Tensor) -> Tensor:
        th = self.v_th if isinstance(self.v_th, Tensor) else torch.tensor(float(self.v_th))
        return th.to(device=like.device, dtype=like.dtype)


def IFParameters(v_th: float | Tensor = 1.0, v_reset: float = 0.0, reset: ResetMode = "subtract",
                 surrogate: Surrogate | str = "atan", detach_reset: bool = False) -> LIFParameters:
    """Parameters of a non-leaky integrate-and-fire population (LIF without leak)."""
    return LIFParameters(tau_mem=None, v_th=v_th, v_reset=v_reset, reset=reset,
                         surrogate=get_surrogate(surrogate), detach_reset=detach_reset)


def integrate(x: Tensor, v: Tensor, beta: Tensor, decay_input: bool) -> Tensor:
    """The leaky integration ``h = beta v + x`` (or ``+ (1 - beta) x``)."""
    return beta * v + ((1 - beta) * x if decay_input else x)


def reset_membrane(h: Tensor, s: Tensor, v_th: Tensor, p: LIFParameters) -> Tensor:
    """Apply the reset of ``p.reset`` to the pre-reset membrane ``h`` given spikes ``s`` (0/1, or a bool
    mask). This is the one definition of the reset: the fused engines call it too."""
    if p.reset == "none":
        return h
    if s.dtype == torch.bool or not (torch.is_grad_enabled() and (h.requires_grad or s.requires_grad)):
        # no graph to build: select instead of blend (same values for s in {0, 1}), one kernel, not three
        fired = s if s.dtype == torch.bool else s != 0
        return h.masked_fill(fired, p.v_reset) if p.reset == "hard" else torch.where(fired, h - v_th, h)
    sr = s.detach() if p.detach_reset else s
    if p.reset == "hard":
        return h * (1 - sr) + p.v_reset * sr
    return h - v_th * sr


def lif_step(x: Tensor, v: Tensor, p: LIFParameters, constants: tuple[Tensor, Tensor] | None = None
             ) -> tuple[Tensor, Tensor]:
    """One step: input current ``x`` and membrane ``v`` (both ``[B, ...]``) -> (spikes, new membrane).
    ``constants``: ``(p.beta(x), p.threshold(x))`` when the caller already has them (streaming)."""
    beta, th = (p.beta(x), p.threshold(x)) if constants is None else constants
    h = integrate(x, v, beta, p.decay_input)
    s = p.surrogate(h - th)
    return s, reset_membrane(h, s, th, p)


def lif_multistep(xs: Tensor, v0: Tensor | None, p: LIFParameters,
                  record_membrane: bool = False) -> tuple[Tensor, Tensor]:
    """Reference multi-step LIF over time-major ``xs`` ``[T, B, ...]``.

    Returns ``(spikes [T, B, ...], v_last)``, or ``(spikes, v_seq [T, B, ...])`` with
    ``record_membrane=True`` (post-reset membranes).
    """
    v = torch.zeros_like(xs[0]) if v0 is None else v0
    beta, th = p.beta(xs), p.threshold(xs)
    spikes, vs = [], []
    for x in xs.unbind(0):  # unbind, not xs[t]: keeps backward O(T)
        h = integrate(x, v, beta, p.decay_input)
        s = p.surrogate(h - th)
        v = reset_membrane(h, s, th, p)
        spikes.append(s)
        if record_membrane:
            vs.append(v)
    return torch.stack(spikes), (torch.stack(vs) if record_membrane else v)
