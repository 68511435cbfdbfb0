"""NIR file/graph -> a runnable snnkit model.

The inverse of :mod:`snnkit.ir.graph`, with the same time mapping: a NIR time constant ``tau`` becomes
the per-step decay ``snnkit.functional.decay(tau, dt, method)`` (``method="euler"`` by default, as
snntorch/norse/spikingjelly discretise); an input resistance ``r`` (and CubaLIF's ``w_in``) that the
neuron does not absorb becomes an :class:`~snnkit.synapses.InputScale` in front of it.

Graph shapes understood: any DAG of nodes (inputs arriving at a node are summed, as NIR specifies);
nested ``NIRGraph`` nodes (inlined, as snntorch writes recurrent layers); a neuron <-> Linear/Affine
cycle (-> :class:`~snnkit.synapses.RecurrentCell`); fan-outs of ``Delay -> Linear`` branches that meet at
one node (-> :class:`~snnkit.synapses.IntegerDelayLinear`). A chain comes back as
``snnkit.neurons.Sequential``, anything else as a ``torch.fx.GraphModule``.

Untrusted files: :func:`import_nir` checks the HDF5 layout (depth, counts, dataset sizes and types)
before ``nir`` reads a single array, then :func:`validate_graph` checks every node (types, shapes,
finiteness, ranges, edges) before any module is built. Problems raise
:class:`snnkit.errors.InvalidFileError` / :class:`~snnkit.errors.SizeLimitError` naming the node and field.
"""
from __future__ import annotations

import importlib
import operator
import os
from typing import Any, Callable

import nir
import numpy as np
import torch
from torch import fx, nn

from ..errors import InvalidFileError, SizeLimitError
from ..functional import decay
from ..functional.discretize import METHODS
from ..neurons import IF, LI, LIF, CubaLIF, Sequential
from ..synapses import TimeDistributed
from ..synapses.elementwise import InputScale, SumPool2d
from ..synapses.integer_delays import IntegerDelayLinear
from ..synapses.recurrent import RecurrentCell

_NEURONS = (nir.LIF, nir.CubaLIF, nir.IF, nir.LI)
_WEIGHTS = (nir.Linear, nir.Affine)

# Caps for files from elsewhere (raise them by passing limits=... when a file is trusted).
LIMITS = {"nodes": 10_000, "edges": 100_000, "depth": 8, "elements": 50_000_000, "array_elements": 20_000_000,
          "max_delay_steps": 100_000, "kernel": 64, "stride": 64, "repeat_steps": 100_000}

# Extension node kinds (metadata "snnkit.module") -> builder(name, node, default_modules) -> modules.
# Packages that define such modules register builders; the table below names, for each kind snnkit
# itself writes, the snnkit package that registers it (imported on first use; never chosen by a file).
_EXTENSIONS: dict[str, Callable[[str, Any, list[nn.Module]], list[nn.Module]]] = {}
_PROVIDERS = {"ConvertedIF": "snnkit.conversion", "ConvertedLIF": "snnkit.conversion",
              "SpikeMaxPool": "snnkit.conversion"}


def register_extension(kind: str) -> Callable:
    """Decorator: ``builder(name, node, modules) -> modules`` rebuilds nodes whose metadata
    ``snnkit.module`` is ``kind`` (``modules`` is what the importer would build from the standard node)."""
    def deco(fn: Callable) -> Callable:
        _EXTENSIONS[kind] = fn
        return fn
    return deco


def _extension(kind: str) -> Callable | None:
    if kind not in _EXTENSIONS and kind in _PROVIDERS:
        importlib.import_module(_PROVIDERS[kind])
    return _EXTENSIONS.get(kind)


def _meta(node: Any) -> dict[str, Any]:
    return getattr(node, "metadata", None) or {}


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _kind(node: Any) -> str | None:
    k = _meta(node).get("snnkit.module")
    return None if k is None else _text(k)


# --- validation of files from elsewhere ---------------------------------------------------------

