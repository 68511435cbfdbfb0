"""Fixed per-feature scaling and sum pooling: the stateless NIR nodes ``Scale`` and ``SumPool2d``."""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class InputScale(nn.Module):
    """Multiply the input by a fixed per-feature factor (NIR's ``Scale``; a neuron's input resistance)."""

    def __init__(self, scale: Tensor | float) -> None:
        super().__init__()
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32).clone())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.scale


def _pair(v: Any) -> tuple[int, int]:
    """The pair itself for a pair, ``(v, v)`` for one number (as ``nn.AvgPool2d`` reads its arguments)."""
    return tuple(v) if isinstance(v, Iterable) else (v, v)


class SumPool2d(nn.Module):
    """Sum pooling over ``[N, C, H, W]`` (NIR's SumPool2d): average pooling times the window size."""

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0) -> None:
        super().__init__()
        self.kernel_size = _pair(kernel_size)
        self.stride = _pair(self.kernel_size if stride is None else stride)
        self.padding = _pair(padding)

    def forward(self, x: Tensor) -> Tensor:
        k = self.kernel_size[0] * self.kernel_size[1]
        return F.avg_pool2d(x, self.kernel_size, self.stride, self.padding, count_include_pad=True) * k
