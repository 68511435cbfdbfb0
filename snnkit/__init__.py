"""snnkit: spiking neural networks from idea to neuromorphic hardware.

Public API (everything else is private)::

    import snnkit
    lif = snnkit.neurons.LIF(tau_mem=10.0)
    spikes = lif(x)                      # x: [T, B, ...] time-major

Every subpackage loads on first use (``snnkit.neurons``, ``snnkit.training``, ...), so ``import snnkit``
does not import torch: ``snnkit --help`` answers at once.
"""
from __future__ import annotations

import importlib
from typing import Any

from ._atomic import atomic_path
from .errors import InvalidFileError, SizeLimitError, SnnkitError

__version__ = "0.1.0"
_LAZY = ("functional", "kernels", "neurons", "surrogate", "synapses",
         "analysis", "conversion", "data", "encoding", "hardware", "ir", "models", "plasticity", "training")
__all__ = [*_LAZY, "set_engine", "use_engine", "set_debug",
           "atomic_path", "SnnkitError", "InvalidFileError", "SizeLimitError", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    if name in ("set_engine", "use_engine"):
        return getattr(importlib.import_module(f"{__name__}.kernels"), name)
    if name == "set_debug":  # lives beside the checks it switches; importing it would import torch
        return importlib.import_module(f"{__name__}._checks").set_debug
    raise AttributeError(f"module 'snnkit' has no attribute {name!r}")