def check_hdf5(path: str, limits: dict[str, int] = LIMITS) -> None:
    """Check a NIR HDF5 file's layout without reading its arrays: group depth, node count, dataset
    sizes and types. Raises InvalidFileError / SizeLimitError naming the HDF5 path."""
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as err:
        raise InvalidFileError(path, "file", os.path.basename(str(path)), f"an HDF5 NIR file ({err})") from None
    try:
        with f:
            _check_layout(f, path, limits)
    except (RuntimeError, OSError, KeyError) as err:  # h5py's errors on a damaged file's structure
        raise InvalidFileError(path, "node", type(err).__name__, f"an intact HDF5 NIR file ({err})") from None


def _check_layout(f: Any, path: str, limits: dict[str, int]) -> None:
    """The checks of :func:`check_hdf5` on the open file ``f``."""
    import h5py

    if "node" not in f or not isinstance(f["node"], h5py.Group):
        raise InvalidFileError(path, "node", sorted(f.keys()), "a top-level group 'node' (NIR layout)")
    total, count = 0, 0

    def walk(group: Any, depth: int) -> None:
        nonlocal total, count
        if depth > limits["depth"]:
            raise SizeLimitError(path, group.name, f"depth {depth}", f"graphs nested at most {limits['depth']} deep")
        for key, item in group.items():
            if isinstance(item, h5py.Group):
                if group.name.endswith("/nodes"):
                    count += 1
                    if count > limits["nodes"]:
                        raise SizeLimitError(path, item.name, f"node #{count}", f"at most {limits['nodes']} nodes")
                walk(item, depth + (key == "nodes"))
            elif isinstance(item, h5py.Dataset):
                size = int(np.prod(item.shape)) if item.shape else 1
                if item.dtype.kind not in "fiubSOU":
                    raise InvalidFileError(path, item.name, str(item.dtype), "numbers or strings")
                if size > limits["array_elements"]:
                    raise SizeLimitError(path, item.name, f"{size} elements",
                                         f"at most {limits['array_elements']} per array")
                total += size
                if total > limits["elements"]:
                    raise SizeLimitError(path, item.name, f"{total} elements in all",
                                         f"at most {limits['elements']} in the file")
            else:
                raise InvalidFileError(path, f"{group.name}/{key}", type(item).__name__, "groups and datasets")

    walk(f["node"], 0)


_ARRAYS: dict[type, tuple[str, ...]] = {
    nir.Linear: ("weight",), nir.Affine: ("weight", "bias"), nir.Scale: ("scale",),
    nir.LIF: ("tau", "r", "v_leak", "v_threshold", "v_reset"), nir.LI: ("tau", "r", "v_leak"),
    nir.IF: ("r", "v_threshold", "v_reset"),
    nir.CubaLIF: ("tau_syn", "tau_mem", "r", "v_leak", "v_threshold", "v_reset", "w_in"),
    nir.Conv1d: ("weight", "bias"), nir.Conv2d: ("weight", "bias"), nir.Delay: ("delay",),
    nir.AvgPool2d: ("kernel_size", "stride", "padding"), nir.SumPool2d: ("kernel_size", "stride", "padding"),
    nir.Flatten: (), nir.Input: (), nir.Output: (),
}
_POSITIVE = {"tau", "tau_syn", "tau_mem"}


def _ints(path: Any, field: str, value: Any, n: int, low: int, high: int) -> None:
    a = np.atleast_1d(np.asarray(value))
    if a.dtype.kind not in "iuf" or a.size not in (1, n) or not np.all(np.isfinite(a)) \
            or not np.all(a == np.round(a)) or a.min() < low or a.max() > high:
        raise InvalidFileError(path, field, value, f"{n} integer(s) in [{low}, {high}]")


