"""The recurrent loop, defined once: a population driven by its input and by its own output of the
previous step::

    s[t], n[t] = step(drive(x[t]) + feedback(s[t-1]), n[t-1])        with s[-1] = 0

``step`` is any neuron step ``(current, state) -> (output, state)`` (``state=None`` at the start),
``feedback`` the recurrent weights (``s -> W s``) and ``drive`` the input weights (identity when the
input is already a current). ``drive`` is applied before ``feedback`` at every step, so stochastic
reads (a crossbar's noise) draw in a fixed order.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import torch
from torch import Tensor

class RecurrentState(NamedTuple):
    """State of a recurrent population: its last output ``s`` (fed back next step) and its neuron state."""

    s: Tensor
    neuron: Any


NeuronStep = Callable[[Tensor, Any], "tuple[Tensor, Any]"]


def recurrent_multistep(xs: Tensor, step: NeuronStep, feedback: Callable[[Tensor], Tensor],
                        state: tuple[Tensor, Any] | None = None,
                        drive: Callable[[Tensor], Tensor] | None = None) -> tuple[Tensor, RecurrentState]:
    """Run the loop over time-major ``xs`` ``[T, B, ...]``.

    ``state`` is ``(s_prev, neuron_state)`` (``None``: zero output, neuron at rest). Returns
    ``(outputs [T, B, N], RecurrentState(s_last, neuron_state))``."""
    s_prev, neuron_state = (None, None) if state is None else state
    outs = []
    for x in xs.unbind(0):  # unbind, not xs[t]: keeps backward O(T)
        current = x if drive is None else drive(x)
        s_prev = torch.zeros_like(current) if s_prev is None else s_prev
        s_prev, neuron_state = step(current + feedback(s_prev), neuron_state)
        outs.append(s_prev)
    return torch.stack(outs), RecurrentState(s_prev, neuron_state)
