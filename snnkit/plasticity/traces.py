"""Synaptic traces: low-pass filtered spike trains, the memory every local rule reads.

One trace obeys, per step of length ``dt``::

    x[t] = decay * x[t-1] + increment * s[t]

``decay`` comes from :func:`snnkit.functional.decay` (``"exp"``: ``exp(-dt/tau)``, ``"euler"``:
``1 - dt/tau``), the one place where tau is mapped to a decay factor. ``increment`` is ``scale`` per
spike (``increment="one"``, spikingjelly's convention) or ``scale * dt / tau``
(``increment="dt_over_tau"``, norse's convention, where ``scale`` is norse's ``a_pre``/``a_post``).
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Literal

import torch
from torch import Tensor

from .. import _checks
from ..functional import decay as _decay

Increment = Literal["one", "dt_over_tau"]
INCREMENTS = ("one", "dt_over_tau")
DecayMethod = Literal["exp", "euler"]


@dataclass(frozen=True)
class TraceParameters:
    """How one trace decays and how much one spike adds (see the module docstring)."""

    tau: float
    dt: float = 1.0
    method: DecayMethod = "exp"
    increment: Increment = "one"
    scale: float = 1.0

    def __post_init__(self) -> None:
        _checks.positive("tau", self.tau)
        _checks.positive("dt", self.dt)
        _checks.one_of("increment", self.increment, INCREMENTS)
        _checks.one_of("method", self.method, ("exp", "euler"))

    @cached_property
    def decay(self) -> float:
        """The per-step decay factor (a float: rules use it as a scalar; computed once, as rules read it
        every step)."""
        return float(_decay(float(self.tau), self.dt, self.method, "tau").double())

    @property
    def gain(self) -> float:
        """What one spike adds to the trace."""
        return self.scale * (1.0 if self.increment == "one" else self.dt / self.tau)


def trace_step(trace: Tensor | None, spikes: Tensor, p: TraceParameters) -> Tensor:
    """One step of the trace of ``spikes`` (any shape); ``trace=None`` starts from zero."""
    if trace is None:
        return spikes * p.gain
    return trace.mul(p.decay).add_(spikes, alpha=p.gain)


def trace_multistep(spikes: Tensor, p: TraceParameters, trace: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Traces of a time-major spike train ``[T, ...]``: returns ``(traces [T, ...], last trace)``."""
    out = torch.empty_like(spikes)
    for t, s in enumerate(spikes.unbind(0)):
        trace = trace_step(trace, s, p)
        out[t] = trace
    return out, trace  # type: ignore[return-value]


__all__ = ["TraceParameters", "trace_step", "trace_multistep", "INCREMENTS"]