def validate_graph(graph: nir.NIRGraph, path: Any = None, limits: dict[str, int] = LIMITS,
                   depth: int = 0, prefix: str = "") -> None:
    """Check every node and edge of ``graph`` before anything is built (see the module docstring)."""
    if not isinstance(graph, nir.NIRGraph):
        raise InvalidFileError(path, prefix or "graph", type(graph).__name__, "a NIRGraph")
    if depth > limits["depth"]:
        raise SizeLimitError(path, prefix, f"depth {depth}", f"graphs nested at most {limits['depth']} deep")
    if len(graph.nodes) > limits["nodes"] or len(graph.edges) > limits["edges"]:
        raise SizeLimitError(path, prefix + "nodes/edges", f"{len(graph.nodes)} nodes, {len(graph.edges)} edges",
                             f"at most {limits['nodes']} nodes and {limits['edges']} edges")
    for edge in graph.edges:
        if len(edge) != 2 or any(not isinstance(e, str) or e not in graph.nodes for e in edge):
            raise InvalidFileError(path, prefix + "edges", edge, "pairs of names of nodes of the graph")
    for name, node in graph.nodes.items():
        where = f"{prefix}nodes.{name}"
        if isinstance(node, nir.NIRGraph):
            validate_graph(node, path, limits, depth + 1, where + ".")
            continue
        fields = _ARRAYS.get(type(node))
        if fields is None:
            raise InvalidFileError(path, where + ".type", type(node).__name__,
                                   f"one of {sorted(c.__name__ for c in _ARRAYS)} or NIRGraph")
        arrays = {}
        for f in fields:
            value = getattr(node, f, None)
            a = np.asarray(value) if value is not None else None
            if a is None or a.dtype.kind not in "iuf":
                raise InvalidFileError(path, f"{where}.{f}", value, "a numeric array")
            if a.size > limits["array_elements"]:
                raise SizeLimitError(path, f"{where}.{f}", f"{a.size} elements", f"at most {limits['array_elements']}")
            if not np.all(np.isfinite(a)):
                raise InvalidFileError(path, f"{where}.{f}", "non-finite values", "finite numbers")
            if f in _POSITIVE and not np.all(a > 0):
                raise InvalidFileError(path, f"{where}.{f}", float(a.min()), "time constants > 0")
            arrays[f] = a
        _validate_shapes(node, arrays, path, where, limits)


def _shape(path: Any, field: str, value: Any, limits: dict[str, int]) -> None:
    a = np.atleast_1d(np.asarray(value))
    if a.dtype.kind not in "iuf" or a.ndim != 1 or a.size > 8 or not np.all(np.isfinite(a)) \
            or not np.all(a == np.round(a)) or np.any(a < 1):
        raise InvalidFileError(path, field, value, "a shape: at most 8 positive integers")
    if float(np.prod(a.astype(np.float64))) > limits["array_elements"]:
        raise SizeLimitError(path, field, value, f"at most {limits['array_elements']} elements per sample")


def _validate_shapes(node: Any, arrays: dict[str, np.ndarray], path: Any, where: str, limits: dict[str, int]) -> None:
    if isinstance(node, nir.Input):
        _shape(path, where + ".input_type", node.input_type.get("input"), limits)
    elif isinstance(node, _WEIGHTS):
        w = arrays["weight"]
        if w.ndim != 2:
            raise InvalidFileError(path, where + ".weight", f"shape {w.shape}", "a 2-D matrix [out, in]")
        if "bias" in arrays and arrays["bias"].reshape(-1).shape != (w.shape[0],):
            raise InvalidFileError(path, where + ".bias", f"shape {arrays['bias'].shape}", f"{w.shape[0]} values")
    elif isinstance(node, (nir.Conv1d, nir.Conv2d)):
        dims = 1 if isinstance(node, nir.Conv1d) else 2
        w = arrays["weight"]
        if w.ndim != dims + 2 or w.shape[2:] and max(w.shape[2:]) > limits["kernel"]:
            raise InvalidFileError(path, where + ".weight", f"shape {w.shape}",
                                   f"[out, in/groups, {'k' if dims == 1 else 'kh, kw'}] with kernels <= {limits['kernel']}")
        _ints(path, where + ".groups", node.groups, 1, 1, max(w.shape[0], 1))
        if w.shape[0] % int(node.groups):
            raise InvalidFileError(path, where + ".groups", node.groups, f"a divisor of {w.shape[0]} output channels")
        if arrays["bias"].reshape(-1).shape != (w.shape[0],):
            raise InvalidFileError(path, where + ".bias", f"shape {arrays['bias'].shape}", f"{w.shape[0]} values")
        _ints(path, where + ".stride", node.stride, dims, 1, limits["stride"])
        _ints(path, where + ".dilation", node.dilation, dims, 1, limits["kernel"])
        if not isinstance(node.padding, str):
            _ints(path, where + ".padding", node.padding, dims, 0, limits["kernel"])
        elif node.padding not in ("same", "valid"):
            raise InvalidFileError(path, where + ".padding", node.padding, "'same', 'valid' or integers")
    elif isinstance(node, (nir.AvgPool2d, nir.SumPool2d)):
        _ints(path, where + ".kernel_size", arrays["kernel_size"], 2, 1, limits["kernel"])
        _ints(path, where + ".stride", arrays["stride"], 2, 1, limits["stride"])
        _ints(path, where + ".padding", arrays["padding"], 2, 0, limits["kernel"])
    elif isinstance(node, nir.Flatten):
        for f in ("start_dim", "end_dim"):
            _ints(path, f"{where}.{f}", getattr(node, f), 1, -8, 8)
    elif isinstance(node, nir.Delay):
        if np.any(arrays["delay"] < 0):
            raise InvalidFileError(path, where + ".delay", float(arrays["delay"].min()), "delays >= 0 seconds")
    elif isinstance(node, _NEURONS):
        shapes = {f: a.shape for f, a in arrays.items() if a.ndim}
        if len(set(shapes.values())) > 1:
            raise InvalidFileError(path, where, shapes, "parameter arrays of one shape (or scalars)")


