"""snnkit model -> network graph (a ``nir.NIRGraph``): the pivot every exporter and backend reads.

Time step and the continuous/discrete mapping
--------------------------------------------
NIR describes neurons in continuous time (seconds, no ``dt``). snnkit neurons are discrete: a decay
``beta`` per step. :func:`to_graph` takes ``dt`` (seconds per simulation step) and converts every decay
back to a time constant with :func:`snnkit.functional.tau_from_decay` (the one mapping place):

- ``method="euler"`` (default): ``tau = dt / (1 - beta)``. Forward Euler with this ``dt`` gives back
  exactly ``beta``; snntorch, norse and spikingjelly all discretise NIR with forward Euler, so a file
  written this way runs the same discrete network in those tools (with their ``dt`` equal to ours);
- ``method="exp"``: ``tau = -dt / ln(beta)``, the exact (zero-order-hold) solution; use it for tools that
  integrate exactly.

Input scaling: NIR's LIF is ``tau dv/dt = (v_leak - v) + r I``; discretised, ``v[t] = beta v + (1-beta) r I``.
snnkit's ``v[t] = beta v + x`` (``decay_input=False``) is therefore written with ``r = 1 / (1 - beta)``;
``decay_input=True`` with ``r = 1``. CubaLIF uses ``w_in = 1 / (1 - alpha)`` so that the synaptic current is
snnkit's ``i``. IF (``dv/dt = r I``) uses ``r = 1 / dt``. Every node also carries ``snnkit.dt`` and
``snnkit.method`` in its metadata.

What NIR cannot express raises ``ValueError`` naming the layer: max pooling, soft/no reset (unless
``extensions=True``, which writes the reset mode as node metadata ``snnkit.reset``; tools other than
snnkit ignore it and hard-reset), ALIF and Izhikevich neurons. Integer per-synapse delays have no NIR
node but are expressed exactly with standard nodes: one ``Delay`` (``d * dt`` seconds) -> ``Linear``
(the weights with that delay) branch per distinct delay, all summed at the target. Recurrent
connections are an ordinary cycle neuron -> Linear -> neuron (NIR sums a node's inputs).
Flatten's ``start_dim``/``end_dim`` follow the NIR specification (per-sample, no batch dimension).
"""
from __future__ import annotations

from typing import Any, Iterator

import nir
import numpy as np
import torch
from torch import Tensor, nn

from ..functional import tau_from_decay
from ..functional.discretize import METHODS
from ..neurons import IF, LI, LIF, CubaLIF, SpikingLayer
from ..synapses import TimeDistributed
from .modules import InputScale, IntegerDelayLinear, RecurrentCell, SumPool2d

_Piece = tuple[dict[str, Any], list[tuple[str, str]], list[str], list[str]]


def _np(x: Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float64).detach().cpu()
    return np.broadcast_to(t.numpy(), shape).astype(np.float64).copy()


def leaves(model: nn.Module) -> Iterator[nn.Module]:
    """The layers of a (nested) ``nn.Sequential`` / ``snnkit.neurons.Sequential`` in order."""
    if isinstance(model, nn.Sequential):
        for m in model:
            yield from leaves(m)
    else:
        yield model


def _is_recurrent(m: nn.Module) -> bool:
    return isinstance(m, RecurrentCell) or (isinstance(getattr(m, "neuron", None), SpikingLayer)
                                            and isinstance(getattr(m, "recurrent", None), nn.Linear))


def _is_delayed(m: nn.Module) -> bool:
    return callable(getattr(m, "integer_delays", None)) and isinstance(getattr(m, "weight", None), Tensor)


