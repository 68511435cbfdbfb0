"""Architectures: spiking networks and their parameter-matched ANN twins, built by name.

>>> from snnkit import models
>>> snn = models.create("mlp", spiking=True, in_features=40, num_classes=10, hidden=64)
>>> ann = models.create("mlp", spiking=False, in_features=40, num_classes=10, hidden=64, steps=20)

Every model takes time-major input ``[T, B, F]``. Spiking models return the readout membrane
``[T, B, C]``; ANN twins return logits ``[1, B, C]`` (reduce both over dim 0 the same way).
See :mod:`snnkit.models.registry` for the conventions.
"""
from .registry import create, forms, names, register, register_lazy, spec
from . import mlp as _mlp  # noqa: F401  (registers "mlp")
from . import lmu as _lmu  # noqa: F401
from .lmu import LegendreMemory, LMUFormer, LMULayer, LMUNet
from .mlp import FlatMLP, SpikingMLP

__all__ = ["create", "register", "register_lazy", "names", "forms", "spec", "SpikingMLP", "FlatMLP", "LegendreMemory", "LMULayer", "LMUNet", "LMUFormer"]
