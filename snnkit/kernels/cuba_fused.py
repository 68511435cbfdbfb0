"""Fused multi-step current-based LIF: the synaptic current is a leaky scan of the input (fused LI
with ``syn_decay``), which drives the fused LIF engine. Two autograd nodes per layer and sequence."""
from __future__ import annotations

import torch
from torch import Tensor

from ..functional.cuba import CubaLIFParameters
from .li_fused import leaky_scan
from .lif_fused import lif_multistep_fused


def cuba_lif_multistep_fused(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: CubaLIFParameters
                             ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Fused equivalent of :func:`snnkit.functional.cuba_lif_multistep`: ``(spikes, (i, v))``."""
    i0, v0 = (torch.zeros_like(xs[0]), torch.zeros_like(xs[0])) if state is None else state
    currents = leaky_scan(xs, i0, p.syn_decay(xs), False)     # i[t] = syn_decay i[t-1] + x[t]
    spikes, v = lif_multistep_fused(currents, v0, p.lif)
    return spikes, (currents[-1], v)
