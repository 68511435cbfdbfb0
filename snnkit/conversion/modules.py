"""Modules the converter puts into a converted network, and the QCFS activation for conversion-aware
ANN training. All spiking modules run on time-major ``[T, B, ...]`` input."""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import _checks
from ..neurons import IF, LIF


class _InitialMembrane:
    """Start the membrane at ``v_init * v_th`` instead of 0 when no state is given.

    Half the threshold (``v_init=0.5``) centres the rounding error of an IF neuron's rate: the rate
    after T steps is then ``round(x T / v_th) / T`` instead of ``floor(...)`` (Bu et al., ICLR 2022)."""

    v_init: float
    v_th: Tensor

    def _start(self, x0: Tensor) -> Tensor | None:
        if self.v_init == 0.0:
            return None
        return torch.zeros_like(x0) + self.v_init * self.v_th.to(x0)

    def run(self, x: Tensor, state: Any = None, record_membrane: bool = False):  # type: ignore[override]
        if state is None:
            state = self._start(x[0])
        return super().run(x, state, record_membrane)  # type: ignore[misc]

    def step(self, x: Tensor, state: Any = None):  # type: ignore[override]
        if state is None:
            state = self._start(x)
        return super().step(x, state)  # type: ignore[misc]


def _threshold_buffer(threshold: float | Tensor) -> Tensor:
    t = torch.as_tensor(threshold, dtype=torch.float32).detach().clone()
    _checks.positive("threshold", t)
    return t


RESETS = ("subtract", "zero")
_NEURON_RESET = {"subtract": "subtract", "zero": "hard"}  # conversion's name -> LIF's reset (v_reset = 0)


def neuron_reset(reset: str) -> str:
    """The :class:`snnkit.neurons.LIF` reset mode of a conversion ``reset`` option (``"zero"`` is the
    hard reset to ``v_reset = 0``)."""
    _checks.one_of("reset", reset, RESETS)
    return _NEURON_RESET[reset]


def conversion_reset(layer: LIF) -> str | None:
    """The conversion ``reset`` option a LIF population implements (inverse of :func:`neuron_reset`),
    ``None`` if it has none (no reset, or a hard reset to ``v_reset != 0``)."""
    if layer.reset == "hard" and layer.v_reset == 0.0:
        return "zero"
    return "subtract" if layer.reset == "subtract" else None


class ConvertedIF(_InitialMembrane, IF):
    """An :class:`snnkit.neurons.IF` population with a per-layer or per-channel threshold tensor (shape
    ``()``, ``(F,)`` or ``(C, 1[, 1])``) and an initial membrane fraction.

    ``reset="subtract"`` (default) keeps the charge above the threshold after a spike, so the rate
    tracks the ReLU closely; ``reset="zero"`` sets the membrane to 0 (Diehl et al. 2015), losing that
    residue (more steps for the same accuracy) but matching Loihi's LIF."""

    def __init__(self, threshold: float | Tensor = 1.0, v_init: float = 0.0, surrogate: str = "atan",
                 reset: str = "subtract") -> None:
        super().__init__(v_th=1.0, reset=neuron_reset(reset), surrogate=surrogate)
        self.v_th = _threshold_buffer(threshold)
        self.v_init = float(v_init)

    def extra_repr(self) -> str:
        return (f"threshold_shape={tuple(self.v_th.shape)}, v_init={self.v_init}, "
                f"reset={conversion_reset(self)!r}")


class ConvertedLIF(_InitialMembrane, LIF):
    """Leaky variant of :class:`ConvertedIF` (same ``reset`` options; the leak costs accuracy)."""

    def __init__(self, threshold: float | Tensor = 1.0, tau_mem: float = 100.0, v_init: float = 0.0,
                 surrogate: str = "atan", reset: str = "subtract") -> None:
        super().__init__(tau_mem=tau_mem, v_th=1.0, reset=neuron_reset(reset), surrogate=surrogate)
        self.v_th = _threshold_buffer(threshold)
        self.v_init = float(v_init)


class ChannelScale(nn.Module):
    """Multiply by a fixed per-layer or per-channel factor (the spike amplitude of the neurons before
    it). The converter folds it into the next weight layer wherever that is possible."""

    def __init__(self, scale: float | Tensor) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).detach().clone())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale.to(x)

    def extra_repr(self) -> str:
        return f"shape={tuple(self.scale.shape)}"


class SpikeMaxPool(nn.Module):
    """Spike-based max pooling. With ``C[t]`` the running sum of the input, the output at ``t`` is
    ``maxpool(C[t]) - maxpool(C[t-1])``, so the output count over any prefix equals the max-pool of the
    input counts (the max rate passes through exactly). For 0/1 spike input the output is 0/1 too,
    because a running max of counts rises by at most one per step."""

    def __init__(self, pool: nn.Module) -> None:
        super().__init__()
        self.pool = pool

    def _pool(self, c: Tensor) -> Tensor:
        T, B = c.shape[:2]
        y = self.pool(c.reshape(T * B, *c.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])

    def run(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        _checks.time_major("x", x, min_rank=3)
        counts = torch.cumsum(x, dim=0)
        if state is not None:
            counts = counts + state[0]
        pooled = self._pool(counts)
        previous = torch.zeros_like(pooled[:1]) if state is None else state[1].unsqueeze(0)
        out = torch.diff(pooled, dim=0, prepend=previous)
        return out, (counts[-1], pooled[-1])

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x)[0]


class QCFS(nn.Module):
    """Quantised clip-floor-shift activation (Bu et al., ICLR 2022) for conversion-aware ANN training:
    ``y = lam / L * clamp(floor(x L / lam + 1/2), 0, L)`` with a learnable threshold ``lam`` and a
    straight-through gradient for the floor. An IF neuron with threshold ``lam`` and initial membrane
    ``lam / 2`` reproduces it exactly in expectation at ``T = L``; the converter maps it that way."""

    def __init__(self, levels: int = 8, threshold: float = 4.0, learn_threshold: bool = True) -> None:
        super().__init__()
        if not (isinstance(levels, int) and levels >= 1):
            raise ValueError(f"levels={levels!r} must be an int >= 1")
        _checks.positive("threshold", threshold)
        self.levels = levels
        t = torch.tensor(float(threshold))
        self.threshold = nn.Parameter(t) if learn_threshold else nn.Parameter(t, requires_grad=False)

    def forward(self, x: Tensor) -> Tensor:
        lam = self.threshold.abs() + 1e-6
        z = x * self.levels / lam + 0.5
        z = z + (torch.floor(z) - z).detach()  # straight-through floor
        return torch.clamp(z, 0, self.levels) * lam / self.levels

    def extra_repr(self) -> str:
        return f"levels={self.levels}, threshold={float(self.threshold):.4g}"


def use_qcfs(model: nn.Module, levels: int = 8, threshold: float = 4.0) -> nn.Module:
    """Replace every ``nn.ReLU`` / ``nn.ReLU6`` module of ``model`` (in place) by :class:`QCFS`; returns
    ``model``. Functional ``F.relu`` calls cannot be replaced this way: write the model with modules."""
    for name, child in list(model.named_children()):
        if isinstance(child, (nn.ReLU, nn.ReLU6)):
            setattr(model, name, QCFS(levels, threshold))
        else:
            use_qcfs(child, levels, threshold)
    return model
