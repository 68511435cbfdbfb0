"""Cost accounting: parameters, MACs of dense (ANN) computation, synaptic operations measured from the
actual spikes of an SNN, memory, and an energy estimate from per-operation energies.

Counting rules (per sample, summed over all time steps of one forward pass):

* ``nn.Linear`` / ``nn.Conv1d`` / ``nn.Conv2d``: if the input is **event-like** (every value an
  integer: binary spikes, or graded counts such as sums of spikes in residual paths; or the output of an
  average pool whose input was event-like: a pool of spikes still sends events), each non-zero
  input element triggers one accumulate (AC) per outgoing synapse: its exact fan-out (for a convolution
  computed with the layer's stride / padding / dilation / groups, so border elements count fewer).
  Otherwise the layer is dense: MACs = output elements x inputs per output (``in/groups x kernel``).
* ``nn.RNN`` / ``nn.GRU`` / ``nn.LSTM``: dense, ``gates x hidden x (input + hidden)`` MACs per step.
* :class:`MatMul` (used by attention): ``a @ b``; if ``a`` or ``b`` is event-like, each non-zero element
  adds one row/column of the other operand (ACs), else dense MACs.
* any :class:`CountedOp` subclass reports its own ``(macs, acs)``: models use this for operations that
  are not modules of the kinds above (the LMU memory, state-space kernels, spike masks).
* every :class:`snnkit.neurons.SpikingLayer` neuron update is counted as ``neuron_updates`` (reported;
  added to the energy only with ``include_neurons=True``, one MAC each, since most papers leave it out).

Energy: ``macs x E_MAC + acs x E_AC``. Default figures: Horowitz, "Computing's energy problem (and what
we can do about it)", ISSCC 2014, 45 nm, 0.9 V: 32-bit float add 0.9 pJ, multiply 3.7 pJ, so
MAC = 4.6 pJ and AC = 0.9 pJ (the figures used by Spikformer, the spike-driven transformer, SpikeGPT
and most SNN papers). Memory access energy is not included (it often dominates on real chips).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..neurons import LI, SpikingLayer

# Horowitz, ISSCC 2014, 45 nm (pJ per operation).
HOROWITZ_45NM_PJ: dict[str, float] = {
    "fp32_add": 0.9, "fp32_mult": 3.7, "fp32_mac": 4.6,
    "fp16_add": 0.4, "fp16_mult": 1.1,
    "int32_add": 0.1, "int32_mult": 3.1, "int8_add": 0.03, "int8_mult": 0.2,
}
E_MAC_PJ = HOROWITZ_45NM_PJ["fp32_mac"]
E_AC_PJ = HOROWITZ_45NM_PJ["fp32_add"]


class CountedOp(nn.Module):
    """Base for modules that report their own cost: override :meth:`ops`."""

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:  # pragma: no cover - abstract
        """``(macs, acs)`` of one call, summed over the batch."""
        raise NotImplementedError


def is_event_like(x: Tensor) -> bool:
    """True when every value of ``x`` is an integer (spikes, spike counts): an event-driven input."""
    if not x.is_floating_point():
        return True
    return bool(torch.equal(x, x.round()))


AVG_POOLS = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)


class PooledEvents:
    """While alive, remembers the outputs of ``model``'s average pools whose input was event-like:
    ``x in pooled`` is True for such an output (or a view of it, e.g. after Flatten). Spikes averaged by
    a pool are graded events (values ``k / window``), not dense activations."""

    def __init__(self, model: nn.Module) -> None:
        self._marked: dict[int, Any] = {}
        self._handles = [m.register_forward_hook(self._hook) for m in model.modules() if isinstance(m, AVG_POOLS)]

    def _hook(self, _m: nn.Module, inputs: tuple[Any, ...], out: Any) -> None:
        x = inputs[0]
        if isinstance(out, Tensor) and isinstance(x, Tensor) and (is_event_like(x) or x in self):
            self._marked[out.data_ptr()] = out  # held until remove(): its memory cannot be reused meanwhile

    def __contains__(self, x: object) -> bool:
        if not isinstance(x, Tensor) or not x.numel():
            return False
        return x.data_ptr() in self._marked

    def remove(self) -> None:
        for h in self._handles:
            h.remove()
        self._marked.clear()


class MatMul(CountedOp):
    """``a @ b`` as a module so cost hooks see it (attention products)."""

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        return a @ b

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        a, b = inputs[0].detach(), inputs[1].detach()
        batch = output.numel() / (a.shape[-2] * b.shape[-1])
        if is_event_like(a):
            return 0.0, float((a != 0).sum()) * b.shape[-1] * (batch * a.shape[-2] * a.shape[-1] / a.numel())
        if is_event_like(b):
            return 0.0, float((b != 0).sum()) * a.shape[-2] * (batch * b.shape[-2] * b.shape[-1] / b.numel())
        return batch * a.shape[-2] * a.shape[-1] * b.shape[-1], 0.0


def _linear_ops(m: nn.Linear, x: Tensor, y: Tensor, events: bool | None = None) -> tuple[float, float]:
    if is_event_like(x) if events is None else events:
        return 0.0, float((x != 0).sum()) * m.out_features
    return float(y.numel()) * m.in_features, 0.0


def _conv_ops(m: nn.Conv1d | nn.Conv2d, x: Tensor, y: Tensor, events: bool | None = None) -> tuple[float, float]:
    per_output = (m.in_channels // m.groups) * int(torch.tensor(m.kernel_size).prod())
    if not (is_event_like(x) if events is None else events):
        return float(y.numel()) * per_output, 0.0
    # Exact fan-out: each output element receives one AC per non-zero input in its receptive field.
    conv = F.conv1d if isinstance(m, nn.Conv1d) else F.conv2d
    ones = torch.ones_like(m.weight)
    padding = m.padding if isinstance(m.padding, (tuple, int)) else 0
    if m.padding == "same" or m.padding == "valid":
        padding = m.padding
    hits = conv((x != 0).to(ones.dtype), ones, None, m.stride, padding, m.dilation, m.groups)
    return 0.0, float(hits.sum())


def _rnn_ops(m: nn.RNNBase, x: Tensor) -> tuple[float, float]:
    gates = {"LSTM": 4, "GRU": 3}.get(m.mode, 1)
    steps_times_batch = x.numel() / x.shape[-1]
    macs, width = 0.0, m.input_size
    dirs = 2 if m.bidirectional else 1
    for _ in range(m.num_layers):
        macs += dirs * steps_times_batch * gates * m.hidden_size * (width + m.hidden_size)
        width = m.hidden_size * dirs
    return macs, 0.0


def _densify(x: Any) -> Any:
    # Shift one element off the integer grid so the layer is costed as dense; values are not used otherwise.
    if isinstance(x, Tensor) and x.is_floating_point() and x.numel():
        x = x.detach().clone(memory_format=torch.contiguous_format)
        x.view(-1)[0] += 0.5
    return x


@dataclass
class CostReport:
    """Costs of one forward pass, per sample. ``energy_pj`` = ``macs*e_mac + acs*e_ac`` (+ neurons if asked)."""

    params: int
    param_bytes: int
    macs: float
    acs: float
    neuron_updates: float
    state_bytes: float
    energy_pj: float
    spikes: float = 0.0
    per_layer: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def synops(self) -> float:
        """Synaptic operations triggered by events (= ``acs``)."""
        return self.acs

    @property
    def energy_uj(self) -> float:
        return self.energy_pj * 1e-6

    def as_dict(self) -> dict[str, Any]:
        return {"params": self.params, "param_bytes": self.param_bytes, "macs": self.macs, "acs": self.acs,
                "neuron_updates": self.neuron_updates, "state_bytes": self.state_bytes,
                "energy_pj": self.energy_pj, "spikes": self.spikes}


@torch.no_grad()
def count_costs(model: nn.Module, x: Tensor, e_mac_pj: float = E_MAC_PJ, e_ac_pj: float = E_AC_PJ,
                include_neurons: bool = False, batch_dim: int = 1, event_driven: bool = True) -> CostReport:
    """Run ``model(x)`` once with hooks and return its :class:`CostReport` per sample.

    ``x`` is the model's usual input; ``batch_dim`` says where the batch is (1 for time-major ``[T, B, ...]``).
    ``event_driven=False`` counts every operation as a dense MAC (an ANN on a GPU does not skip zeros,
    even when its input happens to be spikes).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor; got {type(x).__name__}")
    if not 0 <= batch_dim < x.dim():
        raise ValueError(f"batch_dim={batch_dim} is out of range for x of shape {tuple(x.shape)}")
    batch = x.shape[batch_dim]
    per_layer: dict[str, dict[str, float]] = {}
    totals = {"macs": 0.0, "acs": 0.0, "neurons": 0.0, "spikes": 0.0, "state": 0.0}

    def add(name: str, macs: float, acs: float) -> None:
        d = per_layer.setdefault(name, {"macs": 0.0, "acs": 0.0})
        d["macs"] += macs
        d["acs"] += acs
        totals["macs"] += macs
        totals["acs"] += acs

    def hook_for(name: str, mod: nn.Module):
        def fn(m: nn.Module, inputs: tuple[Any, ...], out: Any) -> None:
            if not event_driven and isinstance(m, (CountedOp, nn.Linear, nn.Conv1d, nn.Conv2d)):
                inputs = tuple(_densify(i) for i in inputs)
            if isinstance(m, CountedOp):
                add(name, *m.ops(inputs, out))
            elif isinstance(m, nn.Linear):
                add(name, *_linear_ops(m, inputs[0], out, _events(inputs[0])))
            elif isinstance(m, (nn.Conv1d, nn.Conv2d)):
                add(name, *_conv_ops(m, inputs[0], out, _events(inputs[0])))
            elif isinstance(m, nn.RNNBase):
                add(name, *_rnn_ops(m, inputs[0]))
            elif isinstance(m, SpikingLayer):
                y = out[0] if isinstance(out, tuple) else out
                steps = y.shape[0] if y.dim() >= 2 else 1
                totals["neurons"] += y.numel()
                totals["state"] += y.numel() / max(steps, 1)  # one state value per neuron
                if not isinstance(m, LI):
                    totals["spikes"] += float((y != 0).sum())
        return fn

    pooled = PooledEvents(model) if event_driven else None

    def _events(x: Tensor) -> bool | None:
        return True if pooled is not None and x in pooled else None

    handles = [mod.register_forward_hook(hook_for(name or type(mod).__name__, mod))
               for name, mod in model.named_modules()
               if isinstance(mod, (CountedOp, nn.Linear, nn.Conv1d, nn.Conv2d, nn.RNNBase, SpikingLayer))]
    was_training = model.training
    model.eval()
    try:
        model(x)
    finally:
        model.train(was_training)
        for h in handles:
            h.remove()
        if pooled is not None:
            pooled.remove()
    macs, acs = totals["macs"] / batch, totals["acs"] / batch
    neurons = totals["neurons"] / batch
    energy = macs * e_mac_pj + acs * e_ac_pj + (neurons * e_mac_pj if include_neurons else 0.0)
    params = sum(p.numel() for p in model.parameters())
    param_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    state_bytes = totals["state"] / batch * x.element_size()
    layers = {k: {kk: vv / batch for kk, vv in v.items()} for k, v in per_layer.items()}
    return CostReport(params, param_bytes, macs, acs, neurons, state_bytes, energy, totals["spikes"] / batch, layers)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
