"""Izhikevich (2003) neurons, integrated by forward Euler with step ``dt`` (ms)::

    v' = 0.04 v^2 + 5 v + 140 - u + input_scale * x
    u' = a (b v - u)
    if v >= v_peak (30 mV): v <- c, u <- u + d     (spike; surrogate gradient through v - v_peak)

``PRESETS`` holds the published parameter sets (Izhikevich 2003, Fig. 2). Euler on this quadratic
model is only trustworthy for small steps, so ``dt`` is limited to (0, 1] ms.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import torch
from torch import Tensor

from .. import _checks
from ..surrogate import Surrogate, get as get_surrogate

MAX_DT = 1.0

PRESETS: dict[str, tuple[float, float, float, float]] = {
    "regular_spiking": (0.02, 0.2, -65.0, 8.0),
    "intrinsically_bursting": (0.02, 0.2, -55.0, 4.0),
    "chattering": (0.02, 0.2, -50.0, 2.0),
    "fast_spiking": (0.1, 0.2, -65.0, 2.0),
    "low_threshold_spiking": (0.02, 0.25, -65.0, 2.0),
    "thalamo_cortical": (0.02, 0.25, -65.0, 0.05),
    "resonator": (0.1, 0.26, -65.0, 2.0),
}


class IzhikevichState(NamedTuple):
    """State of an Izhikevich population: membrane ``v`` (mV) and recovery ``u``."""

    v: Tensor
    u: Tensor


@dataclass(frozen=True)
class IzhikevichParameters:
    a: float | Tensor = 0.02
    b: float | Tensor = 0.2
    c: float | Tensor = -65.0
    d: float | Tensor = 8.0
    input_scale: float = 1.0
    dt: float = 0.5
    v_peak: float = 30.0
    surrogate: Surrogate = field(default_factory=lambda: get_surrogate("fast_sigmoid", 0.25))
    detach_reset: bool = True

    def __post_init__(self) -> None:
        _checks.positive("dt", self.dt)
        if self.dt > MAX_DT:
            raise ValueError(f"dt={self.dt} ms is too large for Euler integration of the Izhikevich model; "
                             f"allowed: 0 < dt <= {MAX_DT}")
        for name in ("a", "b", "c", "d", "input_scale", "v_peak"):
            _checks.param_finite(name, getattr(self, name))

    @classmethod
    def preset(cls, name: str, **overrides: object) -> "IzhikevichParameters":
        """The published parameters called ``name`` (see ``PRESETS``)."""
        _checks.one_of("preset", name, PRESETS)
        a, b, c, d = PRESETS[name]
        return cls(a=a, b=b, c=c, d=d, **overrides)  # type: ignore[arg-type]

    def initial_state(self, like: Tensor) -> IzhikevichState:
        v = torch.full_like(like, -65.0)
        return IzhikevichState(v, self.b * v)


def izhikevich_step(x: Tensor, state: tuple[Tensor, Tensor], p: IzhikevichParameters
                    ) -> tuple[Tensor, IzhikevichState]:
    """One Euler step; ``state = (v, u)``. Returns ``(spikes, IzhikevichState(v, u))``."""
    v, u = state
    v_new = v + p.dt * (0.04 * v * v + 5 * v + 140 - u + p.input_scale * x)
    u_new = u + p.dt * p.a * (p.b * v - u)
    s = p.surrogate(v_new - p.v_peak)
    sr = s.detach() if p.detach_reset else s
    v_new = v_new * (1 - sr) + p.c * sr
    return s, IzhikevichState(v_new, u_new + p.d * sr)


def izhikevich_multistep(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: IzhikevichParameters,
                         record_membrane: bool = False) -> tuple[Tensor, tuple[Tensor, Tensor] | Tensor]:
    """Multi-step Izhikevich; returns ``(spikes, (v, u))`` or ``(spikes, v_seq)`` when recording."""
    state = p.initial_state(xs[0]) if state is None else state
    out, vs = [], []
    for x in xs.unbind(0):
        s, state = izhikevich_step(x, state, p)
        out.append(s)
        if record_membrane:
            vs.append(state[0])
    return torch.stack(out), (torch.stack(vs) if record_membrane else state)