class _Exporter:
    def __init__(self, dt: float, method: str, extensions: bool) -> None:
        if not (isinstance(dt, (int, float)) and dt > 0):
            raise ValueError(f"dt={dt!r} must be a positive number of seconds per step")
        if method not in METHODS:
            raise ValueError(f"method={method!r}; allowed: {list(METHODS)}")
        self.dt, self.method, self.extensions = float(dt), method, extensions
        self.meta = {"snnkit.dt": self.dt, "snnkit.method": method}

    def tau(self, beta: Tensor, name: str) -> Tensor:
        if bool((beta >= 1).any()) or bool((beta <= 0).any()):
            raise ValueError(f"layer {name}: decay {beta.flatten()[:4].tolist()} has no finite time constant")
        return tau_from_decay(beta.double(), self.dt, self.method)

    def reset_meta(self, layer: LIF, name: str) -> dict[str, Any]:
        if layer.reset == "hard":
            return {}
        if not self.extensions:
            raise ValueError(f"layer {name}: reset={layer.reset!r} has no NIR equivalent (NIR neurons reset to "
                             "v_reset); use reset='hard', or extensions=True to store it as metadata 'snnkit.reset'")
        return {"snnkit.reset": layer.reset}

    def neuron(self, layer: nn.Module, name: str, shape: tuple[int, ...]) -> nir.NIRNode:
        like = torch.zeros(())
        if isinstance(layer, CubaLIF):
            lif, p = layer.lif, layer.params()
            alpha, beta = p.alpha(like.double()), p.lif.beta(like.double())
            r = torch.ones(()) if lif.decay_input else 1 / (1 - beta)
            return nir.CubaLIF(tau_syn=_np(self.tau(alpha, name), shape), tau_mem=_np(self.tau(beta, name), shape),
                               r=_np(r, shape), v_leak=np.zeros(shape), v_threshold=_np(lif.v_th, shape),
                               v_reset=np.full(shape, lif.v_reset), w_in=_np(1 / (1 - alpha), shape),
                               metadata={**self.meta, **self.reset_meta(lif, name)})
        if isinstance(layer, LIF):  # IF is a LIF without leak
            if layer.tau_mem is None:
                return nir.IF(r=np.full(shape, 1 / self.dt), v_threshold=_np(layer.v_th, shape),
                              v_reset=np.full(shape, layer.v_reset),
                              metadata={**self.meta, **self.reset_meta(layer, name)})
            beta = layer.params().beta(like.double())
            r = torch.ones(()) if layer.decay_input else 1 / (1 - beta)
            return nir.LIF(tau=_np(self.tau(beta, name), shape), r=_np(r, shape), v_leak=np.zeros(shape),
                           v_threshold=_np(layer.v_th, shape), v_reset=np.full(shape, layer.v_reset),
                           metadata={**self.meta, **self.reset_meta(layer, name)})
        if isinstance(layer, LI):
            beta = layer.params().beta(like.double())
            r = torch.ones(()) if layer.decay_input else 1 / (1 - beta)
            return nir.LI(tau=_np(self.tau(beta, name), shape), r=_np(r, shape), v_leak=np.zeros(shape),
                          metadata=dict(self.meta))
        raise ValueError(f"layer {name}: {type(layer).__name__} has no NIR node; supported neurons: LIF, IF, "
                         "CubaLIF, LI")

    def piece(self, m: nn.Module, name: str, in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> _Piece:
        one = lambda node: ({name: node}, [], [name], [name])  # noqa: E731
        inner = m.module if isinstance(m, TimeDistributed) else m
        if _is_recurrent(m):
            neuron_node = self.neuron(m.neuron, name, out_shape)
            rec = m.recurrent
            w = rec.weight.detach().double().numpy()
            rec_node = nir.Linear(weight=w) if rec.bias is None else nir.Affine(weight=w, bias=rec.bias.detach().double().numpy())
            return ({name: neuron_node, f"{name}.rec": rec_node}, [(name, f"{name}.rec"), (f"{name}.rec", name)],
                    [name], [name])
        if _is_delayed(m):
            if not getattr(m, "is_frozen", True):
                raise ValueError(f"layer {name}: {type(m).__name__} has interpolated (trainable) delays; call "
                                 "freeze_delays() first so that the integer delays exported are the ones it applies")
            if getattr(m, "extra_steps", 0):
                raise ValueError(f"layer {name}: extra_steps={m.extra_steps} lengthens the output sequence, which "
                                 "a NIR graph cannot express; use extra_steps=0 (pad the input instead)")
            w, delays = m.weight.detach().double(), m.integer_delays().detach()
            if not torch.equal(delays.double(), delays.double().round()) or bool((delays < 0).any()):
                raise ValueError(f"layer {name}: integer_delays() must return non-negative integers")
            nodes, edges, entries, exits = {}, [], [], []
            bias = getattr(m, "bias", None)
            for k, d in enumerate(sorted(torch.unique(delays).tolist())):
                wd = torch.where(delays == d, w, torch.zeros_like(w)).numpy()
                dname, lname = f"{name}.delay{int(d)}", f"{name}.w{int(d)}"
                nodes[dname] = nir.Delay(delay=np.full(w.shape[1], d * self.dt), metadata={"snnkit.steps": int(d)})
                nodes[lname] = (nir.Affine(weight=wd, bias=bias.detach().double().numpy()) if (k == 0 and bias is not None)
                                else nir.Linear(weight=wd))
                edges.append((dname, lname))
                entries.append(dname)
                exits.append(lname)
            return nodes, edges, entries, exits
        if isinstance(m, nn.Linear):
            w = m.weight.detach().double().numpy()
            return one(nir.Linear(weight=w) if m.bias is None else nir.Affine(weight=w, bias=m.bias.detach().double().numpy()))
        if isinstance(inner, (nn.Conv1d, nn.Conv2d)):
            if isinstance(inner.padding, str):
                raise ValueError(f"layer {name}: string padding {inner.padding!r} is not exported; use integers")
            bias = np.zeros(inner.out_channels) if inner.bias is None else inner.bias.detach().double().numpy()
            w = inner.weight.detach().double().numpy()
            if isinstance(inner, nn.Conv1d):
                return one(nir.Conv1d(input_shape=in_shape[-1], weight=w, stride=inner.stride[0], padding=inner.padding[0],
                                      dilation=inner.dilation[0], groups=inner.groups, bias=bias))
            return one(nir.Conv2d(input_shape=tuple(in_shape[-2:]), weight=w, stride=inner.stride, padding=inner.padding,
                                  dilation=inner.dilation, groups=inner.groups, bias=bias))
        if isinstance(inner, (nn.AvgPool2d, SumPool2d)):
            k = nn.modules.utils._pair(inner.kernel_size)
            s = nn.modules.utils._pair(inner.stride if inner.stride is not None else k)
            p = nn.modules.utils._pair(inner.padding)
            cls = nir.SumPool2d if isinstance(inner, SumPool2d) else nir.AvgPool2d
            return one(cls(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p)))
        if isinstance(inner, (nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)):
            raise ValueError(f"layer {name}: max pooling has no NIR node; use AvgPool2d or SumPool2d")
        if isinstance(inner, nn.Flatten):
            offset = 1 if isinstance(m, TimeDistributed) else 2  # batch (and time) dims are not part of NIR shapes
            start = inner.start_dim - offset if inner.start_dim >= 0 else inner.start_dim
            end = inner.end_dim - offset if inner.end_dim >= 0 else inner.end_dim
            if start < 0 <= inner.start_dim:
                raise ValueError(f"layer {name}: Flatten(start_dim={inner.start_dim}) would merge time/batch dims")
            return one(nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=start, end_dim=end))
        if isinstance(m, InputScale):
            return one(nir.Scale(scale=_np(m.scale, out_shape)))
        if isinstance(m, SpikingLayer):
            return one(self.neuron(m, name, out_shape))
        raise ValueError(f"layer {name}: {type(m).__name__} has no NIR mapping; supported: Linear, TimeDistributed("
                         "Conv1d/Conv2d/AvgPool2d/Flatten), SumPool2d, Flatten, LIF, IF, CubaLIF, LI, RecurrentCell, "
                         "delayed linear layers (integer_delays()), Dropout/Identity")