# --- building modules ---------------------------------------------------------------------------

def _inline(graph: nir.NIRGraph, prefix: str = "") -> tuple[dict[str, Any], list[tuple[str, str]]]:
    """Flatten nested NIRGraph nodes (not snnkit extension nodes) into one level of nodes and edges."""
    nodes: dict[str, Any] = {}
    edges: list[tuple[str, str]] = []
    sub_in: dict[str, list[str]] = {}
    sub_out: dict[str, list[str]] = {}
    for name, node in graph.nodes.items():
        full = prefix + name
        if isinstance(node, nir.NIRGraph) and _kind(node) is None:
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
        reset = _text(_meta(node).get("snnkit.reset", "hard"))
        if reset not in ("hard", "subtract", "none"):
            raise InvalidFileError(None, f"nodes.{name}.metadata.snnkit.reset", reset, "'hard', 'subtract' or 'none'")
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
        if rounded.size and rounded.max() > LIMITS["max_delay_steps"]:
            raise SizeLimitError(None, f"nodes.{name}.delay", f"{int(rounded.max())} steps",
                                 f"at most {LIMITS['max_delay_steps']} steps")
        return rounded.astype(np.int64)

    def modules(self, name: str, node: Any, nodes: dict[str, Any], recurrent: dict[str, str],
                groups: dict[str, list[tuple[str, str]]]) -> list[nn.Module]:
        if name in groups:
            return [_delay_group(self, nodes, groups[name])]
        kind = _kind(node)
        if isinstance(node, nir.NIRGraph):
            if kind is None or _extension(kind) is None:
                raise ValueError(f"node {name}: nested graph of unknown extension kind {kind!r}")
            return _extension(kind)(name, node, [])
        if isinstance(node, _NEURONS):
            mods = self.neuron(name, node)
            if name in recurrent:
                rec = self.weights(nodes[recurrent[name]])
                if len(mods) == 2:  # the recurrent input is scaled like the feed-forward one
                    rec.weight.data *= mods[0].scale.reshape(-1, 1)
                    if rec.bias is not None:
                        rec.bias.data *= mods[0].scale.reshape(-1)
                mods = mods[:-1] + [RecurrentCell(mods[-1], rec)]
        elif isinstance(node, nir.Delay):
            steps = self.delay_steps(name, node).reshape(-1)
            mods = [IntegerDelayLinear(torch.eye(steps.size), torch.as_tensor(np.diag(steps)))]
        else:
            mods = [self.stateless(name, node)]
        if kind is not None:
            builder = _extension(kind)
            if builder is None:
                raise ValueError(f"node {name}: unknown snnkit extension kind {kind!r}")
            mods = builder(name, node, mods)
        return mods


