"""NIR file/graph -> a runnable snnkit model (``snnkit.neurons.Sequential``).

The inverse of :mod:`snnkit.ir.graph`, with the same time mapping: a NIR time constant ``tau`` becomes
the per-step decay ``snnkit.functional.decay(tau, dt, method)`` (``method="euler"`` by default, as
snntorch/norse/spikingjelly discretise); an input resistance ``r`` (and CubaLIF's ``w_in``) that the
neuron does not absorb becomes an :class:`~snnkit.ir.modules.InputScale` in front of it.

Graph shapes understood: chains of nodes; nested ``NIRGraph`` nodes (inlined, as snntorch writes
recurrent layers); a neuron <-> Linear/Affine cycle (-> :class:`RecurrentCell`); fan-outs of
``Delay -> Linear`` branches that meet at one node (-> :class:`IntegerDelayLinear`). Anything else
raises ``ValueError`` naming the node.
"""
from __future__ import annotations

from typing import Any

import nir
import numpy as np
import torch
from torch import nn

from ..functional import decay
from ..functional.discretize import METHODS
from ..neurons import IF, LI, LIF, CubaLIF, Sequential
from ..synapses import TimeDistributed
from .modules import InputScale, IntegerDelayLinear, RecurrentCell, SumPool2d

_NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI)
_WEIGHTS = (nir.Linear, nir.Affine)


def _inline(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Flatten nested NIRGraph nodes into one level of nodes and edges."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    sub_in: dict[str, list[str]] = {}
    sub_out: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph):
            sn, se = _inline(node, full + ".")
            ins = [k for k, v in node.nodes.items() if isinstance(v, nir.Input)]
            outs = [k for k, v in node.nodes.items() if isinstance(v, nir.Output)]
            sub_in[full] = [f"{full}.{b}" for a, b in node.edges if a in ins]
            sub_out[full] = [f"{full}.{a}" for a, b in node.edges if b in outs]
            sn = {k: v for k, v in sn.items() if not isinstance(v, (nir.Input, nir.Output))}
            se = [(a, b) for a, b in se if a in sn and b in sn]
            nodes.update(sn)
            edges += se
        else:
            nodes[full] = node
    for a, b in graph.edges:
        for src in sub_out.get(prefix + a, [prefix + a]):
            for dst in sub_in.get(prefix + b, [prefix + b]):
                edges.append((src, dst))
    return nodes, edges


def _arr(x: Any) -> np.ndarray:
    return np.asarray(x, dtype=np.float64)


def _uniform_or_tensor(values: np.ndarray) -> tuple[float, torch.Tensor | None]:
    flat = values.reshape(-1)
    if np.allclose(flat, flat[0], rtol=0, atol=0):
        return float(flat[0]), None
    return float(flat[0]), torch.as_tensor(values, dtype=torch.float32)


