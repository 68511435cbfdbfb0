"""Synapses: time-distributed layers over ``[T, B, ...]``, learnable/integer delays (DCLS), the recurrent
synapse, fixed scaling and sum pooling."""
from .delay_task import compare_delay_modes, make_timing_task
from .delay_training import DCLSRecipe, SigmaSchedule, clamp_all_delays, delay_param_groups, sigma_at
from .delays import (LOIHI2_MAX_DELAY, DelayedConv1d, DelayedLinear, DelayRangeReport, check_delay_range,
                     dcls_position, delay_kernel, delayed_linear, freeze_delays)
from .elementwise import InputScale, SumPool2d
from .integer_delays import IntegerDelayLinear
from .recurrent import RecurrentCell
from .time_distributed import SeqConv1d, SeqConv2d, TimeDistributed

__all__ = ["TimeDistributed", "SeqConv1d", "SeqConv2d", "IntegerDelayLinear", "RecurrentCell", "InputScale", "SumPool2d",
           "DelayedLinear", "DelayedConv1d", "delay_kernel", "delayed_linear", "freeze_delays", "check_delay_range",
           "DelayRangeReport", "dcls_position", "LOIHI2_MAX_DELAY",
           "SigmaSchedule", "sigma_at", "delay_param_groups", "clamp_all_delays", "DCLSRecipe",
           "make_timing_task", "compare_delay_modes"]