def _collapse(nodes: dict[str, Any], edges: list[tuple[str, str]]):
    """Successors/predecessors with the recurrent pairs and delay fan-outs folded into their targets."""
    succ: dict[str, list[str]] = {k: [] for k in nodes}
    pred: dict[str, list[str]] = {k: [] for k in nodes}
    for a, b in edges:
        succ[a].append(b)
        pred[b].append(a)
    recurrent: dict[str, str] = {}  # neuron -> W -> neuron with W touching nothing else
    for name, node in nodes.items():
        if isinstance(node, _WEIGHTS) and succ[name] == pred[name] and len(succ[name]) == 1 \
                and isinstance(nodes[succ[name][0]], _NEURONS) and succ[name][0] not in recurrent:
            recurrent[succ[name][0]] = name
    for n, w in recurrent.items():
        succ[n].remove(w)
        pred[n].remove(w)
        del succ[w], pred[w]
    groups: dict[tuple[str, str], list[tuple[str, str]]] = {}  # source -> Delay -> Linear -> target
    for name, node in nodes.items():
        if isinstance(node, nir.Delay) and len(pred.get(name, [])) == 1 and len(succ.get(name, [])) == 1:
            lin = succ[name][0]
            if isinstance(nodes[lin], _WEIGHTS) and len(succ[lin]) == 1 and len(pred[lin]) == 1:
                groups.setdefault((pred[name][0], succ[lin][0]), []).append((name, lin))
    group_nodes: dict[str, list[tuple[str, str]]] = {}
    for (src, dst), branches in groups.items():
        masks = [np.asarray(nodes[lin].weight) != 0 for _, lin in branches]
        if len({m.shape for m in masks}) == 1 and (np.sum(masks, axis=0) > 1).any():
            continue  # a synapse on several delays (taps of a convolution over time): branches stay nodes
        gname = f"{dst}.delayed_input{len(group_nodes)}"
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
    return succ, pred, recurrent, group_nodes


def _topological(succ: dict[str, list[str]], pred: dict[str, list[str]], start: str) -> list[str]:
    missing = {k: len(v) for k, v in pred.items()}
    order, ready = [], [start]
    while ready:
        n = ready.pop()
        order.append(n)
        for s in succ[n]:
            missing[s] -= 1
            if missing[s] == 0:
                ready.append(s)
    stuck = [k for k, v in missing.items() if v > 0]
    if stuck:
        raise ValueError(f"nodes {stuck[:5]}: unsupported cycle or unreachable input (snnkit imports DAGs plus "
                         "neuron <-> Linear recurrence)")
    return order


def from_graph(graph: nir.NIRGraph, dt: float = 1e-3, method: str = "euler") -> nn.Module:
    """A snnkit model equivalent to ``graph`` (see the module docstring)."""
    imp = _Importer(dt, method)
    nodes, edges = _inline(graph)
    edges = list(dict.fromkeys(edges))
    succ, pred, recurrent, groups = _collapse(nodes, edges)
    starts = [k for k in succ if isinstance(nodes.get(k), nir.Input)]
    ends = [k for k in succ if isinstance(nodes.get(k), nir.Output)]
    if len(starts) != 1 or len(ends) != 1:
        raise ValueError(f"graph must have exactly one Input and one Output node; found {starts}, {ends}")
    for k in list(succ):
        if k not in groups and k not in nodes:
            raise ValueError(f"node {k}: unknown")
    order = _topological(succ, pred, starts[0])
    built = {k: imp.modules(k, nodes.get(k), nodes, recurrent, groups) for k in order
             if k not in (starts[0], ends[0])}
    if all(len(succ[k]) <= 1 and len(pred[k]) <= 1 for k in order):
        return Sequential(*[m for k in order if k in built for m in built[k]])
    return _graph_module(order, pred, built, starts[0], ends[0])


def _graph_module(order: list[str], pred: dict[str, list[str]], built: dict[str, list[nn.Module]],
                  start: str, end: str) -> fx.GraphModule:
    root, g = nn.Module(), fx.Graph()
    values: dict[str, fx.Node] = {start: g.placeholder("x")}
    for k in order:
        if k == start:
            continue
        ins = [values[p] for p in pred[k]]
        v = ins[0]
        for other in ins[1:]:  # NIR sums a node's inputs
            v = g.call_function(operator.add, (v, other))
        if k == end:
            g.output(v)
            break
        for i, m in enumerate(built[k]):
            target = f"{k}_{i}".replace(".", "_")
            root.add_module(target, m)
            v = g.call_module(target, (v,))
        values[k] = v
    return fx.GraphModule(root, g)


