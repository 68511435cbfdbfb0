"""Analysis: firing rates, synaptic-operation / MAC / energy accounting, raster and trace plots."""
from .activity import SpikeRecorder, firing_rates, recording
from .plots import plot_raster, plot_traces, save_figure

__all__ = ["SpikeRecorder", "firing_rates", "recording", "plot_raster", "plot_traces", "save_figure"]