class _Importer:
    def __init__(self, dt: float, method: str) -> None:
        if not (isinstance(dt, (int, float)) and dt > 0):
            raise ValueError(f"dt={dt!r} must be a positive number of seconds per step")
        if method not in METHODS:
            raise ValueError(f"method={method!r}; allowed: {list(METHODS)}")
        self.dt, self.method = float(dt), method

    def beta(self, tau: np.ndarray) -> np.ndarray:
        return decay(torch.as_tensor(tau, dtype=torch.float64), self.dt, self.method).numpy()

    def _set_tau(self, layer: nn.Module, attr: str, tau_steps: np.ndarray) -> None:
        getattr(layer, "_log_" + attr).data = torch.as_tensor(np.log(tau_steps), dtype=torch.float32).reshape(
            getattr(layer, "_log_" + attr).shape)

    def neuron(self, name: str, node: Any) -> list[nn.Module]:
        meta = getattr(node, "metadata", {}) or {}
        reset = str(meta.get("snnkit.reset", "hard"))
        if hasattr(node, "v_leak") and not np.allclose(_arr(node.v_leak), 0):
            raise ValueError(f"node {name}: v_leak != 0 is not supported (snnkit neurons rest at 0)")
        v_reset = 0.0
        if getattr(node, "v_reset", None) is not None:
            vr = _arr(node.v_reset).reshape(-1)
            if not np.allclose(vr, vr[0]):
                raise ValueError(f"node {name}: per-neuron v_reset is not supported")
            v_reset = float(vr[0])
        shape = _arr(getattr(node, "v_threshold", getattr(node, "tau", None))).shape
        n_shape = shape if shape else None

        def threshold(layer: nn.Module) -> None:
            v0, vt = _uniform_or_tensor(_arr(node.v_threshold))
            target = layer.v_th
            target.data = (torch.full_like(target, v0) if vt is None else vt.reshape(target.shape)).to(target.dtype)

        scale = np.ones(shape)
        if isinstance(node, nir.IF):
            layer = IF(v_reset=v_reset, reset=reset, shape=n_shape)
            threshold(layer)
            scale = _arr(node.r) * self.dt
        elif isinstance(node, (nir.LIF, nir.LI)):
            tau = _arr(node.tau)
            beta = self.beta(tau)
            if isinstance(node, nir.LIF):
                layer = LIF(tau_mem=1.0, dt=1.0, v_reset=v_reset, reset=reset, method=self.method, shape=n_shape)
                threshold(layer)
            else:
                layer = LI(tau_mem=1.0, dt=1.0, method=self.method, shape=n_shape)
            self._set_tau(layer, "tau_mem", tau / self.dt)
            scale = (1 - beta) * _arr(node.r)
        elif isinstance(node, nir.CubaLIF):
            tau_syn, tau_mem = _arr(node.tau_syn), _arr(node.tau_mem)
            alpha, beta = self.beta(tau_syn), self.beta(tau_mem)
            layer = CubaLIF(tau_syn=1.0, tau_mem=1.0, dt=1.0, v_reset=v_reset, reset=reset, method=self.method,
                            shape=n_shape)
            threshold(layer.lif)
            self._set_tau(layer.lif, "tau_mem", tau_mem / self.dt)
            self._set_tau(layer, "tau_syn", tau_syn / self.dt)
            scale = (1 - beta) * _arr(node.r) * (1 - alpha) * _arr(node.w_in)
        else:  # pragma: no cover - guarded by caller
            raise ValueError(f"node {name}: not a neuron")
        scale = np.broadcast_to(scale, shape) if shape else scale
        if np.allclose(scale, 1.0, rtol=1e-6, atol=0):
            return [layer]
        return [InputScale(torch.tensor(np.array(scale), dtype=torch.float32)), layer]

    def weights(self, node: Any) -> nn.Linear:
        w = torch.as_tensor(_arr(node.weight), dtype=torch.float32)
        bias = getattr(node, "bias", None)
        lin = nn.Linear(w.shape[1], w.shape[0], bias=bias is not None)
        lin.weight.data = w
        if bias is not None:
            lin.bias.data = torch.as_tensor(_arr(bias), dtype=torch.float32).reshape(-1)
        return lin

    def stateless(self, name: str, node: Any) -> nn.Module:
        if isinstance(node, _WEIGHTS):
            return self.weights(node)
        if isinstance(node, (nir.Conv1d, nir.Conv2d)):
            w = torch.as_tensor(_arr(node.weight), dtype=torch.float32)
            cls = nn.Conv1d if isinstance(node, nir.Conv1d) else nn.Conv2d
            padding = node.padding if isinstance(node.padding, str) else tuple(np.atleast_1d(node.padding).astype(int).tolist())
            stride = tuple(np.atleast_1d(node.stride).astype(int).tolist())
            dilation = tuple(np.atleast_1d(node.dilation).astype(int).tolist())
            conv = cls(w.shape[1] * int(node.groups), w.shape[0], tuple(w.shape[2:]), stride=stride, padding=padding,
                       dilation=dilation, groups=int(node.groups))
            conv.weight.data = w
            conv.bias.data = torch.as_tensor(_arr(node.bias), dtype=torch.float32).reshape(-1)
            return TimeDistributed(conv)
        if isinstance(node, nir.Flatten):
            start, end = int(node.start_dim), int(node.end_dim)
            return TimeDistributed(nn.Flatten(start + 1 if start >= 0 else start, end + 1 if end >= 0 else end))
        if isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
            k = tuple(np.atleast_1d(node.kernel_size).astype(int).tolist())
            s = tuple(np.atleast_1d(node.stride).astype(int).tolist())
            p = tuple(np.atleast_1d(node.padding).astype(int).tolist())
            pool = SumPool2d(k, s, p) if isinstance(node, nir.SumPool2d) else nn.AvgPool2d(k, s, p)
            return TimeDistributed(pool)
        if isinstance(node, nir.Scale):
            return InputScale(torch.as_tensor(_arr(node.scale), dtype=torch.float32))
        raise ValueError(f"node {name}: NIR node type {type(node).__name__} is not supported by snnkit's importer")

    def delay_steps(self, name: str, node: nir.Delay) -> np.ndarray:
        steps = _arr(node.delay) / self.dt
        rounded = np.round(steps)
        if not np.allclose(steps, rounded, atol=1e-6) or (rounded < 0).any():
            raise ValueError(f"node {name}: delay {node.delay} s is not a non-negative multiple of dt={self.dt}")
        return rounded.astype(np.int64)


