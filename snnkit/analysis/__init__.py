"""Analysis: firing rates, synaptic-operation / MAC / energy accounting, raster and trace plots.

>>> report = snnkit.analysis.count_costs(model, x)      # per sample: params, macs, acs (synops), energy_pj
"""
from .branching import branching_factor, population_activity
from .activity import SpikeRecorder, firing_rates, layer_name, recording
from .cost import (E_AC_PJ, E_MAC_PJ, HOROWITZ_45NM_PJ, CostReport, CountedOp, MatMul, count_costs,
                   count_parameters, is_event_like)
from .plots import plot_raster, plot_traces, save_figure

__all__ = ["SpikeRecorder", "firing_rates", "layer_name", "recording", "plot_raster", "plot_traces", "save_figure",
           "CostReport", "CountedOp", "MatMul", "count_costs", "count_parameters", "is_event_like",
           "HOROWITZ_45NM_PJ", "E_MAC_PJ", "E_AC_PJ", "branching_factor", "population_activity"]
