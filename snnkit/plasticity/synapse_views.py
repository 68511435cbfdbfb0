"""Adapters that let one rule act on any synapse: dense (``nn.Linear``), convolutional
(``nn.Conv1d``/``nn.Conv2d``, also wrapped in :class:`snnkit.synapses.TimeDistributed`) and delayed
(``snnkit.synapses.DelayedLinear``, read through its ``integer_delays()``, or any layer with a weight
``[out, in]`` and a ``delays`` tensor ``[out, in]`` in steps).

A rule only needs two operations:

- ``prepare_pre(name, x)``: turn a pre-synaptic quantity of one step (spikes or a trace, shaped like
  the synapse's input ``[B, in, ...]``) into what reaches each synapse (unfolded patches for a
  convolution, the value ``d`` steps ago for a delay of ``d``);
- ``correlate(post, pre)``: the batch (and position) sum of ``post (x) pre``, shaped like the weight.

Hebbian rules that see one row per (sample, position) use ``pre_rows`` / ``post_rows`` instead.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

DELAY_ATTRIBUTES = ("delays", "delay", "delay_steps")


class SynapseView:
    """Base class; subclasses implement the three operations for one kind of synapse."""

    weight: Tensor

    def prepare_pre(self, name: str, x: Tensor) -> Tensor:
        return self.pre_rows(x)

    def correlate(self, post: Tensor, pre: Tensor) -> Tensor:
        """``sum_rows post_rows^T @ pre`` reshaped to the weight's shape."""
        return (self.post_rows(post).t() @ pre).reshape(self.weight.shape)

    def pre_rows(self, x: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def post_rows(self, y: Tensor) -> Tensor:
        """``[B, out, *positions]`` (or ``[B, out]``) -> ``[rows, out]``."""
        if y.dim() == 2:
            return y
        return y.flatten(2).transpose(1, 2).reshape(-1, y.shape[1])

    def weight_rows(self) -> Tensor:
        """The weight as ``[out, fan_in]`` (a view)."""
        return self.weight.reshape(self.weight.shape[0], -1)

    def reset(self) -> None:
        """Forget per-sequence state (delay lines)."""


class DenseView(SynapseView):
    """``nn.Linear`` or a bare weight ``[out, in]``; inputs ``[B, in]`` (extra leading dims are rows)."""

    def __init__(self, weight: Tensor) -> None:
        if weight.dim() != 2:
            raise ValueError(f"weight must be [out, in] for a dense synapse; got shape {tuple(weight.shape)}")
        self.weight = weight

    def pre_rows(self, x: Tensor) -> Tensor:
        return x.reshape(-1, x.shape[-1])

    def post_rows(self, y: Tensor) -> Tensor:
        return y.reshape(-1, y.shape[-1])


class ConvView(SynapseView):
    """``nn.Conv1d`` / ``nn.Conv2d`` (any stride, padding, dilation; ``groups=1``)."""

    def __init__(self, conv: nn.Conv1d | nn.Conv2d) -> None:
        if conv.groups != 1:
            raise ValueError(f"conv groups={conv.groups} is not supported by plasticity rules; allowed: 1")
        if conv.padding_mode != "zeros":
            raise ValueError(f"conv padding_mode={conv.padding_mode!r} is not supported; allowed: 'zeros'")
        self.conv = conv
        self.weight = conv.weight

    def pre_rows(self, x: Tensor) -> Tensor:
        c = self.conv
        if isinstance(c, nn.Conv1d):  # a 1-d convolution is a 2-d one of height 1
            x = x.unsqueeze(2)
            kernel, dil, pad, stride = (1, c.kernel_size[0]), (1, c.dilation[0]), (0, c.padding[0]), (1, c.stride[0])
        else:
            kernel, dil, pad, stride = c.kernel_size, c.dilation, c.padding, c.stride
        if dil != (1, 1):
            patches = F.unfold(x, kernel, dilation=dil, padding=pad, stride=stride)
            return patches.transpose(1, 2).reshape(-1, patches.shape[1])  # [B*L, C*k]
        # strided views instead of F.unfold (im2col), which is slow for the small per-step tensors here
        x = F.pad(x, (pad[1], pad[1], pad[0], pad[0])) if any(pad) else x
        win = x.unfold(2, kernel[0], stride[0]).unfold(3, kernel[1], stride[1])  # [B, C, Ho, Wo, kh, kw]
        return win.permute(0, 2, 3, 1, 4, 5).reshape(-1, x.shape[1] * kernel[0] * kernel[1])


class DelayedDenseView(DenseView):
    """A dense synapse whose synapse ``(o, i)`` delivers the pre-synaptic value of ``delays[o, i]`` steps ago.

    Traces are linear filters, so the trace of a delayed spike train is the delayed trace: the view
    keeps, per named quantity, the last ``max_delay + 1`` steps and gathers ``[B, out, in]``.
    Fractional (learnable) delays are rounded to whole steps.
    """

    def __init__(self, weight: Tensor, delays: Tensor, source: nn.Module | None = None) -> None:
        super().__init__(weight)
        self.source = source  # a layer with integer_delays(): re-read at every reset (delays may learn)
        self._set_delays(delays)
        self._history: dict[str, list[Tensor]] = {}

    def _set_delays(self, delays: Tensor) -> None:
        weight = self.weight
        if tuple(delays.shape) != tuple(weight.shape):
            raise ValueError(f"delays must have the weight's shape {tuple(weight.shape)}; got {tuple(delays.shape)}")
        d = delays.detach().round().long()
        if bool((d < 0).any()):
            raise ValueError(f"delays must be >= 0 steps; got minimum {int(d.min())}")
        self.delays = d
        self.max_delay = int(d.max()) if d.numel() else 0

    def prepare_pre(self, name: str, x: Tensor) -> Tensor:
        x = x.reshape(-1, x.shape[-1])
        hist = self._history.setdefault(name, [])
        hist.insert(0, x)
        del hist[self.max_delay + 1:]
        while len(hist) < self.max_delay + 1:  # before the sequence: nothing arrived
            hist.append(torch.zeros_like(x))
        stacked = torch.stack(hist, 1)  # [B, D+1, in], index d = d steps ago
        idx = self.delays.to(x.device).unsqueeze(0).expand(x.shape[0], -1, -1)
        return torch.gather(stacked, 1, idx)  # [B, out, in]

    def correlate(self, post: Tensor, pre: Tensor) -> Tensor:
        return torch.einsum("bo,boi->oi", self.post_rows(post), pre)

    def reset(self) -> None:
        self._history.clear()
        if self.source is not None:
            self._set_delays(self.source.integer_delays())


def _delays_of(module: nn.Module) -> Tensor | None:
    for name in DELAY_ATTRIBUTES:
        d = getattr(module, name, None)
        if isinstance(d, Tensor):
            return d
    return None


def view_of(synapse: nn.Module | Tensor | SynapseView) -> SynapseView:
    """The adapter for ``synapse`` (``nn.Linear``, ``nn.Conv1d/2d``, ``TimeDistributed``, a delayed
    linear layer, a weight tensor, or an existing view)."""
    if isinstance(synapse, SynapseView):
        return synapse
    if isinstance(synapse, Tensor):
        return DenseView(synapse)
    if not isinstance(synapse, nn.Module):
        raise TypeError(f"synapse must be an nn.Module, a weight tensor or a SynapseView; got {type(synapse).__name__}")
    inner = getattr(synapse, "module", None)
    if isinstance(inner, nn.Module) and not hasattr(synapse, "weight"):  # TimeDistributed and friends
        return view_of(inner)
    if isinstance(synapse, (nn.Conv1d, nn.Conv2d)):
        return ConvView(synapse)
    weight = getattr(synapse, "weight", None)
    if not isinstance(weight, Tensor):
        raise TypeError(f"synapse {type(synapse).__name__} has no weight tensor; allowed: nn.Linear, nn.Conv1d, "
                        "nn.Conv2d, a delayed linear layer, or a weight tensor")
    if callable(getattr(synapse, "integer_delays", None)) and weight.dim() == 2:  # snnkit.synapses.DelayedLinear
        return DelayedDenseView(weight, synapse.integer_delays(), source=synapse)
    delays = _delays_of(synapse)
    if delays is not None and weight.dim() == 2:
        return DelayedDenseView(weight, delays)
    if isinstance(synapse, nn.Linear) or weight.dim() == 2:
        return DenseView(weight)
    raise TypeError(f"synapse {type(synapse).__name__} with weight shape {tuple(weight.shape)} is not supported; "
                    "allowed: nn.Linear, nn.Conv1d, nn.Conv2d, delayed linear layers")


__all__ = ["SynapseView", "DenseView", "ConvView", "DelayedDenseView", "view_of"]
