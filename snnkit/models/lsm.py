"""Liquid state machine (Maass, Natschläger & Markram 2002): a fixed random recurrent reservoir of LIF
(or Izhikevich) neurons with a trained linear readout. ANN twin: an echo state network (Jaeger 2001),
a leaky tanh reservoir of the same size and the same readout. Only the readout trains in both forms
(the reservoir weights are buffers, fixed by ``seed``, so ``(name, spiking, config)`` rebuilds it).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .. import _checks
from ..analysis import CountedOp, is_event_like
from ..functional import IzhikevichParameters
from ..neurons import LIF, Izhikevich
from ..synapses import RecurrentCell
from ._common import check_input, readout
from .registry import register


class _FixedWeights(nn.Linear, CountedOp):
    """A fixed weight matrix ``x -> x W^T`` (a buffer, not trained: no bias) that exports as ``nn.Linear``.

    Its cost counts only the synapses that exist: each non-zero input event reaches the non-zero
    weights of its column (ACs), a dense input costs one MAC per non-zero weight. ``events=False``
    counts dense products whatever the input; ``None`` decides from the input."""

    def __init__(self, weight: Tensor, events: bool | None = None) -> None:
        nn.Module.__init__(self)  # not nn.Linear.__init__: it would draw an initial weight from the global RNG
        self.out_features, self.in_features = weight.shape
        self.register_buffer("weight", weight)
        self.register_parameter("bias", None)
        self.events = events

    def forward(self, x: Tensor) -> Tensor:
        return x @ self.weight.T

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        x = inputs[0].detach()
        exists = self.weight != 0
        if is_event_like(x) if self.events is None else self.events:
            fan_out = exists.sum(0).to(x.dtype)                       # outgoing synapses per input
            return 0.0, float(((x != 0).to(x.dtype) * fan_out).sum())
        return float(x[..., 0].numel() * exists.sum()), 0.0


class _LeakyTanh(nn.Module):
    """The echo state network's rate units: ``h = (1 - leak) h + leak tanh(x)``; output = state = ``h``."""

    def __init__(self, leak: float) -> None:
        super().__init__()
        self.leak = leak

    def step(self, x: Tensor, h: Tensor | None = None) -> tuple[Tensor, Tensor]:
        h = torch.zeros_like(x) if h is None else h
        h = (1 - self.leak) * h + self.leak * torch.tanh(x)
        return h, h


def _reservoir_neurons(spiking: bool, neuron: str, tau_mem: float, leak: float) -> nn.Module:
    if not spiking:
        return _LeakyTanh(leak)
    if neuron == "lif":
        return LIF(tau_mem=tau_mem, reset="subtract")
    preset = IzhikevichParameters.preset("regular_spiking")
    return Izhikevich("regular_spiking", input_scale=10.0, dt=preset.dt)


class LiquidStateMachine(nn.Module):
    """Fixed input weights (``drive``), a fixed recurrent reservoir (``reservoir``, a
    :class:`~snnkit.synapses.RecurrentCell`) and the trained readout ``head``; exports to NIR as
    ``Linear -> (neuron <-> Linear) -> readout``."""

    def __init__(self, in_features: int, num_classes: int, spiking: bool, reservoir: int = 200,
                 neuron: str = "lif", connectivity: float = 0.1, spectral_radius: float = 0.9,
                 input_scale: float = 2.0, tau_mem: float = 20.0, leak: float = 0.3, seed: int = 0,
                 tau_out: float = 10.0) -> None:
        super().__init__()
        _checks.one_of("neuron", neuron, ("lif", "izhikevich"))
        self.in_features, self.spiking, self.neuron_kind = in_features, spiking, neuron
        self.leak, self.tau_mem = leak, tau_mem
        g = torch.Generator().manual_seed(seed)
        w_in = torch.randn(reservoir, in_features, generator=g) * input_scale / in_features ** 0.5
        mask = (torch.rand(reservoir, reservoir, generator=g) < connectivity).float()
        w = torch.randn(reservoir, reservoir, generator=g) * mask
        w = w * spectral_radius / torch.linalg.eigvals(w).abs().max().clamp(min=1e-6)
        events = None if spiking else False  # the ESN's products are dense whatever its input
        self.drive = _FixedWeights(w_in, events)
        self.reservoir = RecurrentCell(_reservoir_neurons(spiking, neuron, tau_mem, leak), _FixedWeights(w, events))
        self.head = readout(spiking, reservoir, num_classes, tau_out)
        self._register_load_state_dict_pre_hook(_upgrade_old_state, with_module=True)

    @property
    def w_in(self) -> Tensor:
        return self.drive.weight

    @property
    def w_rec(self) -> Tensor:
        return self.reservoir.recurrent.weight

    @torch.no_grad()
    def reservoir_states(self, x: Tensor) -> Tensor:
        """Reservoir activity ``[T, B, N]``: spikes (LSM) or tanh states (ESN). No gradient: it is fixed."""
        return self.reservoir(self.drive(x))

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.head(self.reservoir_states(x))


def _upgrade_old_state(module: LiquidStateMachine, state_dict: dict[str, Any], prefix: str, *args: Any) -> None:
    # Checkpoints written before the reservoir became a RecurrentCell name the matrices w_in / w_rec and
    # hold no neuron buffers (those follow from the configuration: take the module's own).
    if prefix + "w_rec" not in state_dict:
        return
    for old, new in (("w_in", "drive.weight"), ("w_rec", "reservoir.recurrent.weight")):
        state_dict[prefix + new] = state_dict.pop(prefix + old)
    for key, value in module.reservoir.neuron.state_dict().items():
        state_dict.setdefault(f"{prefix}reservoir.neuron.{key}", value)


@register("lsm", twin="the same fixed random reservoir with rate (tanh) units; equal parameters")
def build_lsm(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """``create("lsm", spiking, in_features, num_classes, reservoir=200, neuron="lif"|"izhikevich", seed=0)``."""
    return LiquidStateMachine(in_features, num_classes, spiking, **config)
