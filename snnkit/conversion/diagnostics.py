"""Conversion diagnostics: accuracy as a function of T (and its plot), per-layer correlation between
IF rates x threshold and the ANN activations they replace, synaptic operations per inference."""
from __future__ import annotations

from typing import Iterable, Mapping

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..analysis.cost import PooledEvents
from ..synapses import TimeDistributed
from .convert import encode
from .modules import ConvertedIF, ConvertedLIF


def accuracy_vs_T(snn: nn.Module, x: Tensor, y: Tensor, Ts: Iterable[int] = (8, 16, 32, 64, 128),
                  encoding: str = "direct", batch_size: int = 256) -> dict[int, float]:
    """Accuracy (0-1) of the time-averaged output after each ``T`` in ``Ts``. One run at ``max(Ts)``
    suffices: a causal network's first ``T`` outputs are those of a run of length ``T``."""
    Ts = sorted(set(int(t) for t in Ts))
    if not Ts or Ts[0] < 1:
        raise ValueError(f"Ts={Ts!r} must be non-empty positive ints")
    correct = {t: 0 for t in Ts}
    idx = torch.tensor(Ts) - 1
    with torch.no_grad():
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            out = snn(encode(xb, Ts[-1], encoding))
            mean = out.cumsum(0)[idx]  # [len(Ts), B, K]; argmax of a sum = argmax of the mean
            for t, m in zip(Ts, mean):
                correct[t] += int((m.argmax(-1) == yb).sum())
    return {t: correct[t] / len(y) for t in Ts}


def ann_accuracy(ann: nn.Module, x: Tensor, y: Tensor, batch_size: int = 1024) -> float:
    ann.eval()
    with torch.no_grad():
        return sum(int((ann(xb).argmax(-1) == yb).sum())
                   for xb, yb in zip(x.split(batch_size), y.split(batch_size))) / len(y)


def plot_accuracy_vs_T(curves: Mapping[str, Mapping[int, float]], path: str, ann_accuracy: float | None = None,
                       title: str = "ANN-to-SNN conversion") -> str:
    """Write a PNG of accuracy against T (log2 axis) for each named curve; atomic write. Returns ``path``."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    fig = Figure(figsize=(5.5, 3.8))
    ax = fig.subplots()
    for name, curve in curves.items():
        ts = sorted(curve)
        ax.plot(ts, [100 * curve[t] for t in ts], marker="o", label=name)
    if ann_accuracy is not None:
        ax.axhline(100 * ann_accuracy, color="k", ls="--", lw=1, label="ANN")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("time steps T")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    from .._atomic import atomic_path
    with atomic_path(path, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    return path


def _neurons(snn: nn.Module) -> dict[str, nn.Module]:
    return {n: m for n, m in snn.named_modules() if isinstance(m, (ConvertedIF, ConvertedLIF))}


def layer_correlations(ann: nn.Module, snn: nn.Module, x: Tensor, T: int, encoding: str = "direct"
                       ) -> dict[str, float]:
    """Pearson correlation, per neuron layer, between the SNN's firing rate x threshold and the ANN
    activation at the same site (``ann`` is ``Conversion.ann``: its activation modules carry the
    neuron names)."""
    neurons = _neurons(snn)
    ann_modules = dict(ann.named_modules())
    missing = [n for n in neurons if n not in ann_modules]
    if missing:
        raise ValueError(f"ann has no activation modules named {missing}; pass Conversion.ann")
    rates: dict[str, Tensor] = {}
    acts: dict[str, Tensor] = {}
    handles = []
    for name, m in neurons.items():
        handles.append(m.register_forward_hook(
            lambda mod, _a, s, name=name: rates.__setitem__(name, s.mean(0) * mod.v_th.to(s))))
        handles.append(ann_modules[name].register_forward_hook(
            lambda _m, _a, y, name=name: acts.__setitem__(name, y)))
    try:
        with torch.no_grad():
            ann.eval()
            ann(x)
            snn(encode(x, T, encoding))
    finally:
        for h in handles:
            h.remove()
    out = {}
    for name in neurons:
        a, r = acts[name].flatten().double(), rates[name].flatten().double()
        out[name] = float(torch.corrcoef(torch.stack([a, r]))[0, 1])
    return out


def _fanout(layer: nn.Module, in_shape: tuple[int, ...]) -> Tensor:
    """Number of synapses leaving each input element (per sample)."""
    device = layer.weight.device
    if isinstance(layer, nn.Linear):
        return torch.full(in_shape, float(layer.out_features), device=device)
    with torch.enable_grad():  # d(sum of a conv with unit weights)/d(input) counts the synapses
        z = torch.ones(1, *in_shape, requires_grad=True, device=device)
        conv = F.conv1d if isinstance(layer, nn.Conv1d) else F.conv2d
        out = conv(z, torch.ones_like(layer.weight), None, layer.stride, layer.padding, layer.dilation,
                   layer.groups)
        (grad,) = torch.autograd.grad(out.sum(), z)
    return grad[0]


def synaptic_operations(snn: nn.Module, x: Tensor, T: int, encoding: str = "direct") -> dict[str, dict]:
    """Per weight layer: ``sops`` (accumulates triggered by 0/1 spikes, or by spikes averaged by a pool
    (graded events): non-zero inputs x fan-out) or ``macs``
    (multiply-accumulates for non-binary input, e.g. the direct-encoded first layer) per inference over
    ``T`` steps, plus ``ann_macs`` (the same layer in the ANN, once). Key ``"total"`` sums them."""
    layers = {n: m for n, m in snn.named_modules()
              if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d))
              and not any(isinstance(p, TimeDistributed) and p.module is m for p in snn.modules())}
    wrapped = {n: m for n, m in snn.named_modules() if isinstance(m, TimeDistributed)
               and isinstance(m.module, (nn.Linear, nn.Conv1d, nn.Conv2d))}
    layers.update(wrapped)
    report: dict[str, dict] = {}
    handles = []
    B = len(x)

    def hook(name: str, layer: nn.Module):
        def fn(_m: nn.Module, args: tuple, y: Tensor) -> None:
            inp = args[0]  # [T, B, ...]
            fan = _fanout(layer, tuple(inp.shape[2:]))
            events = (inp != 0).float().sum((0, 1))
            ops = float((events * fan).sum()) / B
            binary = bool(((inp == 0) | (inp == 1)).all()) or inp in pooled
            ann_ops = float(fan.sum())
            report[name] = {"sops" if binary else "macs": ops, "ann_macs": ann_ops,
                            "binary_input": binary}
        return fn

    for name, m in layers.items():
        layer = m.module if isinstance(m, TimeDistributed) else m
        handles.append(m.register_forward_hook(hook(name, layer)))
    pooled = PooledEvents(snn)
    try:
        with torch.no_grad():
            snn(encode(x, T, encoding))
    finally:
        pooled.remove()
        for h in handles:
            h.remove()
    report["total"] = {k: sum(r.get(k, 0.0) for r in report.values()) for k in ("sops", "macs", "ann_macs")}
    return report
