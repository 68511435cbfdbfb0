"""Firing-rate regularisers: keep each spiking layer's activity near a target or inside bounds.

Rates are per sample (mean over time and neurons of the layer's spikes), and the penalty is averaged
over the batch, so it splits exactly over data-parallel workers like the main loss does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import torch
from torch import Tensor

from .. import _checks


@dataclass(frozen=True)
class RateBound:
    """Per-layer rate constraint, rates in spikes per neuron per step (0..1).

    ``target``: squared distance to this rate; ``lower`` / ``upper``: squared hinge outside the band.
    ``weight`` scales this layer's penalty.
    """

    target: float | None = None
    lower: float | None = None
    upper: float | None = None
    weight: float = 1.0

    def __post_init__(self) -> None:
        for name in ("target", "lower", "upper"):
            v = getattr(self, name)
            if v is not None and not (0.0 <= float(v) <= 1.0):
                raise ValueError(f"{name}={v!r} must be a rate in [0, 1]")
        if self.lower is not None and self.upper is not None and self.lower > self.upper:
            raise ValueError(f"lower={self.lower} must be <= upper={self.upper}")
        if self.weight < 0:
            raise ValueError(f"weight={self.weight!r} must be >= 0")


@dataclass
class FiringRateRegularizer:
    """Sum over layers of ``weight * mean_b penalty(rate_b)``.

    ``bounds`` maps a layer to a :class:`RateBound`: its path in ``model.named_modules()`` (``"1"``), its
    recorded name (``"1:LIF"``, see :func:`snnkit.analysis.layer_name`) or ``"*"`` (every spiking layer
    without its own entry).
    """

    bounds: Mapping[str, RateBound] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.bounds = {k: (v if isinstance(v, RateBound) else RateBound(**v)) for k, v in self.bounds.items()}

    def bound_for(self, layer: str) -> RateBound | None:
        path = layer.split(":", 1)[0]   # a recorded name "1:LIF" is the module path "1" plus its class
        return self.bounds.get(layer, self.bounds.get(path, self.bounds.get("*")))

    def __call__(self, spikes: Mapping[str, Tensor], time_fraction: float = 1.0) -> Tensor:
        """Penalty for the recorded ``spikes`` (``{layer: [T, B, ...]}``); ``time_fraction`` scales a
        chunk's share when a sequence is trained in chunks."""
        total: Tensor | None = None
        for name, s in spikes.items():
            b = self.bound_for(name)
            if b is None or s.dim() < 2:
                continue
            rate = s.float().mean(0).reshape(s.shape[1], -1).mean(1)  # [B]
            pen = torch.zeros_like(rate)
            if b.target is not None:
                pen = pen + (rate - b.target) ** 2
            if b.upper is not None:
                pen = pen + torch.relu(rate - b.upper) ** 2
            if b.lower is not None:
                pen = pen + torch.relu(b.lower - rate) ** 2
            term = b.weight * pen.mean() * time_fraction
            total = term if total is None else total + term
        if total is None:
            dev = next(iter(spikes.values())).device if spikes else None
            return torch.zeros((), device=dev)
        return total


def regularizer_from_config(cfg: Mapping[str, Mapping[str, float]] | None) -> FiringRateRegularizer | None:
    """Build from a ``{layer: {target=, lower=, upper=, weight=}}`` mapping (TOML ``[trainer.rate_reg.*]``)."""
    if not cfg:
        return None
    allowed = ("target", "lower", "upper", "weight")
    out = {}
    for layer, spec in cfg.items():
        if not isinstance(spec, Mapping):
            raise TypeError(f"rate_reg.{layer} must be a table with keys {list(allowed)}; got {spec!r}")
        for k in spec:
            _checks.one_of(f"rate_reg.{layer} key", k, allowed)
        out[layer] = RateBound(**{k: float(v) for k, v in spec.items()})
    return FiringRateRegularizer(out)


def delta_l1(deltas: Mapping[str, Tensor] | list[Tensor], weight: float = 1.0) -> Tensor:
    """Temporal-sparsity penalty: ``weight`` times the sum over layers of the mean absolute change
    ``|d|`` (the outputs of :class:`snnkit.synapses.delta.Delta`): an L1 push towards fewer, smaller
    changes, so more of them fall below the delta threshold (Neil et al. 2017)."""
    values = list(deltas.values()) if isinstance(deltas, Mapping) else list(deltas)
    if not values:
        raise ValueError("deltas is empty: record the outputs of the Delta layers first")
    return weight * sum(d.abs().mean() for d in values)
