"""Hybrid starts (Rathi et al., ICLR 2020): an SNN whose weights, thresholds and initial membrane come
from a trained ANN by conversion, then fine-tuned with surrogate gradients at small T.

:func:`hybrid_start` converts the ANN (weights and biases copied, BatchNorm folded, one threshold per
layer from the activation statistics) and sets every neuron's initial membrane to ``v_init`` times its
threshold (half the threshold centres each neuron's rounding error, so the first steps already carry
the ANN's activations to within one spike; Bu et al. 2022), and makes the thresholds trainable if asked.
The result is an ordinary snnkit network: train it with :func:`snnkit.conversion.finetune`, the
:class:`snnkit.training.Trainer`, or any loop on ``snn(encode(x, T)).mean(0)``.
"""
from __future__ import annotations

from typing import Any, Iterable

from torch import Tensor, nn

from .convert import convert
from .modules import ConvertedIF, ConvertedLIF

__all__ = ["hybrid_start", "learnable_thresholds"]


def learnable_thresholds(snn: nn.Module) -> list[nn.Parameter]:
    """Turn the threshold buffer of every converted neuron of ``snn`` into a trainable parameter (in
    place; values unchanged) and return those parameters."""
    params = []
    for m in snn.modules():
        if isinstance(m, (ConvertedIF, ConvertedLIF)) and not isinstance(m.v_th, nn.Parameter):
            value = m._buffers.pop("v_th")
            m.v_th = nn.Parameter(value.detach().clone())
            params.append(m.v_th)
    return params


def hybrid_start(ann: nn.Module, calibration_data: Tensor | Iterable, T: int = 4, *, v_init: float = 0.5,
                 learn_thresholds: bool = False, **conversion_options: Any) -> nn.Module:
    """The converted SNN of ``ann`` ready for surrogate-gradient fine-tuning at ``T`` steps.

    ``conversion_options`` go to :func:`snnkit.conversion.convert` (``normalisation``, ``percentile``,
    ``bias_calibration``, ...). With ``learn_thresholds`` the thresholds become parameters too."""
    snn = convert(ann, calibration_data, T, v_init=v_init, **conversion_options)
    if learn_thresholds:
        learnable_thresholds(snn)
    return snn.train()
