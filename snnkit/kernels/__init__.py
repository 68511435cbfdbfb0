"""Engines: fused multi-step implementations of the dynamics in :mod:`snnkit.functional`, and the
dispatcher that picks one.

``"auto"`` (default) uses the fused engine where one exists for the model and the request, otherwise
the reference path. Force a choice globally with :func:`set_engine` or locally with :func:`use_engine`::

    with snnkit.kernels.use_engine("reference"):
        out = model(x)

The fused engines are pure PyTorch (no compiler, nothing to download) and run on CPU and CUDA.
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Literal

from torch import Tensor

from .. import _checks
from ..functional.lif import LIFParameters, lif_multistep
from .lif_fused import lif_multistep_fused

Engine = Literal["auto", "fused", "reference"]
ENGINES = ("auto", "fused", "reference")
_engine: Engine = "auto"


def set_engine(name: Engine) -> None:
    """Choose the engine for every multi-step call: ``"auto"``, ``"fused"`` or ``"reference"``."""
    global _engine
    _checks.one_of("engine", name, ENGINES)
    _engine = name


def get_engine() -> Engine:
    return _engine


@contextlib.contextmanager
def use_engine(name: Engine) -> Iterator[None]:
    """Context manager form of :func:`set_engine`."""
    previous = _engine
    set_engine(name)
    try:
        yield
    finally:
        set_engine(previous)


def available() -> dict[str, list[str]]:
    """Which engines exist for which model (for ``snnkit info``)."""
    return {"lif": ["reference", "fused"], "if": ["reference", "fused"], "cuba_lif": ["reference"],
            "alif": ["reference"], "li": ["reference"], "izhikevich": ["reference"]}


def lif(xs: Tensor, v0: Tensor | None, p: LIFParameters, record_membrane: bool = False
        ) -> tuple[Tensor, Tensor]:
    """Multi-step LIF through the selected engine. See :func:`snnkit.functional.lif_multistep`."""
    if _engine == "reference" or record_membrane:
        return lif_multistep(xs, v0, p, record_membrane)
    return lif_multistep_fused(xs, v0, p)


__all__ = ["set_engine", "get_engine", "use_engine", "available", "lif", "ENGINES", "lif_multistep_fused"]
