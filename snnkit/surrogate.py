"""Spike functions with surrogate gradients.

The forward pass of every spike function is the Heaviside step ``x > 0`` (strict, like snntorch and
norse; spikingjelly uses ``x >= 0``, which differs only where the membrane sits exactly on the
threshold). The backward pass replaces the step's derivative with a smooth *surrogate* whose width is
set by one shape parameter ``alpha`` (larger ``alpha`` = sharper surrogate).

Surrogates are small frozen objects, looked up by name::

    sg = snnkit.surrogate.get("atan", alpha=2.0)
    spikes = sg(v - v_th)            # Heaviside forward, atan-derivative backward
    sg.derivative(v - v_th)          # the surrogate derivative itself (used by fused engines)

Registered names (default ``alpha`` in brackets), with the derivative ``g'(x)``:

- ``atan`` [2.0]: ``alpha / 2 / (1 + (pi/2 * alpha * x)^2)`` (Fang et al. 2021; snntorch ``ATan``)
- ``sigmoid`` [4.0]: ``alpha * sig(alpha x) * (1 - sig(alpha x))``
- ``fast_sigmoid`` [25.0]: ``1 / (1 + alpha |x|)^2`` (SuperSpike, Zenke & Ganguli 2018)
- ``triangle`` [1.0]: ``alpha * max(0, 1 - alpha |x|)`` (support ``|x| < 1/alpha``)
- ``rectangular`` [1.0]: ``alpha`` where ``|x| < 1/(2 alpha)``, else 0 (unit area)
- ``gaussian`` [2.0]: ``alpha / sqrt(pi) * exp(-(alpha x)^2)`` (derivative of ``erfc``; alias ``erf``)
- ``piecewise_quadratic`` [1.0]: ``alpha - alpha^2 |x|`` where ``|x| < 1/alpha``, else 0
- ``periodic`` [pi]: square wave forward (the step), sine backward: the derivative of
  ``(2/pi) sin(alpha x)``, i.e. ``(2 alpha / pi) cos(alpha x)`` on ``|x| < pi / (2 alpha)``, else 0
  (the first Fourier term of a square wave of period ``2 pi / alpha``, restricted to its central lobe).
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import Tensor

__all__ = ["Surrogate", "get", "register", "names", "spike", "heaviside"]

_DerivativeFn = Callable[[Tensor, float], Tensor]
_REGISTRY: dict[str, tuple[_DerivativeFn, float]] = {}


def register(name: str, default_alpha: float) -> Callable[[_DerivativeFn], _DerivativeFn]:
    """Register ``fn(x, alpha) -> derivative`` under ``name`` (decorator)."""

    def wrap(fn: _DerivativeFn) -> _DerivativeFn:
        _REGISTRY[name] = (fn, float(default_alpha))
        return fn

    return wrap


def names() -> list[str]:
    """The registered surrogate names."""
    return sorted(_REGISTRY)


@dataclass(frozen=True)
class Surrogate:
    """A named surrogate with its shape parameter. Call it on ``v - v_th`` to get spikes."""

    name: str = "atan"
    alpha: float = 2.0

    def __post_init__(self) -> None:
        if self.name not in _REGISTRY:
            raise ValueError(f"surrogate name={self.name!r} is unknown; allowed: {names()}")
        if not (isinstance(self.alpha, (int, float)) and math.isfinite(self.alpha) and self.alpha > 0):
            raise ValueError(f"surrogate alpha={self.alpha!r} must be a finite number > 0")

    def derivative(self, x: Tensor) -> Tensor:
        """The surrogate derivative at ``x = v - v_th``."""
        return _REGISTRY[self.name][0](x, float(self.alpha))

    def __call__(self, x: Tensor) -> Tensor:
        if not (x.requires_grad and torch.is_grad_enabled()):   # no graph: the plain step, no Function call
            return heaviside(x)
        return spike(x, self)


def get(name: str | Surrogate = "atan", alpha: float | None = None) -> Surrogate:
    """Return the surrogate called ``name`` (or pass a :class:`Surrogate` through).

    ``alpha`` defaults to the surrogate's registered default.
    """
    if isinstance(name, Surrogate):
        return name if alpha is None else Surrogate(name.name, float(alpha))
    if not isinstance(name, str):
        raise TypeError(f"surrogate={name!r} must be a name (str) or a Surrogate; allowed names: {names()}")
    key = "gaussian" if name == "erf" else name
    if key not in _REGISTRY:
        raise ValueError(f"surrogate={name!r} is unknown; allowed: {names()}")
    return Surrogate(key, _REGISTRY[key][1] if alpha is None else float(alpha))


def heaviside(x: Tensor) -> Tensor:
    """The spike itself: 1 where ``x > 0``, else 0, in ``x``'s dtype (no gradient)."""
    return (x > 0).to(x.dtype)


class _Spike(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, surrogate: Surrogate) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return heaviside(x)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(x), None


def spike(x: Tensor, surrogate: Surrogate | str = "atan") -> Tensor:
    """Heaviside step of ``x`` with the surrogate gradient ``surrogate``."""
    return _Spike.apply(x, get(surrogate))


@register("atan", 2.0)
def _atan(x: Tensor, alpha: float) -> Tensor:
    return (alpha / 2) / (1 + (math.pi / 2 * alpha * x) ** 2)


@register("sigmoid", 4.0)
def _sigmoid(x: Tensor, alpha: float) -> Tensor:
    s = torch.sigmoid(alpha * x)
    return alpha * s * (1 - s)


@register("fast_sigmoid", 25.0)
def _fast_sigmoid(x: Tensor, alpha: float) -> Tensor:
    return 1 / (1 + alpha * x.abs()) ** 2


@register("triangle", 1.0)
def _triangle(x: Tensor, alpha: float) -> Tensor:
    return alpha * (1 - alpha * x.abs()).clamp_min(0)


@register("rectangular", 1.0)
def _rectangular(x: Tensor, alpha: float) -> Tensor:
    return alpha * (x.abs() < 0.5 / alpha).to(x.dtype)


@register("gaussian", 2.0)
def _gaussian(x: Tensor, alpha: float) -> Tensor:
    return alpha / math.sqrt(math.pi) * torch.exp(-((alpha * x) ** 2))


@register("piecewise_quadratic", 1.0)
def _piecewise_quadratic(x: Tensor, alpha: float) -> Tensor:
    return (alpha - alpha * alpha * x.abs()).clamp_min(0)


@register("periodic", math.pi)
def _periodic(x: Tensor, alpha: float) -> Tensor:
    central = (x.abs() < math.pi / (2 * alpha)).to(x.dtype)
    return (2 * alpha / math.pi) * torch.cos(alpha * x) * central
