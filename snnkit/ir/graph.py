"""snnkit model -> network graph (a ``nir.NIRGraph``): the pivot every exporter and backend reads.

How a model becomes a graph
---------------------------
:func:`to_graph` traces the model with ``torch.fx`` (the tracer shared with :mod:`snnkit.conversion`,
:mod:`snnkit.ir.trace`), keeping every module that has a *converter* whole, and walks the traced
graph: each module call is turned into NIR nodes by the converter registered for its type
(:func:`register_converter`, looked up along the class hierarchy), a tensor ``+`` becomes two edges
into the same node (NIR sums a node's inputs), ``x * c`` becomes ``Scale``, ``flatten`` becomes
``Flatten``, and argument checks disappear. So branches, residual additions, recurrence, delays,
pooling and scaling export, not only chains. Anything else raises :class:`ExportError` naming the
module, the operation and the source line.

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

Extensions (``extensions=True``): what NIR has no field for is stored as node metadata that snnkit
reads back and other tools ignore: the reset mode (``snnkit.reset``: "subtract"/"none"; NIR neurons
reset to ``v_reset``), and, through converters that other packages register, e.g. the converted
neurons' initial membrane. Without ``extensions`` these raise. Max pooling (incl. the converter's
``SpikeMaxPool``) has no NIR node and raises. Integer per-synapse delays are expressed exactly with
standard nodes: one ``Delay`` (``d * dt`` seconds) -> ``Linear`` branch per distinct delay, all summed
at the target. Recurrent connections are an ordinary cycle neuron -> Linear -> neuron. Flatten's
``start_dim``/``end_dim`` follow the NIR specification (per-sample, no batch dimension).
"""
from __future__ import annotations

import operator
from dataclasses import dataclass, field
from typing import Any, Callable

import nir
import numpy as np
import torch
from torch import Tensor, fx, nn

from ..functional import tau_from_decay
from ..functional.discretize import METHODS
from ..neurons import LI, LIF, CubaLIF, SpikingLayer
from ..synapses import DelayedLinear, TimeDistributed
from ..synapses.elementwise import InputScale, SumPool2d
from ..synapses.integer_delays import IntegerDelayLinear
from ..synapses.recurrent import RecurrentCell
from .trace import TracingError, _shape_only, describe, op_name, trace


class ExportError(ValueError):
    """A part of the model has no NIR expression; the message names the module, the op and the line."""


@dataclass
class Site:
    """Where a module is called: its NIR node name and per-sample input/output shapes (no time, batch).

    ``batch_dims`` is how many leading dimensions the module sees beyond the sample (2 for
    time-major ``[T, B, ...]``, 1 inside ``TimeDistributed``)."""

    name: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    batch_dims: int = 2


@dataclass
class Piece:
    """NIR nodes for one module: the graph feeds ``entries``; ``exits`` feed what follows."""

    nodes: dict[str, nir.NIRNode]
    edges: list[tuple[str, str]] = field(default_factory=list)
    entries: list[str] = field(default_factory=list)
    exits: list[str] = field(default_factory=list)

    @classmethod
    def one(cls, name: str, node: nir.NIRNode) -> "Piece":
        return cls({name: node}, [], [name], [name])


PASS = Piece({})  # what an identity module returns: its input flows on unchanged

Converter = Callable[["ExportContext", nn.Module, Site], Piece]
_CONVERTERS: dict[type, Converter] = {}


def register_converter(*types: type) -> Callable[[Converter], Converter]:
    """Decorator: ``converter(ctx, module, site) -> Piece`` turns modules of ``types`` (and subclasses,
    unless a subclass has its own) into NIR nodes. The one place to add a node kind."""
    def deco(fn: Converter) -> Converter:
        for t in types:
            _CONVERTERS[t] = fn
        return fn
    return deco


def converter_for(module: nn.Module) -> Converter | None:
    """The converter registered for ``module``'s class or its nearest base class."""
    for cls in type(module).__mro__:
        if cls in _CONVERTERS:
            return _CONVERTERS[cls]
    return None


