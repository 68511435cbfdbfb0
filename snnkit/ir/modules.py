"""Compatibility names: the layers the graph layer builds now live in :mod:`snnkit.synapses`."""
from ..synapses.elementwise import InputScale, SumPool2d
from ..synapses.integer_delays import IntegerDelayLinear
from ..synapses.recurrent import RecurrentCell

__all__ = ["InputScale", "IntegerDelayLinear", "RecurrentCell", "SumPool2d"]
