"""Pure neuron dynamics: one step function and one multi-step reference function per model.

Nothing here holds state; parameters are small frozen dataclasses. This is the definition every
engine in :mod:`snnkit.kernels` must reproduce. Multi-step functions return ``(output, final_state)``;
a state of more than one tensor is a named tuple (``CubaLIFState(i, v)``, ``ALIFState(v, a)``,
``IzhikevichState(v, u)``, ``RecurrentState(s, neuron)``), so it unpacks like the plain tuple it is.
"""
from .alif import ALIFParameters, ALIFState, alif_multistep, alif_step
from .cuba import CubaLIFParameters, CubaLIFState, cuba_lif_multistep, cuba_lif_step
from .discretize import decay, decay_float, tau_from_decay
from .izhikevich import (PRESETS as IZHIKEVICH_PRESETS, IzhikevichParameters, IzhikevichState, izhikevich_multistep,
                         izhikevich_step)
from .li import LIParameters, li_multistep, li_step
from .lif import RESET_MODES, IFParameters, LIFParameters, lif_multistep, lif_step
from .recurrent import RecurrentState, recurrent_multistep

__all__ = [
    "ALIFParameters", "ALIFState", "alif_multistep", "alif_step",
    "CubaLIFParameters", "CubaLIFState", "cuba_lif_multistep", "cuba_lif_step",
    "decay", "decay_float", "tau_from_decay",
    "IZHIKEVICH_PRESETS", "IzhikevichParameters", "IzhikevichState", "izhikevich_multistep", "izhikevich_step",
    "LIParameters", "li_multistep", "li_step",
    "RESET_MODES", "IFParameters", "LIFParameters", "lif_multistep", "lif_step",
    "RecurrentState", "recurrent_multistep",
]
