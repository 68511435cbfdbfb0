"""snnkit: spiking neural networks from idea to neuromorphic hardware.

Public API (everything else is private)::

    from snnkit import neurons, functional, surrogate, kernels, synapses
    lif = snnkit.neurons.LIF(tau_mem=10.0)
    spikes = lif(x)                      # x: [T, B, ...] time-major
"""
from . import functional, kernels, neurons, surrogate, synapses
from .kernels import set_engine, use_engine

__version__ = "0.1.0"
__all__ = ["functional", "kernels", "neurons", "surrogate", "synapses", "set_engine", "use_engine", "__version__"]