def from_graph(graph: nir.NIRGraph, dt: float = 1e-3, method: str = "euler") -> Sequential:
    """A ``snnkit.neurons.Sequential`` equivalent to ``graph`` (see the module docstring)."""
    imp = _Importer(dt, method)
    nodes, edges = _inline(graph)
    edges = list(dict.fromkeys(edges))
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    # Recurrent pairs: neuron -> W -> neuron with W touching nothing else.
    recurrent: dict[str, str] = {}
    for name, node in nodes.items():
        if isinstance(node, _WEIGHTS) and succ[name] == pred[name] and len(succ[name]) == 1 \
                and isinstance(nodes[succ[name][0]], _NEURONS):
            recurrent[succ[name][0]] = name
    for n, w in recurrent.items():
        succ[n].remove(w)
        pred[n].remove(w)
        del succ[w], pred[w]
    # Delay fan-outs: source -> Delay -> Linear -> target, grouped by (source, target).
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for name, node in nodes.items():
        if isinstance(node, nir.Delay) and len(pred.get(name, [])) == 1 and len(succ.get(name, [])) == 1:
            lin = succ[name][0]
            if isinstance(nodes[lin], _WEIGHTS) and len(succ[lin]) == 1 and len(pred[lin]) == 1:
                groups.setdefault((pred[name][0], succ[lin][0]), []).append((name, lin))
    group_nodes: dict[str, list[tuple[str, str]]] = {}
    for (src, dst), branches in groups.items():
        gname = f"{dst}.delayed_input"
        group_nodes[gname] = branches
        for d, lin in branches:
            succ[src].remove(d)
            pred[dst].remove(lin)
            for k in (d, lin):
                succ.pop(k, None)
                pred.pop(k, None)
        succ[src].append(gname)
        pred[dst].append(gname)
        succ[gname], pred[gname] = [dst], [src]
    starts = [k for k in succ if isinstance(nodes.get(k), nir.Input)]
    if len(starts) != 1:
        raise ValueError(f"graph must have exactly one Input node; found {starts}")
    layers: list[nn.Module] = []
    current, seen = starts[0], set()
    while True:
        seen.add(current)
        nxt = succ[current]
        if not nxt:
            break
        if len(nxt) != 1 or len(pred[nxt[0]]) != 1:
            raise ValueError(f"node {current}: branches to {nxt}; snnkit imports chains (with recurrent and delay "
                             "patterns) only")
        current = nxt[0]
        if current in seen:
            raise ValueError(f"node {current}: unsupported cycle")
        node = nodes.get(current)
        if isinstance(node, nir.Output):
            continue
        if current in group_nodes:
            layers.append(_delay_group(imp, nodes, group_nodes[current]))
        elif isinstance(node, _NEURONS):
            mods = imp.neuron(current, node)
            if current in recurrent:
                rec = imp.weights(nodes[recurrent[current]])
                if len(mods) == 2:  # the recurrent input is scaled like the feed-forward one
                    rec.weight.data *= mods[0].scale.reshape(-1, 1)
                    if rec.bias is not None:
                        rec.bias.data *= mods[0].scale.reshape(-1)
                    layers.append(mods[0])
                mods = [RecurrentCell(mods[-1], rec)]
            layers += mods
        elif isinstance(node, nir.Delay):
            steps = imp.delay_steps(current, node).reshape(-1)
            n = steps.size
            layers.append(IntegerDelayLinear(torch.eye(n), torch.as_tensor(np.diag(steps))))
        else:
            layers.append(imp.stateless(current, node))
    return Sequential(*layers)


def _delay_group(imp: _Importer, nodes: dict[str, Any], branches: list[tuple[str, str]]) -> IntegerDelayLinear:
    weight, delays, bias = None, None, None
    for dname, lname in branches:
        steps = imp.delay_steps(dname, nodes[dname]).reshape(-1)
        w = _arr(nodes[lname].weight)
        d_mat = np.broadcast_to(steps[None, :], w.shape)
        if weight is None:
            weight, delays = np.zeros_like(w), np.zeros(w.shape, np.int64)
        mask = w != 0
        weight = weight + w
        delays = np.where(mask, d_mat, delays)
        if getattr(nodes[lname], "bias", None) is not None:
            b = _arr(nodes[lname].bias)
            bias = b if bias is None else bias + b
    return IntegerDelayLinear(torch.as_tensor(weight, dtype=torch.float32), torch.as_tensor(delays),
                              None if bias is None else torch.as_tensor(bias, dtype=torch.float32))


def import_nir(source: str | nir.NIRGraph, dt: float | None = None, method: str | None = None) -> Sequential:
    """Read a NIR file (or take a graph) and return a snnkit model that runs ``[T, B, ...]`` input.

    ``dt`` is the simulation step in seconds and ``method`` the discretisation (``"euler"``/``"exp"``).
    Left ``None``, they come from the graph metadata ``snnkit.dt``/``snnkit.method`` written by
    :func:`snnkit.ir.export_nir`; files from other tools need ``dt`` (method defaults to ``"euler"``, as
    those tools discretise).
    """
    graph = nir.read(str(source)) if not isinstance(source, nir.NIRGraph) else source
    meta = getattr(graph, "metadata", {}) or {}
    if dt is None:
        if "snnkit.dt" not in meta:
            raise ValueError("dt=None but the NIR graph has no 'snnkit.dt' metadata; pass dt (seconds per step)")
        dt = float(meta["snnkit.dt"])
    if method is None:
        method = str(meta.get("snnkit.method", "euler"))
    return from_graph(graph, dt, method)