def _delay_group(imp: _Importer, nodes: dict[str, Any], branches: list[tuple[str, str]]) -> IntegerDelayLinear:
    weight, delays, bias = None, None, None
    for dname, lname in branches:
        steps = imp.delay_steps(dname, nodes[dname]).reshape(-1)
        w = _arr(nodes[lname].weight)
        if steps.size not in (1, w.shape[1]):
            raise InvalidFileError(None, f"nodes.{dname}.delay", f"{steps.size} values", f"{w.shape[1]} (inputs of {lname})")
        d_mat = np.broadcast_to(steps[None, :], w.shape)
        if weight is None:
            weight, delays = np.zeros_like(w), np.zeros(w.shape, np.int64)
        if w.shape != weight.shape:
            raise InvalidFileError(None, f"nodes.{lname}.weight", f"shape {w.shape}", f"shape {weight.shape}")
        mask = w != 0
        weight = weight + w
        delays = np.where(mask, d_mat, delays)
        if getattr(nodes[lname], "bias", None) is not None:
            b = _arr(nodes[lname].bias)
            bias = b if bias is None else bias + b
    weight_t = torch.as_tensor(weight, dtype=torch.float32)
    delays_t = torch.as_tensor(delays)
    bias_t = None if bias is None else torch.as_tensor(bias, dtype=torch.float32)
    meta = _meta(nodes[branches[0][1]])
    if _kind(nodes[branches[0][1]]) == "DelayedLinear":
        return _delayed_linear(branches[0][1], meta, weight_t, delays_t, bias_t)
    return IntegerDelayLinear(weight_t, delays_t, bias_t)


def _delayed_linear(name: str, meta: dict[str, Any], weight: torch.Tensor, delays: torch.Tensor,
                    bias: torch.Tensor | None) -> nn.Module:
    """A frozen :class:`~snnkit.synapses.DelayedLinear` (what snnkit exported) with these weights/delays."""
    from ..synapses import DelayedLinear

    max_delay = int(np.asarray(meta.get("snnkit.max_delay", -1)))
    mode = _text(meta.get("snnkit.mode", ""))
    if mode not in ("learned", "random", "none"):
        raise InvalidFileError(None, f"nodes.{name}.metadata.snnkit.mode", mode, "'learned', 'random' or 'none'")
    if not 1 <= max_delay <= LIMITS["max_delay_steps"] or int(delays.max()) >= max_delay:
        raise InvalidFileError(None, f"nodes.{name}.metadata.snnkit.max_delay", max_delay,
                               f"an int in [max delay + 1 = {int(delays.max()) + 1}, {LIMITS['max_delay_steps']}]")
    layer = DelayedLinear(weight.shape[1], weight.shape[0], max_delay, mode=mode, bias=bias is not None,
                          init_delays="zero")
    with torch.no_grad():
        layer.weight.copy_(weight)
        layer.delays.copy_(delays.to(layer.delays.dtype))
        if bias is not None:
            layer.bias.copy_(bias)
    layer.freeze_delays()
    return layer


class StaticInput(nn.Module):
    """The graph metadata ``snnkit.input_permute`` / ``snnkit.repeat_steps`` as a module: a model that took a
    static input (the exporter's "Static inputs") takes it again: ``x.permute(permute)`` (batch dim first),
    then presented for ``steps`` steps ``[steps, B, ...]``, the graph's input stream."""

    def __init__(self, steps: int, permute: tuple[int, ...] | None = None) -> None:
        super().__init__()
        self.steps, self.permute = steps, permute

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.permute is not None:
            if x.dim() != len(self.permute):
                raise ValueError(f"x has shape {tuple(x.shape)}; this model takes a {len(self.permute)}-D static input")
            x = x.permute(self.permute)
        return x.unsqueeze(0).expand(self.steps, *x.shape).contiguous()