def _infer_input_shape(layers: list[nn.Module]) -> tuple[int, ...]:
    first = layers[0]
    if isinstance(first, nn.Linear) or _is_delayed(first):
        return (int(first.weight.shape[1]),)
    raise ValueError("input_shape is required (per-sample shape, e.g. (2, 34, 34)) when the first layer is "
                     f"{type(first).__name__}")


def fold_input_resistance(graph: nir.NIRGraph) -> nir.NIRGraph:
    """Move each LIF/LI/IF node's input resistance ``r`` into the Linear/Affine nodes feeding it (rows
    scaled by ``r``), leaving ``r = 1``. Same dynamics; needed for tools that ignore ``r`` (norse's
    LIFBoxCell, spikingjelly). Neurons fed by anything but weight nodes used only by them are left alone."""
    preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
    succs: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        preds[b].append(a)
        succs[a].append(b)
    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.LIF, nir.LI, nir.IF)):
            continue
        r = np.asarray(node.r, np.float64)
        if np.allclose(r, 1) or r.ndim != 1:
            continue
        feeders = [graph.nodes[p] for p in preds[name]]
        if not feeders or not all(isinstance(f, (nir.Linear, nir.Affine)) and succs[p] == [name]
                                  for f, p in zip(feeders, preds[name])):
            continue
        for f in feeders:
            f.weight = np.asarray(f.weight, np.float64) * r[:, None]
            if isinstance(f, nir.Affine):
                f.bias = np.asarray(f.bias, np.float64) * r
        node.r = np.ones_like(r)
    return graph