def _np(x: Tensor | float, shape: tuple[int, ...]) -> np.ndarray:
    t = torch.as_tensor(x, dtype=torch.float64).detach().cpu()
    return np.broadcast_to(t.numpy(), shape).astype(np.float64).copy()


class ExportContext:
    """Settings of one export (time step, discretisation, extensions) and the neuron mapping."""

    def __init__(self, dt: float, method: str, extensions: bool) -> None:
        if not (isinstance(dt, (int, float)) and dt > 0):
            raise ValueError(f"dt={dt!r} must be a positive number of seconds per step")
        if method not in METHODS:
            raise ValueError(f"method={method!r}; allowed: {list(METHODS)}")
        self.dt, self.method, self.extensions = float(dt), method, extensions
        self.meta = {"snnkit.dt": self.dt, "snnkit.method": method}

    def tau(self, beta: Tensor) -> Tensor:
        if bool((beta >= 1).any()) or bool((beta <= 0).any()):
            raise ValueError(f"decay {beta.flatten()[:4].tolist()} has no finite time constant")
        return tau_from_decay(beta.double(), self.dt, self.method)

    def extension(self, what: str, key: str, value: Any) -> dict[str, Any]:
        """Node metadata ``{key: value}`` when extensions are allowed; otherwise raise naming ``what``."""
        if not self.extensions:
            raise ValueError(f"{what} has no NIR equivalent; pass extensions=True to store it as node "
                             f"metadata {key!r} (read back by snnkit, ignored by other tools)")
        return {key: value}

    def reset_meta(self, layer: LIF) -> dict[str, Any]:
        if layer.reset == "hard":
            return {}
        return self.extension(f"reset={layer.reset!r} (NIR neurons reset to v_reset; use reset='hard')",
                              "snnkit.reset", layer.reset)

    def neuron(self, layer: nn.Module, shape: tuple[int, ...], extra_meta: dict[str, Any] | None = None) -> nir.NIRNode:
        like = torch.zeros(())
        meta = {**self.meta, **(extra_meta or {})}
        if isinstance(layer, CubaLIF):
            lif, p = layer.lif, layer.params()
            alpha, beta = p.syn_decay(like.double()), p.lif.beta(like.double())
            r = torch.ones(()) if lif.decay_input else 1 / (1 - beta)
            return nir.CubaLIF(tau_syn=_np(self.tau(alpha), shape), tau_mem=_np(self.tau(beta), shape),
                               r=_np(r, shape), v_leak=np.zeros(shape), v_threshold=_np(lif.v_th, shape),
                               v_reset=np.full(shape, lif.v_reset), w_in=_np(1 / (1 - alpha), shape),
                               metadata={**meta, **self.reset_meta(lif)})
        if isinstance(layer, LIF):  # IF is a LIF without leak
            if layer.tau_mem is None:
                return nir.IF(r=np.full(shape, 1 / self.dt), v_threshold=_np(layer.v_th, shape),
                              v_reset=np.full(shape, layer.v_reset), metadata={**meta, **self.reset_meta(layer)})
            beta = layer.params().beta(like.double())
            r = torch.ones(()) if layer.decay_input else 1 / (1 - beta)
            return nir.LIF(tau=_np(self.tau(beta), shape), r=_np(r, shape), v_leak=np.zeros(shape),
                           v_threshold=_np(layer.v_th, shape), v_reset=np.full(shape, layer.v_reset),
                           metadata={**meta, **self.reset_meta(layer)})
        if isinstance(layer, LI):
            beta = layer.params().beta(like.double())
            r = torch.ones(()) if layer.decay_input else 1 / (1 - beta)
            return nir.LI(tau=_np(self.tau(beta), shape), r=_np(r, shape), v_leak=np.zeros(shape), metadata=meta)
        raise ValueError(f"{type(layer).__name__} has no NIR node; supported neurons: LIF, IF, CubaLIF, LI")


# --- converters: one per module kind ------------------------------------------------------------

