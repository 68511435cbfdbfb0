"""Synapses: time-distributed layers over ``[T, B, ...]``, learnable/integer delays (DCLS), the recurrent
synapse, fixed scaling and sum pooling."""
from .delay_training import DCLSRecipe, SigmaSchedule, clamp_all_delays, delay_param_groups, sigma_at
from . import delays as _delays
from .delays import (DelayedConv1d, DelayedLinear, DelayRangeReport, check_delay_range, dcls_position, delay_kernel,
                     delayed_linear, freeze_delays)
from .elementwise import InputScale, SumPool2d
from .integer_delays import IntegerDelayLinear
from .recurrent import RecurrentCell
from .time_distributed import SeqConv1d, SeqConv2d, TimeDistributed

__all__ = ["TimeDistributed", "SeqConv1d", "SeqConv2d", "IntegerDelayLinear", "RecurrentCell", "InputScale", "SumPool2d",
           "DelayedLinear", "DelayedConv1d", "delay_kernel", "delayed_linear", "freeze_delays", "check_delay_range",
           "DelayRangeReport", "dcls_position",
           "SigmaSchedule", "sigma_at", "delay_param_groups", "clamp_all_delays", "DCLSRecipe"]

_MOVED = {"make_timing_task": "examples/dcls/delay_task.py", "compare_delay_modes": "examples/dcls/delay_task.py"}


def __getattr__(name: str):  # names that left the library: say where they went
    if name == "LOIHI2_MAX_DELAY":
        return _delays._deprecated_loihi2_max_delay(__name__)
    if name in _MOVED:
        raise AttributeError(f"snnkit.synapses.{name} moved to {_MOVED[name]} (an experiment, not library code)")
    raise AttributeError(f"module 'snnkit.synapses' has no attribute {name!r}")
