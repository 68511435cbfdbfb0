"""What the reference multi-step functions share: the loop over time and the state at rest."""
from __future__ import annotations

from typing import Any, Callable

import torch
from torch import Tensor


def at_rest(state_type: type, like: Tensor) -> Any:
    """A state named tuple with every field zero, shaped like ``like`` (the state before any input)."""
    return state_type(*(torch.zeros_like(like) for _ in state_type._fields))


def scan(step: Callable[[Tensor, Any, Any], "tuple[Tensor, Any]"], xs: Tensor, state: Any, p: Any
         ) -> tuple[Tensor, Any]:
    """Run ``step(x, state, p) -> (output, state)`` over time-major ``xs`` ``[T, B, ...]``.

    Returns ``(outputs [T, B, ...], final state)``."""
    out = []
    for x in xs.unbind(0):  # unbind, not xs[t]: keeps backward O(T)
        y, state = step(x, state, p)
        out.append(y)
    return torch.stack(out), state
