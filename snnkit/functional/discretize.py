"""The one place where physical time constants map to discrete-time decay factors (and back).

Two discretisations of ``tau dv/dt = -v + input`` over a step ``dt`` are offered:

- ``"exp"`` (default, exact for piecewise-constant input): ``beta = exp(-dt / tau)``; stable for any dt;
- ``"euler"`` (forward Euler, norse's and spikingjelly's choice): ``beta = 1 - dt / tau``; it
  oscillates for ``dt > tau`` and diverges for ``dt >= 2 tau``, so ``dt > tau`` is refused.

Exporters (NIR, Lava) convert back with :func:`tau_from_decay` using the same method.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .. import _checks

Method = Literal["exp", "euler"]
METHODS = ("exp", "euler")


def check_tau(tau: float | Tensor, dt: float = 1.0, method: Method = "exp", name: str = "tau") -> None:
    """Validate a time constant for :func:`decay`: positive, and ``dt <= tau`` for ``"euler"``.

    Numbers are always checked; tensors only in debug mode (:func:`snnkit.set_debug`), because reading
    a tensor's values is a device sync. The neuron layers check their tensors once, when they are set."""
    _checks.one_of("method", method, METHODS)
    _checks.positive("dt", dt)
    _checks.param_positive(name, tau)
    if method != "euler":
        return
    if isinstance(tau, Tensor):
        if _checks.debug_enabled() and _checks.readable(tau) and bool((dt > tau.detach()).any()):
            raise ValueError(f"dt={dt} exceeds {name}={float(tau.detach().min())} with method='euler': unstable; "
                             "allowed: dt <= tau, or method='exp'")
    elif dt > tau:
        raise ValueError(f"dt={dt} exceeds {name}={tau} with method='euler': unstable; allowed: dt <= tau, "
                         "or method='exp'")


def decay(tau: float | Tensor, dt: float = 1.0, method: Method = "exp", name: str = "tau") -> Tensor:
    """Decay factor per step for time constant ``tau`` (same unit as ``dt``). Differentiable in ``tau``."""
    check_tau(tau, dt, method, name)
    tau_t = tau if isinstance(tau, Tensor) else torch.tensor(float(tau))
    if method == "exp":
        return torch.exp(-dt / tau_t)
    return 1 - dt / tau_t


def tau_from_decay(beta: float | Tensor, dt: float = 1.0, method: Method = "exp") -> Tensor:
    """Inverse of :func:`decay`: the time constant that gives decay factor ``beta`` (0 < beta < 1)."""
    _checks.one_of("method", method, METHODS)
    b = beta if isinstance(beta, Tensor) else torch.tensor(float(beta), dtype=torch.float64)
    if bool(((b <= 0) | (b >= 1)).any()):
        raise ValueError(f"beta={beta!r} must lie in (0, 1) to have a finite positive time constant")
    return -dt / torch.log(b) if method == "exp" else dt / (1 - b)


def decay_float(tau: float, dt: float = 1.0, method: Method = "exp") -> float:
    """:func:`decay` as a Python float (for peers and exporters that want a number)."""
    return float(decay(float(tau), dt, method).to(torch.float32))


__all__ = ["check_tau", "decay", "tau_from_decay", "decay_float", "METHODS", "Method"]
