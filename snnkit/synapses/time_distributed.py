"""Apply a per-sample layer to every time step at once by folding time into the batch.

``nn.Linear`` already works on ``[T, B, F]``; convolutions, pooling and BatchNorm need the fold.
"""
from __future__ import annotations

from torch import Tensor, nn


class TimeDistributed(nn.Module):
    """Run ``module`` on ``[T, B, ...]`` as one call on ``[T*B, ...]`` (one big GEMM, not T small ones)."""

    def __init__(self, module: nn.Module) -> None:
        super().__init__()
        self.module = module

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"x must be [T, B, ...] with rank >= 3 for TimeDistributed; got {tuple(x.shape)}")
        T, B = x.shape[:2]
        y = self.module(x.reshape(T * B, *x.shape[2:]))
        return y.reshape(T, B, *y.shape[1:])

    def step(self, x: Tensor, state: None = None) -> tuple[Tensor, None]:
        """One time step ``[B, ...]`` (stateless: the state stays ``None``)."""
        return self.module(x), None


class SeqConv1d(TimeDistributed):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(nn.Conv1d(*args, **kwargs))


class SeqConv2d(TimeDistributed):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(nn.Conv2d(*args, **kwargs))