@torch.no_grad()
def to_graph(model: nn.Module, dt: float = 1e-3, method: str = "euler",
             input_shape: tuple[int, ...] | None = None, extensions: bool = False,
             unit_r: bool = False) -> nir.NIRGraph:
    """The NIR graph of a sequential snnkit model (see the module docstring for the time mapping).

    Args:
        model: ``snnkit.neurons.Sequential`` / ``nn.Sequential`` (nesting allowed) or a single layer.
        dt: seconds per simulation step.
        method: ``"euler"`` or ``"exp"``: how decays become time constants.
        input_shape: per-sample input shape (without time and batch); inferred for a first Linear.
        extensions: allow snnkit-only features as node metadata (soft reset) instead of raising.
        unit_r: fold every input resistance into the preceding weights (:func:`fold_input_resistance`),
            for tools that ignore NIR's ``r`` (norse).
    """
    ex = _Exporter(dt, method, extensions)
    layers = [m for m in leaves(model) if not isinstance(m, (nn.Identity, nn.Dropout))]
    if not layers:
        raise ValueError("model has no layers to export")
    shape = tuple(int(s) for s in (input_shape or _infer_input_shape(layers)))
    nodes: dict[str, Any] = {"input": nir.Input(input_type={"input": np.array(shape)})}
    edges: list[tuple[str, str]] = []
    exits = ["input"]
    was_training = model.training
    model.eval()
    try:
        x = torch.zeros(1, 1, *shape)
        for i, m in enumerate(layers):
            y = m(x)
            y = y[0] if isinstance(y, tuple) else y
            piece_nodes, piece_edges, entries, new_exits = ex.piece(m, str(i), tuple(x.shape[2:]), tuple(y.shape[2:]))
            nodes.update(piece_nodes)
            edges += piece_edges + [(a, b) for a in exits for b in entries]
            exits, x = new_exits, y
    finally:
        model.train(was_training)
    nodes["output"] = nir.Output(output_type={"output": np.array(x.shape[2:])})
    edges += [(a, "output") for a in exits]
    graph = nir.NIRGraph(nodes=nodes, edges=edges, metadata=dict(ex.meta))
    return fold_input_resistance(graph) if unit_r else graph


def export_nir(model: nn.Module, path: str, dt: float = 1e-3, method: str = "euler",
               input_shape: tuple[int, ...] | None = None, extensions: bool = False,
               unit_r: bool = False) -> nir.NIRGraph:
    """Write ``model`` as a NIR HDF5 file at ``path`` (atomically) and return the graph."""
    from .._atomic import atomic_path

    graph = to_graph(model, dt, method, input_shape, extensions, unit_r)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(str(tmp), graph)
    return graph