def _static_input(meta: dict[str, Any], path: Any, input_shape: tuple[int, ...], caps: dict[str, int]) -> StaticInput:
    steps = np.asarray(meta["snnkit.repeat_steps"])
    if steps.size != 1 or steps.dtype.kind not in "iu" or not 1 <= int(steps) <= caps["repeat_steps"]:
        raise InvalidFileError(path, "metadata.snnkit.repeat_steps", steps.tolist(), f"an int in [1, {caps['repeat_steps']}]")
    permute = None
    if "snnkit.input_permute" in meta:
        perm = np.asarray(meta["snnkit.input_permute"]).reshape(-1)
        if perm.dtype.kind not in "iu" or sorted(perm.tolist()) != list(range(len(input_shape) + 1)):
            raise InvalidFileError(path, "metadata.snnkit.input_permute", perm.tolist(),
                                   f"a permutation of 0..{len(input_shape)} (the static input's dims)")
        permute = tuple(int(d) for d in perm)
    return StaticInput(int(steps), permute)


def read_graph(path: str | os.PathLike, limits: dict[str, int] = LIMITS, type_check: bool = False) -> nir.NIRGraph:
    """A NIR file checked before anything is allocated (:func:`check_hdf5`), read by ``nir``, then
    validated (:func:`validate_graph`); errors name the file, node and field. ``type_check`` also runs
    nir's own type inference (what the peers' importers expect)."""
    path = os.fspath(path)
    check_hdf5(path, limits)
    try:
        graph = nir.read(path, type_check=type_check)
    except Exception as err:  # malformed node records: nir's own reader names the problem
        raise InvalidFileError(path, "node", type(err).__name__, f"a NIR graph nir 1.0 can read ({err})") from None
    validate_graph(graph, path, limits)
    return graph


def import_nir(source: str | os.PathLike | nir.NIRGraph, dt: float | None = None, method: str | None = None,
               limits: dict[str, int] | None = None) -> nn.Module:
    """Read a NIR file (or take a graph), validate it, and return a snnkit model on ``[T, B, ...]`` input.

    ``dt`` is the simulation step in seconds and ``method`` the discretisation (``"euler"``/``"exp"``).
    Left ``None``, they come from the graph metadata ``snnkit.dt``/``snnkit.method`` written by
    :func:`snnkit.ir.export_nir`; files from other tools need ``dt`` (method defaults to ``"euler"``, as
    those tools discretise). ``limits`` overrides entries of :data:`LIMITS` for trusted large files.
    """
    caps = {**LIMITS, **(limits or {})}
    path = None
    if isinstance(source, nir.NIRGraph):
        graph = source
        validate_graph(graph, path, caps)
    else:
        path = os.fspath(source)
        graph = read_graph(path, caps)
    meta = _meta(graph)
    if dt is None:
        if "snnkit.dt" not in meta:
            raise ValueError("dt=None but the NIR graph has no 'snnkit.dt' metadata; pass dt (seconds per step)")
        dt = float(np.asarray(meta["snnkit.dt"]))
        if not (np.isfinite(dt) and dt > 0):
            raise InvalidFileError(path, "metadata.snnkit.dt", dt, "a positive number of seconds")
    if method is None:
        method = _text(meta.get("snnkit.method", "euler"))
        if method not in METHODS:
            raise InvalidFileError(path, "metadata.snnkit.method", method, f"one of {list(METHODS)}")
    try:
        model = from_graph(graph, dt, method)
        inputs = [n for n in graph.nodes.values() if isinstance(n, nir.Input)]
        shape = tuple(int(s) for s in np.asarray(inputs[0].input_type["input"]).reshape(-1))
        if "snnkit.flat_input" in meta:  # the exporter moved an Unflatten of the input into the Input node
            model = Sequential(TimeDistributed(nn.Unflatten(1, shape)), model)
        if "snnkit.repeat_steps" in meta:  # a static input presented for repeat_steps steps
            model = Sequential(_static_input(meta, path, shape, caps), model)
        return model
    except InvalidFileError:
        raise
    except ValueError as err:
        if path is None:
            raise
        raise InvalidFileError(path, "graph", "structure", str(err)) from None