def _weights(w: Tensor, bias: Tensor | None) -> nir.NIRNode:
    w_np = w.detach().double().numpy()
    return nir.Linear(weight=w_np) if bias is None else nir.Affine(weight=w_np, bias=bias.detach().double().numpy())


@register_converter(nn.Linear)
def _linear(ctx: ExportContext, m: nn.Linear, site: Site) -> Piece:
    return Piece.one(site.name, _weights(m.weight, m.bias))


@register_converter(SpikingLayer)
def _neuron(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    return Piece.one(site.name, ctx.neuron(m, site.out_shape))


@register_converter(RecurrentCell)
def _recurrent(ctx: ExportContext, m: RecurrentCell, site: Site) -> Piece:
    name, rec = site.name, f"{site.name}.rec"
    return Piece({name: ctx.neuron(m.neuron, site.out_shape), rec: _weights(m.recurrent.weight, m.recurrent.bias)},
                 [(name, rec), (rec, name)], [name], [name])


@register_converter(IntegerDelayLinear, DelayedLinear)
def _delayed(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    if not getattr(m, "is_frozen", True):
        raise ValueError(f"{type(m).__name__} has interpolated (trainable) delays; call freeze_delays() first so "
                         "that the integer delays exported are the ones it applies")
    if getattr(m, "extra_steps", 0):
        raise ValueError(f"extra_steps={m.extra_steps} lengthens the output sequence, which a NIR graph cannot "
                         "express; use extra_steps=0 (pad the input instead)")
    w, delays = m.weight.detach().double(), m.integer_delays().detach()
    if not torch.equal(delays.double(), delays.double().round()) or bool((delays < 0).any()):
        raise ValueError("integer_delays() must return non-negative integers")
    piece = Piece({})
    bias = getattr(m, "bias", None)
    for k, d in enumerate(sorted(torch.unique(delays).tolist())):
        wd = torch.where(delays == d, w, torch.zeros_like(w))
        dname, lname = f"{site.name}.delay{int(d)}", f"{site.name}.w{int(d)}"
        piece.nodes[dname] = nir.Delay(delay=np.full(w.shape[1], d * ctx.dt), metadata={"snnkit.steps": int(d)})
        piece.nodes[lname] = _weights(wd, bias if k == 0 else None)
        if isinstance(m, DelayedLinear):  # read back as the same class (metadata only: same dynamics)
            piece.nodes[lname].metadata = {"snnkit.module": "DelayedLinear", "snnkit.max_delay": int(m.max_delay),
                                           "snnkit.mode": m.mode}
        piece.edges.append((dname, lname))
        piece.entries.append(dname)
        piece.exits.append(lname)
    return piece


@register_converter(TimeDistributed)
def _time_distributed(ctx: ExportContext, m: TimeDistributed, site: Site) -> Piece:
    inner = converter_for(m.module)
    if inner is None:
        raise ValueError(f"TimeDistributed({type(m.module).__name__}) has no NIR mapping")
    return inner(ctx, m.module, Site(site.name, site.in_shape, site.out_shape, batch_dims=1))


@register_converter(nn.Conv1d, nn.Conv2d)
def _conv(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    if isinstance(m.padding, str):
        raise ValueError(f"string padding {m.padding!r} is not exported; use integers")
    bias = np.zeros(m.out_channels) if m.bias is None else m.bias.detach().double().numpy()
    w = m.weight.detach().double().numpy()
    if isinstance(m, nn.Conv1d):
        node = nir.Conv1d(input_shape=site.in_shape[-1], weight=w, stride=m.stride[0], padding=m.padding[0],
                          dilation=m.dilation[0], groups=m.groups, bias=bias)
    else:
        node = nir.Conv2d(input_shape=tuple(site.in_shape[-2:]), weight=w, stride=m.stride, padding=m.padding,
                          dilation=m.dilation, groups=m.groups, bias=bias)
    return Piece.one(site.name, node)


@register_converter(nn.AvgPool2d, SumPool2d)
def _pool(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    if isinstance(m, nn.AvgPool2d) and (m.ceil_mode or not m.count_include_pad and m.padding
                                        or m.divisor_override is not None):
        raise ValueError("AvgPool2d with ceil_mode, count_include_pad=False and padding, or divisor_override "
                         "has no NIR node")
    k = nn.modules.utils._pair(m.kernel_size)
    s = nn.modules.utils._pair(m.stride if m.stride is not None else k)
    p = nn.modules.utils._pair(m.padding)
    cls = nir.SumPool2d if isinstance(m, SumPool2d) else nir.AvgPool2d
    return Piece.one(site.name, cls(kernel_size=np.array(k), stride=np.array(s), padding=np.array(p)))


@register_converter(nn.AvgPool1d)
def _avg_pool1d(ctx: ExportContext, m: nn.AvgPool1d, site: Site) -> Piece:
    # NIR has no 1-D pooling node; average pooling is exactly a depthwise convolution with weights 1/k
    if m.ceil_mode or (not m.count_include_pad and m.padding[0]):
        raise ValueError("AvgPool1d with ceil_mode or count_include_pad=False and padding has no NIR node")
    # (a full channel-diagonal kernel, not groups=C: nir 1.0.8's type inference ignores groups)
    channels, k = site.in_shape[0], m.kernel_size[0]
    weight = np.zeros((channels, channels, k))
    weight[np.arange(channels), np.arange(channels), :] = 1.0 / k
    return Piece.one(site.name, nir.Conv1d(input_shape=site.in_shape[-1], weight=weight, stride=m.stride[0],
                                           padding=m.padding[0], dilation=1, groups=1, bias=np.zeros(channels)))


@register_converter(nn.MaxPool1d, nn.MaxPool2d, nn.AdaptiveMaxPool2d)
def _max_pool(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    raise ValueError("max pooling has no NIR node; use AvgPool2d or SumPool2d")


def _flatten(name: str, in_shape: tuple[int, ...], start: int, end: int, batch_dims: int) -> Piece:
    rank = len(in_shape) + batch_dims
    start, end = start % rank, end % rank
    if start < batch_dims:
        raise ValueError(f"flatten(start_dim={start}) would merge the time/batch dimensions")
    return Piece.one(name, nir.Flatten(input_type={"input": np.array(in_shape)}, start_dim=start - batch_dims,
                                       end_dim=end - batch_dims))


@register_converter(nn.Flatten)
def _flatten_module(ctx: ExportContext, m: nn.Flatten, site: Site) -> Piece:
    return _flatten(site.name, site.in_shape, m.start_dim, m.end_dim, site.batch_dims)


@register_converter(InputScale)
def _scale(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    return Piece.one(site.name, nir.Scale(scale=_np(m.scale, site.out_shape)))


@register_converter(nn.Identity, nn.Dropout)
def _identity(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    return PASS


# --- the walk over the traced graph -------------------------------------------------------------

_ADD = (operator.add, operator.iadd, torch.add)
_MUL = (operator.mul, operator.imul, torch.mul)
_DIV = (operator.truediv, operator.itruediv, torch.div)


def _is_leaf(m: nn.Module) -> bool:
    return converter_for(m) is not None or isinstance(m, (SpikingLayer, TimeDistributed))


def _infer_input_shape(model: nn.Module) -> tuple[int, ...]:
    n = getattr(model, "in_features", None)
    if isinstance(n, int):
        return (n,)
    for m in model.modules():
        if isinstance(m, (nn.Linear, IntegerDelayLinear, DelayedLinear)):
            return (int(m.weight.shape[1]),)
        if isinstance(m, (nn.Conv1d, nn.Conv2d, TimeDistributed)):
            break
    raise ValueError("input_shape is required (per-sample shape, e.g. (2, 34, 34)) when the model does not "
                     f"start with a Linear layer ({type(model).__name__})")


class _ShapeRecorder(fx.Interpreter):
    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if isinstance(out, Tensor):
            n.meta["snnkit.shape"] = tuple(out.shape)
        return out


class _Walk:
    def __init__(self, gm: fx.GraphModule, ctx: ExportContext) -> None:
        self.gm, self.ctx = gm, ctx
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []
        self.values: dict[fx.Node, list[str]] = {}
        self.input_shape: tuple[int, ...] = ()
        self.flat_input: tuple[int, ...] | None = None

    def fail(self, node: fx.Node, reason: str) -> ExportError:
        what = type(self.gm.get_submodule(node.target)).__name__ if node.op == "call_module" else op_name(node)
        return ExportError(f"cannot export {what} at {describe(self.gm, node)}: {reason}")

    def shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(node.meta.get("snnkit.shape", ()))[2:]

    def source(self, node: fx.Node, arg: Any) -> list[str]:
        if not isinstance(arg, fx.Node) or arg not in self.values:
            raise self.fail(node, f"its input {arg!r} is not a tensor the graph carries")
        return self.values[arg]

    def attach(self, node: fx.Node, piece: Piece, inputs: list[str]) -> None:
        if piece is PASS:
            self.values[node] = inputs
            return
        clash = [k for k in piece.nodes if k in self.nodes]
        if clash:
            raise self.fail(node, f"NIR node names {clash} are used twice (a module called twice shares no "
                                  "state in NIR; give each call its own module)")
        self.nodes.update(piece.nodes)
        self.edges += piece.edges + [(a, b) for a in inputs for b in piece.entries]
        self.values[node] = piece.exits

    def module(self, node: fx.Node) -> None:
        m = self.gm.get_submodule(node.target)
        conv = converter_for(m)
        if conv is None:
            raise self.fail(node, f"no NIR converter is registered for {type(m).__name__} "
                                  "(snnkit.ir.register_converter adds one)")
        if len(node.args) != 1 or node.kwargs:
            raise self.fail(node, "modules must be called with one tensor (no state or extra arguments)")
        inputs = self.source(node, node.args[0])
        inner = m.module if isinstance(m, TimeDistributed) else m
        if isinstance(inner, nn.Unflatten):
            # NIR has no reshape node; an Unflatten of the graph input becomes the Input node's shape
            # (metadata snnkit.flat_input tells snnkit's importer to accept the flat input again)
            if inputs != ["input"] or len(node.args[0].users) != 1:
                raise self.fail(node, "Unflatten has no NIR node (only one applied to the model input exports)")
            self.input_shape, self.flat_input = self.shape(node), self.shape(node.args[0])
            self.values[node] = inputs
            return
        site = Site(str(node.target), self.shape(node.args[0]), self.shape(node))
        try:
            piece = conv(self.ctx, m, site)
        except ExportError:
            raise
        except ValueError as err:
            raise self.fail(node, str(err)) from err
        self.attach(node, piece, inputs)

    def function(self, node: fx.Node) -> None:
        t, args = node.target, node.args
        if node.op == "call_function" and getattr(t, "__module__", "") == "snnkit._checks":
            first = next((a for a in args if isinstance(a, fx.Node)), None)  # checks pass their tensor on
            if first is not None and first in self.values:
                self.values[node] = self.values[first]
            return
        is_add = (node.op == "call_function" and t in _ADD) or (node.op == "call_method" and t in ("add", "__add__"))
        is_mul = (node.op == "call_function" and t in _MUL) or (node.op == "call_method" and t in ("mul", "__mul__"))
        is_div = (node.op == "call_function" and t in _DIV) or (node.op == "call_method" and t in ("div", "__truediv__"))
        if is_add:
            a, b = args[0], args[1] if len(args) > 1 else node.kwargs.get("other")
            if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)) or "alpha" in node.kwargs:
                raise self.fail(node, "only the sum of two tensors exports (NIR sums a node's inputs); adding a "
                                      "constant has no NIR node")
            ins = self.source(node, a) + self.source(node, b)
            if len(set(ins)) != len(ins):
                raise self.fail(node, "a tensor added to itself (write it as x * 2)")
            self.values[node] = ins
            return
        if is_mul or is_div:
            tensors = [a for a in args if isinstance(a, fx.Node)]
            consts = [a for a in args if isinstance(a, (int, float)) and not isinstance(a, bool)]
            if len(tensors) != 1 or len(consts) != 1 or (is_div and args[0] is not tensors[0]):
                raise self.fail(node, "only a tensor times (or divided by) a number exports (as NIR Scale)")
            c = float(consts[0]) if is_mul else 1.0 / float(consts[0])
            shape = self.shape(node)
            self.attach(node, Piece.one(node.name, nir.Scale(scale=np.full(shape, c))), self.source(node, tensors[0]))
            return
        if (node.op == "call_function" and t is torch.flatten) or (node.op == "call_method" and t == "flatten"):
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
            try:
                piece = _flatten(node.name, self.shape(args[0]), int(start), int(end), 2)
            except ValueError as err:
                raise self.fail(node, str(err)) from err
            self.attach(node, piece, self.source(node, args[0]))
            return
        raise self.fail(node, "this operation has no NIR node (supported between modules: tensor + tensor, "
                              "tensor * number, flatten)")

    def run(self, shape: tuple[int, ...]) -> nir.NIRGraph:
        self.input_shape = shape
        out_shape: tuple[int, ...] = ()
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if any(v == ["input"] for v in self.values.values()):
                    raise self.fail(node, "the model takes more than one input; NIR graphs here have one")
                self.values[node] = ["input"]
            elif node.op == "call_module":
                self.module(node)
            elif node.op == "output":
                result = node.args[0]
                if not isinstance(result, fx.Node):
                    raise self.fail(node, f"the model returns {type(result).__name__}; one tensor is exported")
                exits = self.source(node, result)
                self.edges += [(a, "output") for a in exits]
                out_shape = self.shape(result)
            elif node.op == "get_attr" or not _shape_only(node):
                self.function(node)
        self.nodes = {"input": nir.Input(input_type={"input": np.array(self.input_shape)}), **self.nodes,
                      "output": nir.Output(output_type={"output": np.array(out_shape)})}
        meta = dict(self.ctx.meta)
        if self.flat_input is not None:
            meta["snnkit.flat_input"] = np.array(self.flat_input)
        # nir's type inference cannot see through extension subgraphs (their body is a placeholder)
        plain = not any(isinstance(n, nir.NIRGraph) for n in self.nodes.values())
        return nir.NIRGraph(nodes=self.nodes, edges=self.edges, metadata=meta, type_check=plain)


def fold_input_resistance(graph: nir.NIRGraph) -> nir.NIRGraph:
    """Move each LIF/LI/IF node's input resistance ``r`` into the Linear/Affine/Conv nodes feeding it
    (output rows or channels scaled by ``r``), leaving ``r = 1``. Same dynamics; needed for tools that
    ignore ``r`` (norse). Neurons fed by anything but weight nodes used only by them are left alone."""
    preds: dict[str, list[str]] = {k: [] for k in graph.nodes}
    succs: dict[str, list[str]] = {k: [] for k in graph.nodes}
    for a, b in graph.edges:
        preds[b].append(a)
        succs[a].append(b)
    for name, node in graph.nodes.items():
        if not isinstance(node, (nir.LIF, nir.LI, nir.IF)):
            continue
        r = np.asarray(node.r, np.float64)
        if np.allclose(r, 1) or r.ndim == 0:
            continue
        per_row = r.reshape(r.shape[0], -1)  # rows (Linear) or channels (Conv): r must be one value each
        if not np.allclose(per_row, per_row[:, :1]):
            continue
        factor = per_row[:, 0]
        feeders = [graph.nodes[p] for p in preds[name]]
        ok = (nir.Linear, nir.Affine, nir.Conv1d, nir.Conv2d)
        if not feeders or not all(isinstance(f, ok) and succs[p] == [name] for f, p in zip(feeders, preds[name])):
            continue
        for f in feeders:
            w = np.asarray(f.weight, np.float64)
            f.weight = w * factor.reshape((-1,) + (1,) * (w.ndim - 1))
            if getattr(f, "bias", None) is not None:
                f.bias = np.asarray(f.bias, np.float64) * factor
        node.r = np.ones_like(r)
    return graph


@dataclass(frozen=True)
class PeerTarget:
    """How one peer library reads NIR (measured against the installed versions, see tests/test_ir_peers.py).

    ``dt``: the step the peer discretises with (forward Euler); ``unit_r``: the peer ignores ``r`` (it is
    folded into the weights); ``recurrent``: its importer runs a neuron <-> Linear cycle; ``nodes``: node
    kinds its importer runs correctly."""

    dt: float
    unit_r: bool
    recurrent: bool
    nodes: tuple[type, ...]
    note: str


_COMMON = (nir.Input, nir.Output, nir.Linear, nir.Affine, nir.LIF, nir.Conv2d, nir.Flatten)
PEERS: dict[str, PeerTarget] = {
    "snntorch": PeerTarget(1e-4, False, False, _COMMON + (nir.CubaLIF, nir.AvgPool2d),
                           "snntorch 1.0: Euler at a fixed dt = 1e-4 s; reads IF as a leaky neuron (beta 0.9)"),
    "norse": PeerTarget(1e-3, True, True, _COMMON + (nir.CubaLIF, nir.SumPool2d),
                        "norse 1.1: Euler at dt = 1e-3 s (from_nir's default); ignores r"),
    "spikingjelly": PeerTarget(1e-4, False, True, _COMMON + (nir.IF, nir.CubaLIF, nir.AvgPool2d),
                               "spikingjelly 2.0: Euler at the dt given to import_from_nir (write and read 1e-4 s)"),
}
UNREACHABLE_THRESHOLD = 1e30  # an LI readout becomes a LIF that never fires: its membrane is the readout


def for_peer(graph: nir.NIRGraph, target: str) -> nir.NIRGraph:
    """``graph`` (written with the target's ``dt`` and ``method="euler"``) rewritten for one peer: LI
    readouts become LIF nodes with an unreachable threshold (none of the peers runs ``nir.LI``; read the
    peer neuron's membrane), ``r`` folded where the peer ignores it, Flatten dims written as negative
    indices (peers apply them to batched tensors, NIR counts per sample: negative ones mean the same).
    Node kinds the peer cannot run raise ``ValueError`` naming the node."""
    peer = PEERS[target]
    if any(isinstance(n, nir.NIRGraph) or (getattr(n, "metadata", None) or {}).get("snnkit.reset")
           for n in graph.nodes.values()):
        raise ValueError(f"target={target!r}: the graph uses snnkit extensions (soft reset or extension nodes), "
                         "which peers would run differently; use reset='hard' and standard layers")
    for name, node in list(graph.nodes.items()):
        if isinstance(node, nir.LI):
            shape = np.asarray(node.tau).shape
            graph.nodes[name] = nir.LIF(tau=node.tau, r=node.r, v_leak=node.v_leak,
                                        v_threshold=np.full(shape, UNREACHABLE_THRESHOLD), v_reset=np.zeros(shape),
                                        metadata={**node.metadata, "snnkit.readout": "LI"})
        elif not isinstance(graph.nodes[name], peer.nodes):
            raise ValueError(f"target={target!r}: node {name!r} ({type(node).__name__}) is not read correctly by "
                             f"{target}'s NIR importer ({peer.note}); supported: "
                             f"{sorted(c.__name__ for c in peer.nodes)} and LI (as a never-firing LIF)")
        if isinstance(node, nir.Flatten):  # negative dims mean the same with or without a batch dimension
            rank = len(np.asarray(node.input_type["input"]).reshape(-1))
            node.start_dim -= rank if node.start_dim >= 0 else 0
            node.end_dim -= rank if node.end_dim >= 0 else 0
    if not peer.recurrent and any(a == b or (b, a) in graph.edges for a, b in graph.edges):
        raise ValueError(f"target={target!r}: recurrent connections (a neuron <-> Linear cycle) fail in "
                         f"{target}'s NIR importer; export them for norse or spikingjelly, or without a target")
    graph = fold_input_resistance(graph) if peer.unit_r else graph
    if peer.unit_r:
        left = [k for k, n in graph.nodes.items() if isinstance(n, nir.LIF) and not np.allclose(n.r, 1)]
        if left:
            raise ValueError(f"target={target!r}: nodes {left} need an input resistance r != 1, which {target} "
                             "ignores, and are not fed by weights that could absorb it")
    return nir.NIRGraph(nodes=graph.nodes, edges=graph.edges, metadata={**graph.metadata, "snnkit.target": target},
                        type_check=False)


@torch.no_grad()
def to_graph(model: nn.Module, dt: float = 1e-3, method: str = "euler",
             input_shape: tuple[int, ...] | None = None, extensions: bool = False,
             unit_r: bool = False) -> nir.NIRGraph:
    """The NIR graph of a snnkit model (see the module docstring for the tracing and the time mapping).

    Args:
        model: any ``nn.Module`` built from snnkit parts (chains, branches, residual sums, recurrence).
        dt: seconds per simulation step.
        method: ``"euler"`` or ``"exp"``: how decays become time constants.
        input_shape: per-sample input shape (without time and batch); inferred when the model starts with
            a Linear / delayed linear layer or has an ``in_features`` attribute.
        extensions: allow snnkit-only features as node metadata (soft reset...) instead of raising.
        unit_r: fold every input resistance into the preceding weights (:func:`fold_input_resistance`),
            for tools that ignore NIR's ``r``.
    Raises:
        ExportError (a ``ValueError``) naming the module, the operation and the source line.
    """
    ctx = ExportContext(dt, method, extensions)
    shape = tuple(int(s) for s in (input_shape or _infer_input_shape(model)))
    steps = getattr(model, "steps", 2)  # models built for a fixed sequence length say so
    example = torch.zeros(steps if isinstance(steps, int) and 0 < steps <= 4096 else 2, 1, *shape)
    was_training = model.training
    model.eval()
    try:
        try:
            gm = trace(model, _is_leaf, example=(example,))
        except TracingError as err:
            raise ExportError(f"cannot export {type(model).__name__}: {err}") from err
        gm.graph.eliminate_dead_code()
        try:
            _ShapeRecorder(gm).run(example)
        except Exception as err:
            raise ExportError(f"{type(model).__name__} does not run on input of per-sample shape {shape} "
                              f"(pass input_shape): {err}") from err
        graph = _Walk(gm, ctx).run(shape)
    finally:
        model.train(was_training)
    return fold_input_resistance(graph) if unit_r else graph


def export_nir(model: nn.Module, path: str, dt: float | None = None, method: str = "euler",
               input_shape: tuple[int, ...] | None = None, extensions: bool = False,
               unit_r: bool = False, target: str | None = None) -> nir.NIRGraph:
    """Write ``model`` as a NIR HDF5 file at ``path`` (atomically) and return the graph.

    ``target`` (``"snntorch"``, ``"norse"``, ``"spikingjelly"``) writes the file so that this peer's
    ``import_from_nir``/``from_nir`` runs the same spikes as snnkit (see :data:`PEERS` and
    :func:`for_peer`); ``dt`` is then the peer's (leave it ``None``) and ``method`` is ``"euler"``.
    ``dt=None`` without a target means 1e-3 s."""
    from .._atomic import atomic_path

    if target is not None:
        if target not in PEERS:
            raise ValueError(f"target={target!r}; allowed: {sorted(PEERS)} or None")
        peer = PEERS[target]
        if dt is not None and dt != peer.dt:
            raise ValueError(f"dt={dt!r}: {target} discretises NIR with dt = {peer.dt} s; leave dt=None")
        if method != "euler" or extensions or unit_r:
            raise ValueError(f"target={target!r} fixes method='euler', extensions=False, unit_r=False "
                             f"(got {method!r}, {extensions}, {unit_r})")
        graph = for_peer(to_graph(model, peer.dt, "euler", input_shape), target)
    else:
        graph = to_graph(model, 1e-3 if dt is None else dt, method, input_shape, extensions, unit_r)
    with atomic_path(path, suffix=".nir") as tmp:
        nir.write(str(tmp), graph)
    return graph
