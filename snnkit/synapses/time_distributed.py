"""Apply a per-sample layer to every time step at once by folding time into the batch.

``nn.Linear`` already works on ``[T, B, F]``; convolutions, pooling and BatchNorm need the fold.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


class TimeDistributed(nn.Module):
    """Run ``module`` on ``[T, B, ...]`` as one call on ``[T*B, ...]`` (one big GEMM, not T small ones).

    ``channels_last``: feed a 2-D convolution channels-last input (its output is then channels-last too,
    and snnkit's neurons and pooling keep that layout). ``None`` (default): on the CPU, where oneDNN's
    convolutions run about 1.5x faster that way; the values are the same up to float rounding. Code
    that flattens such an output should use ``reshape``/``nn.Flatten``: ``Tensor.view`` refuses
    channels-last strides (PyTorch says so in its error).
    """

    def __init__(self, module: nn.Module, channels_last: bool | None = None) -> None:
        super().__init__()
        self.module = module
        self.channels_last = channels_last

    def _wants_channels_last(self, x: Tensor) -> bool:
        if x.dim() != 4 or not isinstance(self.module, nn.Conv2d):
            return False
        return x.device.type == "cpu" if self.channels_last is None else self.channels_last

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(f"x must be [T, B, ...] with rank >= 3 for TimeDistributed; got {tuple(x.shape)}")
        T, B = x.shape[:2]
        x = x.reshape(T * B, *x.shape[2:])
        if self._wants_channels_last(x):
            x = x.contiguous(memory_format=torch.channels_last)
        y = self.module(x)
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
