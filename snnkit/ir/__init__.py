"""The network graph: snnkit models <-> NIR (the interchange standard) for every backend.

``to_graph(model, dt)`` / ``export_nir(model, path, dt)`` write continuous-time NIR; ``import_nir(path)``
returns a ``snnkit.neurons.Sequential``. The time step and the decay <-> time-constant mapping
(``snnkit.functional.decay`` / ``tau_from_decay``) are documented in :mod:`snnkit.ir.graph`.
"""
from .graph import export_nir, fold_input_resistance, leaves, to_graph
from .modules import InputScale, IntegerDelayLinear, RecurrentCell, SumPool2d
from .nir_import import from_graph, import_nir

__all__ = ["to_graph", "export_nir", "fold_input_resistance", "import_nir", "from_graph", "leaves",
           "InputScale", "IntegerDelayLinear", "RecurrentCell", "SumPool2d"]
