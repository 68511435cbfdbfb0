"""snnkit: spiking neural networks from idea to neuromorphic hardware.

Public API (everything else is private)::

    import snnkit
    lif = snnkit.neurons.LIF(tau_mem=10.0)
    spikes = lif(x)                      # x: [T, B, ...] time-major

The core (``functional``, ``kernels``, ``surrogate``, ``neurons``, ``synapses``) is imported eagerly;
the other subpackages load on first use (``snnkit.training``, ``snnkit.data``, ...), so ``import snnkit``
stays fast.
"""
from __future__ import annotations

import importlib
from typing import Any

from . import functional, kernels, neurons, surrogate, synapses
from ._atomic import atomic_path
from ._checks import set_debug
from .errors import InvalidFileError, SizeLimitError, SnnkitError
from .kernels import set_engine, use_engine

__version__ = "0.1.0"
_LAZY = ("analysis", "conversion", "data", "encoding", "hardware", "ir", "models", "plasticity", "training")
__all__ = ["functional", "kernels", "neurons", "surrogate", "synapses", *_LAZY, "set_engine", "use_engine", "set_debug",
           "atomic_path", "SnnkitError", "InvalidFileError", "SizeLimitError", "__version__"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'snnkit' has no attribute {name!r}")
