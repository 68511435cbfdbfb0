"""Losses for spiking classifiers. Every loss takes the network output, time-major ``[T, B, C]``
(spikes for a spiking readout, membrane for an :class:`snnkit.neurons.LI` readout) and integer
labels ``[B]``, and returns a scalar. :func:`predict` gives the class the matching decoder reads out.

=====================  ===========================================================================
name                   loss
=====================  ===========================================================================
``ce_count``           cross-entropy on spike counts ``sum_t s[t]`` (snntorch ``ce_count_loss``)
``ce_max_membrane``    cross-entropy on ``max_t v[t]`` of an LI readout (SpyTorch / Zenke)
``ce_mean_membrane``   cross-entropy on ``mean_t v[t]`` of an LI readout
``ce_softmax_sum``     cross-entropy on ``sum_t softmax(v[t])`` (the DCLS / SNN-delays recipe)
``mse_count``          mean squared error between spike counts and ``rate * T`` targets, divided by T
=====================  ===========================================================================
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from .. import _checks

LossFn = Callable[[Tensor, Tensor], Tensor]


def _check(output: Tensor, labels: Tensor) -> None:
    _checks.time_major("output", output, min_rank=3)
    if labels.dim() != 1 or labels.shape[0] != output.shape[1]:
        raise ValueError(f"labels must have shape [B]=[{output.shape[1]}]; got {tuple(labels.shape)}")


def ce_count_loss(spikes: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy on spike counts over time."""
    _check(spikes, labels)
    return F.cross_entropy(spikes.sum(0), labels)


def ce_max_membrane_loss(membrane: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy on the maximum over time of the readout membrane."""
    _check(membrane, labels)
    return F.cross_entropy(membrane.max(0).values, labels)


def ce_mean_membrane_loss(membrane: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy on the time average of the readout membrane."""
    _check(membrane, labels)
    return F.cross_entropy(membrane.mean(0), labels)


def ce_softmax_sum_loss(membrane: Tensor, labels: Tensor) -> Tensor:
    """DCLS recipe: ``CE(sum_t softmax(v[t]), y)``; the summed probabilities act as logits."""
    _check(membrane, labels)
    return F.cross_entropy(F.softmax(membrane, dim=-1).sum(0), labels)


def mse_count_loss(spikes: Tensor, labels: Tensor, correct_rate: float = 0.8,
                   incorrect_rate: float = 0.2) -> Tensor:
    """MSE between spike counts and targets ``correct_rate * T`` (true class) / ``incorrect_rate * T``
    (others), divided by ``T`` so the scale does not grow with the sequence length."""
    _check(spikes, labels)
    T, C = spikes.shape[0], spikes.shape[-1]
    target = torch.full_like(spikes[0], incorrect_rate * T)
    target.scatter_(1, labels.view(-1, 1), correct_rate * T)
    return F.mse_loss(spikes.sum(0), target) / T


LOSSES: dict[str, LossFn] = {
    "ce_count": ce_count_loss,
    "ce_max_membrane": ce_max_membrane_loss,
    "ce_mean_membrane": ce_mean_membrane_loss,
    "ce_softmax_sum": ce_softmax_sum_loss,
    "mse_count": mse_count_loss,
}

# How each loss reads a class out of the output (the decoder that matches the loss).
_SCORES: dict[str, Callable[[Tensor], Tensor]] = {
    "ce_count": lambda o: o.sum(0),
    "mse_count": lambda o: o.sum(0),
    "ce_max_membrane": lambda o: o.max(0).values,
    "ce_mean_membrane": lambda o: o.mean(0),
    "ce_softmax_sum": lambda o: F.softmax(o, dim=-1).sum(0),
}


def get_loss(name: str) -> LossFn:
    """The loss called ``name`` (see the table in this module's docstring)."""
    _checks.one_of("loss", name, LOSSES)
    return LOSSES[name]


def scores(output: Tensor, loss: str) -> Tensor:
    """Per-class scores ``[B, C]`` the decoder matching ``loss`` reads from ``output [T, B, C]``."""
    _checks.one_of("loss", loss, _SCORES)
    return _SCORES[loss](output)


def predict(output: Tensor, loss: str) -> Tensor:
    """Predicted class per sample ``[B]`` (ties: lowest index)."""
    return scores(output, loss).argmax(-1)
