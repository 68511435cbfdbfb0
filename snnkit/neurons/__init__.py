"""Neuron layers: thin ``torch.nn.Module`` s over :mod:`snnkit.functional`.

Every layer is multi-step: ``layer(x)`` takes time-major input ``[T, B, ...]`` and returns spikes
(membrane for :class:`LI`) of the same shape, starting from rest. Layers keep **no hidden state**
between calls, so nothing can leak from one batch into the next. Streaming is explicit::

    state = None
    for x_t in stream:                     # x_t: [B, ...]
        s_t, state = lif.step(x_t, state)

``layer.run(x, state)`` returns ``(output, final_state)`` to continue a sequence in chunks
(truncated BPTT) and can record membranes.
"""
from .layers import ALIF, IF, LI, LIF, CubaLIF, Izhikevich, SpikingLayer
from .sequential import Sequential, detach_state

__all__ = ["ALIF", "IF", "LI", "LIF", "CubaLIF", "Izhikevich", "SpikingLayer", "Sequential", "detach_state"]
