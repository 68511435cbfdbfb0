"""Non-spiking leaky integrator (LI): the usual readout of a spiking network.

``v[t] = beta * v[t-1] + x[t]`` (or ``+ (1 - beta) x[t]`` with ``decay_input=True``); the output is ``v``,
and so is the state.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .discretize import Method, check_tau, decay
from .lif import integrate


@dataclass(frozen=True)
class LIParameters:
    tau_mem: float | Tensor = 10.0
    dt: float = 1.0
    decay_input: bool = False
    method: Method = "exp"

    def __post_init__(self) -> None:
        check_tau(self.tau_mem, self.dt, self.method, "tau_mem")

    def beta(self, like: Tensor) -> Tensor:
        return decay(self.tau_mem, self.dt, self.method, "tau_mem").to(like.device, like.dtype)


def li_step(x: Tensor, v: Tensor, p: LIParameters) -> Tensor:
    return integrate(x, v, p.beta(x), p.decay_input)


def li_multistep(xs: Tensor, v0: Tensor | None, p: LIParameters) -> tuple[Tensor, Tensor]:
    """Reference multi-step LI over ``xs [T, B, ...]`` (``v0 = None``: at rest): ``(membranes [T, B, ...],
    final membrane)``, the output and final state as every multi-step function returns them."""
    v = torch.zeros_like(xs[0]) if v0 is None else v0
    beta = p.beta(xs)
    out = []
    for x in xs.unbind(0):
        v = integrate(x, v, beta, p.decay_input)
        out.append(v)
    return torch.stack(out), v
