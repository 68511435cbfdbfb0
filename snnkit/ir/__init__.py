"""The network graph: snnkit models <-> NIR (the interchange standard) for every backend.

``to_graph(model, dt)`` / ``export_nir(model, path, dt)`` trace the model with ``torch.fx`` and write
continuous-time NIR through a registry of converters (:func:`register_converter`); ``import_nir(path)``
returns a runnable snnkit model. The time step and the decay <-> time-constant mapping
(``snnkit.functional.decay`` / ``tau_from_decay``) are documented in :mod:`snnkit.ir.graph`.
"""
from .graph import (PEERS, ExportContext, ExportError, Piece, Site, converter_for, export_nir, fold_input_resistance, for_peer,
                    register_converter, register_repeat, to_graph)
from .modules import InputScale, IntegerDelayLinear, RecurrentCell, SumPool2d
from .nir_import import from_graph, import_nir

__all__ = ["to_graph", "export_nir", "fold_input_resistance", "import_nir", "from_graph",
           "register_converter", "register_repeat", "converter_for", "for_peer", "PEERS", "ExportContext", "ExportError", "Piece", "Site",
           "InputScale", "IntegerDelayLinear", "RecurrentCell", "SumPool2d"]
