"""Data-based normalisation: the activation scale ``lambda`` of every activation site of the ANN
(max or percentile, per layer or per channel), computed on calibration data."""
from __future__ import annotations

import math
from typing import Iterable, Iterator

import torch
from torch import Tensor, fx, nn

from .. import _checks
from .modules import QCFS

NORMALISATIONS = ("max", "percentile")


def batches(data: Tensor | Iterable, batch_size: int = 256) -> Iterator[Tensor]:
    """Input batches from a tensor ``[N, ...]`` or an iterable of tensors / ``(x, y, ...)`` tuples /
    dicts with key ``"x"`` or ``"input"``."""
    if isinstance(data, Tensor):
        if data.dim() < 2:
            raise ValueError(f"calibration_data must be [N, ...] with rank >= 2; got shape {tuple(data.shape)}")
        yield from data.split(batch_size)
        return
    for item in data:
        if isinstance(item, (tuple, list)):
            item = item[0]
        elif isinstance(item, dict):
            item = item.get("x", item.get("input"))
        if not isinstance(item, Tensor):
            raise TypeError(f"calibration_data batches must be tensors, (x, y) tuples or dicts with 'x'; "
                            f"got {type(item).__name__}")
        yield item


def percentile_of(values: Tensor, percentile: float, dim: int | None = None) -> Tensor:
    """The ``percentile`` (0-100] of ``values`` (over everything, or along ``dim``) by order statistic."""
    n = values.numel() if dim is None else values.shape[dim]
    k = min(n, max(1, math.ceil(percentile / 100.0 * n)))
    if dim is None:
        return values.flatten().kthvalue(k).values
    return values.kthvalue(k, dim=dim).values


class SiteStatistics:
    """Collects, per activation site, the values needed for ``lambda`` and the per-channel mean."""

    def __init__(self, max_values: int = 4_000_000) -> None:
        self.values: list[Tensor] = []
        self.sum: Tensor | None = None
        self.count = 0
        self.max_values = max_values
        self.kept = 0

    def add(self, y: Tensor) -> None:
        y = y.detach().float()
        if not bool(torch.isfinite(y).all()):
            # NaN compares false everywhere, so the scale below would silently fall back to 1.0
            raise ValueError("calibration data gave non-finite activations (NaN or inf); the calibration "
                             "inputs must be finite numbers")
        channels = y.movedim(1, 0).reshape(y.shape[1], -1) if y.dim() > 1 else y.reshape(1, -1)
        s = channels.sum(1)
        self.sum = s if self.sum is None else self.sum + s
        self.count += channels.shape[1]
        if self.kept < self.max_values:  # enough for a 99.99th percentile; bounds memory
            self.values.append(channels.cpu())
            self.kept += channels.numel()

    def channel_mean(self) -> Tensor:
        assert self.sum is not None
        return self.sum / self.count

    def scale(self, normalisation: str, percentile: float, channel_wise: bool) -> Tensor:
        v = torch.cat(self.values, dim=1)
        p = 100.0 if normalisation == "max" else percentile
        if channel_wise:
            lam = v.max(1).values if p >= 100 else percentile_of(v, p, dim=1)
            fallback = lam.max()
            lam = torch.where(lam > 0, lam, fallback if fallback > 0 else torch.ones(()))
        else:
            lam = v.max() if p >= 100 else percentile_of(v, p)
            lam = lam if lam > 0 else torch.ones(())
        return lam


def feature_shaped(lam: Tensor, feature_dims: int) -> Tensor:
    """A per-channel vector as a tensor broadcasting over ``[B, C, *spatial]`` (``feature_dims`` =
    number of dims after the batch); a scalar stays a scalar."""
    if lam.dim() == 0:
        return lam
    return lam.reshape(-1, *([1] * (feature_dims - 1)))


def activation_scales(gm: fx.GraphModule, sites: list[str], data: Tensor | Iterable, normalisation: str,
                      percentile: float, channel_wise: bool, batch_size: int = 256
                      ) -> tuple[dict[str, Tensor], dict[str, Tensor], Tensor]:
    """Run the canonical ANN over the calibration data and return ``(lambda per site, per-channel mean
    activation per site, first input batch)``. ``lambda`` is shaped to broadcast over the features."""
    _checks.one_of("normalisation", normalisation, NORMALISATIONS)
    if not (0 < percentile <= 100):
        raise ValueError(f"percentile={percentile!r} must be in (0, 100]")
    stats = {s: SiteStatistics() for s in sites}
    dims: dict[str, int] = {}
    handles = []
    for s in sites:
        def hook(_m: nn.Module, _i: object, y: Tensor, s: str = s) -> None:
            stats[s].add(y)
            dims[s] = y.dim() - 1
        handles.append(gm.get_submodule(s).register_forward_hook(hook))
    first: Tensor | None = None
    try:
        with torch.no_grad():
            for x in batches(data, batch_size):
                first = x if first is None else first
                gm(x)
    finally:
        for h in handles:
            h.remove()
    if first is None:
        raise ValueError("calibration_data is empty")
    scales: dict[str, Tensor] = {}
    for s in sites:
        module = gm.get_submodule(s)
        if isinstance(module, QCFS):  # the trained clip level is the right scale
            lam = module.threshold.detach().abs().reshape(())
        else:
            lam = stats[s].scale(normalisation, percentile, channel_wise)
            if isinstance(module, nn.Hardtanh):
                lam = lam.clamp(max=float(module.max_val))
        scales[s] = feature_shaped(lam.float(), dims[s])
    means = {s: stats[s].channel_mean() for s in sites}
    return scales, means, first
