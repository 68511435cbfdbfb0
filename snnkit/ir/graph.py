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

Static inputs
-------------
A model that presents a static tensor for ``S`` steps (direct encoding: a module registered with
:func:`register_repeat`, e.g. the zoo's ``RepeatSteps``) exports the network after the repetition: the
graph's ``Input`` is one step of the repeated tensor, since NIR evaluates a graph step by step and feeding
that tensor at every step is the repetition. Layers before it must be stateless (they commute with the
repetition); a permutation of the model's input that puts its batch dimension first is recorded. Graph
metadata ``snnkit.repeat_steps`` / ``snnkit.input_permute`` let :func:`snnkit.ir.import_nir` rebuild the
same input handling (``StaticInput``), so the imported model takes the same input as the original.

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

import importlib
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
from .trace import TracingError, shape_only, describe, op_name, trace


class ExportError(ValueError):
    """A part of the model has no NIR expression; the message names the module, the op and the line."""


class _NoRepetition(ExportError):
    """Traced on a static input, the model has no registered repetition (so it is not a static-input model)."""


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


# Packages above ir/ whose modules have converters, imported on first need (ir/ never imports them
# eagerly: they import ir/, and nir is an optional dependency of theirs).
_PROVIDERS = {"snnkit.models.": "snnkit.models.nir_converters"}


def converter_for(module: nn.Module) -> Converter | None:
    """The converter registered for ``module``'s class or its nearest base class."""
    for cls in type(module).__mro__:
        if cls in _CONVERTERS:
            return _CONVERTERS[cls]
    for prefix, provider in _PROVIDERS.items():
        if type(module).__module__.startswith(prefix) and provider not in _LOADED:
            _LOADED.add(provider)
            importlib.import_module(provider)
            return converter_for(module)
    return None


_LOADED: set[str] = set()
_REPEATS: dict[type, Callable[[nn.Module], int]] = {}


def register_repeat(*types: type) -> Callable[[Callable[[nn.Module], int]], Callable[[nn.Module], int]]:
    """Decorator: ``steps_of(module) -> int`` for modules that present a static tensor ``[B, ...]`` for
    that many steps (``[S, B, ...]``, direct encoding). See "Static inputs" in the module docstring."""
    def deco(fn: Callable[[nn.Module], int]) -> Callable[[nn.Module], int]:
        for t in types:
            _REPEATS[t] = fn
        return fn
    return deco


def _repeat_steps(module: nn.Module) -> int | None:
    converter_for(module)  # loads the module's provider, which registers its repeats
    for cls in type(module).__mro__:
        if cls in _REPEATS:
            return int(_REPEATS[cls](module))
    return None


def _pair(v: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    """A 2-D size given as one int or a pair (torch's pooling arguments)."""
    return tuple(v) if isinstance(v, (tuple, list)) else (v, v)


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

def weight_node(w: Tensor, bias: Tensor | None) -> nir.NIRNode:
    w_np = w.detach().double().numpy()
    return nir.Linear(weight=w_np) if bias is None else nir.Affine(weight=w_np, bias=bias.detach().double().numpy())


@register_converter(nn.Linear)
def _linear(ctx: ExportContext, m: nn.Linear, site: Site) -> Piece:
    return Piece.one(site.name, weight_node(m.weight, m.bias))


@register_converter(SpikingLayer)
def _neuron(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    return Piece.one(site.name, ctx.neuron(m, site.out_shape))


@register_converter(RecurrentCell)
def _recurrent(ctx: ExportContext, m: RecurrentCell, site: Site) -> Piece:
    name, rec = site.name, f"{site.name}.rec"
    return Piece({name: ctx.neuron(m.neuron, site.out_shape), rec: weight_node(m.recurrent.weight, m.recurrent.bias)},
                 [(name, rec), (rec, name)], [name], [name])


@register_converter(IntegerDelayLinear, DelayedLinear)
def _delayed(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    if not getattr(m, "is_frozen", True):
        raise ValueError(f"{type(m).__name__} has interpolated (trainable) delays; call freeze_delays() first so "
                         "that the integer delays exported are the ones it applies")
    if getattr(m, "extra_steps", 0):
        raise ValueError(f"extra_steps={m.extra_steps} appends {m.extra_steps} steps after the input ends and the next "
                         "layer sees its input cut there; a NIR graph runs as long as its input stream and cannot "
                         "tell where the input ended; use extra_steps=0 (pad the input with zero steps instead)")
    w, delays = m.weight.detach().double(), m.integer_delays().detach()
    if not torch.equal(delays.double(), delays.double().round()) or bool((delays < 0).any()):
        raise ValueError("integer_delays() must return non-negative integers")
    piece = Piece({})
    bias = getattr(m, "bias", None)
    for k, d in enumerate(sorted(torch.unique(delays).tolist())):
        wd = torch.where(delays == d, w, torch.zeros_like(w))
        dname, lname = f"{site.name}.delay{int(d)}", f"{site.name}.w{int(d)}"
        piece.nodes[dname] = nir.Delay(delay=np.full(w.shape[1], d * ctx.dt), metadata={"snnkit.steps": int(d)})
        piece.nodes[lname] = weight_node(wd, bias if k == 0 else None)
        if isinstance(m, DelayedLinear):  # read back as the same class (metadata only: same dynamics)
            piece.nodes[lname].metadata = {"snnkit.module": "DelayedLinear", "snnkit.max_delay": int(m.max_delay),
                                           "snnkit.mode": m.mode}
        piece.edges.append((dname, lname))
        piece.entries.append(dname)
        piece.exits.append(lname)
    return piece


def _chain(ctx: ExportContext, modules: list[nn.Module], site: Site) -> Piece:
    """A chain of per-step modules (an ``nn.Sequential`` inside ``TimeDistributed``) as one piece."""
    piece, x = PASS, torch.zeros(1, *site.in_shape)
    for i, sub in enumerate(modules):
        conv = converter_for(sub)
        if conv is None:
            raise ValueError(f"TimeDistributed(Sequential) item {i} ({type(sub).__name__}) has no NIR mapping")
        y = sub(x)
        part = conv(ctx, sub, Site(f"{site.name}.{i}", tuple(x.shape[1:]), tuple(y.shape[1:]), batch_dims=1))
        x = y
        if part is PASS:
            continue
        if piece is PASS:
            piece = Piece(dict(part.nodes), list(part.edges), list(part.entries), list(part.exits))
            continue
        piece.nodes.update(part.nodes)
        piece.edges += part.edges + [(a, b) for a in piece.exits for b in part.entries]
        piece.exits = list(part.exits)
    return piece


@register_converter(TimeDistributed)
def _time_distributed(ctx: ExportContext, m: TimeDistributed, site: Site) -> Piece:
    if type(m.module) is nn.Sequential:
        return _chain(ctx, list(m.module), site)
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
    k = _pair(m.kernel_size)
    s = _pair(m.stride if m.stride is not None else k)
    p = _pair(m.padding)
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


def channel_affine(name: str, scale: Tensor, shift: Tensor, shape: tuple[int, ...]) -> Piece:
    """``y = scale[c] * x + shift[c]`` per channel (dim 0 of the per-step ``shape``) as one standard node:
    ``Affine`` with a diagonal matrix for vectors, a 1x1 ``Conv1d``/``Conv2d`` with a channel-diagonal
    kernel for ``[C, L]`` / ``[C, H, W]`` (exact: every output sums one product and zeros)."""
    c = int(scale.numel())
    diag = np.diag(scale.detach().double().numpy())
    bias = shift.detach().double().numpy()
    if len(shape) == 1:
        return Piece.one(name, nir.Affine(weight=diag, bias=bias))
    if len(shape) == 2:
        return Piece.one(name, nir.Conv1d(input_shape=shape[1], weight=diag.reshape(c, c, 1), stride=1, padding=0,
                                          dilation=1, groups=1, bias=bias))
    if len(shape) == 3:
        return Piece.one(name, nir.Conv2d(input_shape=tuple(shape[1:]), weight=diag.reshape(c, c, 1, 1), stride=1,
                                          padding=0, dilation=1, groups=1, bias=bias))
    raise ValueError(f"a per-channel affine map of per-step shape {shape} has no NIR node (vectors, [C, L], [C, H, W])")


@register_converter(nn.BatchNorm1d, nn.BatchNorm2d)
def _batch_norm(ctx: ExportContext, m: nn.modules.batchnorm._BatchNorm, site: Site) -> Piece:
    # eval mode: the running statistics make BatchNorm a fixed per-channel affine map
    if m.running_mean is None or m.running_var is None:
        raise ValueError("BatchNorm without running statistics (track_running_stats=False) normalises with each "
                         "batch's own statistics, which no NIR node computes")
    scale = 1 / torch.sqrt(m.running_var.double() + m.eps)
    if m.weight is not None:
        scale = scale * m.weight.double()
    shift = -m.running_mean.double() * scale + (m.bias.double() if m.bias is not None else 0)
    return channel_affine(site.name, scale, shift, site.in_shape)


RECURRENT_LEAK = 0.5  # decay of the LI population that carries a linear state space (any value in (0, 1))


def linear_state_space(ctx: ExportContext, name: str, A: Tensor, B: Tensor) -> Piece:
    """The linear time-invariant system ``x[t] = A x[t-1] + B u[t]`` (state = output, ``x[-1] = 0``) in
    standard NIR nodes: ``u -> Linear(B) -> LI`` with a recurrent ``Linear(A - beta I)`` onto the LI,
    whose step (forward Euler, ``r = 1/(1 - beta)``) is ``v[t] = beta v[t-1] + (A - beta I) v[t-1] + B u[t]``.
    ``beta`` is :data:`RECURRENT_LEAK` (0.5: exact in binary, so the matrices are not rounded twice)."""
    n = A.shape[0]
    if A.shape != (n, n) or B.dim() != 2 or B.shape[0] != n:
        raise ValueError(f"state space shapes A {tuple(A.shape)}, B {tuple(B.shape)}: need A [n, n], B [n, m]")
    beta = torch.tensor(RECURRENT_LEAK, dtype=torch.float64)
    tau = _np(ctx.tau(beta), (n,))
    li = nir.LI(tau=tau, r=np.full(n, 1 / (1 - RECURRENT_LEAK)), v_leak=np.zeros(n),
                metadata={**ctx.meta, "snnkit.state_space": True})
    rec = A.double() - beta * torch.eye(n, dtype=torch.float64)
    nodes = {f"{name}.in": weight_node(B, None), name: li, f"{name}.rec": weight_node(rec, None)}
    return Piece(nodes, [(f"{name}.in", name), (name, f"{name}.rec"), (f"{name}.rec", name)], [f"{name}.in"], [name])


# --- the walk over the traced graph -------------------------------------------------------------

_ADD = (operator.add, operator.iadd, torch.add)
_MUL = (operator.mul, operator.imul, torch.mul)
_DIV = (operator.truediv, operator.itruediv, torch.div)


def _is_leaf(m: nn.Module) -> bool:
    return converter_for(m) is not None or isinstance(m, (SpikingLayer, TimeDistributed)) \
        or _repeat_steps(m) is not None


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


def _runs(model: nn.Module, x: Tensor) -> bool:
    try:
        model(x)
    except Exception:  # noqa: BLE001 - any failure means: not this input layout
        return False
    return True


class _ShapeRecorder(fx.Interpreter):
    def run_node(self, n: fx.Node) -> Any:
        out = super().run_node(n)
        if isinstance(out, Tensor):
            n.meta["snnkit.shape"] = tuple(out.shape)
        return out


_PRODUCTS = _MUL + (operator.matmul, torch.matmul, torch.bmm, torch.mm, torch.einsum)
_PRODUCT_METHODS = ("mul", "__mul__", "matmul", "__matmul__", "bmm", "mm")
_PERMUTES = ("permute", "transpose", "movedim", "swapaxes", "swapdims")
_TIME_REDUCTIONS = ("mean", "sum", "amax", "amin", "max", "min", "cumsum", "softmax", "prod")


def _ancestors(node: fx.Node) -> set[fx.Node]:
    seen, todo = set(), [node]
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo += n.all_input_nodes
    return seen


def _permutation(node: fx.Node, rank: int) -> tuple[int, ...] | None:
    """The dimension order that a permute/transpose/movedim call produces, or None when not static ints."""
    t, args = node.target, list(node.args[1:])
    dims = list(range(rank))
    try:
        if t == "permute" or t is torch.permute:
            order = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
            return tuple(int(d) % rank for d in order)
        a, b = (int(v) % rank for v in (args + [node.kwargs.get("dim0"), node.kwargs.get("dim1")])[:2])
        if t in ("transpose", "swapaxes", "swapdims") or t is torch.transpose:
            dims[a], dims[b] = dims[b], dims[a]
        else:  # movedim(source, destination)
            dims.insert(b, dims.pop(a))
        return tuple(dims)
    except (TypeError, ValueError, IndexError):
        return None


@dataclass
class _TimeConv:
    """``x.permute(1, 2, 0)`` -> [``F.pad(., (left, right))``] -> ``Conv1d`` [-> ``.permute(2, 0, 1)``]: a
    convolution along time (``back`` is None when the result does not return to ``[T, B, C]`` at once)."""

    conv: fx.Node
    back: fx.Node | None
    skipped: list[fx.Node]
    module: nn.Conv1d
    pad: tuple[int, int]

    @property
    def future(self) -> int:  # how many steps ahead of t the output at t reads
        m = self.module
        return m.dilation[0] * (m.kernel_size[0] - 1) - m.padding[0] - self.pad[0]

    @property
    def causal(self) -> bool:  # exactly y[t] = sum_k W_k x[t - d (K-1-k)]: one Delay -> Linear per tap
        m = self.module
        return (self.back is not None and self.future == 0 and self.pad[1] == 0 and m.padding[0] == 0
                and m.stride[0] == 1 and m.groups == 1)

    def note(self) -> str:
        m = self.module
        pad = f", input padded by {self.pad}" if self.pad != (0, 0) else ""
        what = (f"; it feeds a Conv1d along time ({type(m).__name__} '{self.conv.target}': kernel "
                f"{m.kernel_size[0]}, dilation {m.dilation[0]}, padding {m.padding[0]}{pad})")
        if self.future > 0:
            return what + f" whose output step t reads input steps up to t+{self.future}, i.e. the future"
        return what + ", a causal convolution over time that does not keep the sequence length"


def _time_conv(gm: fx.GraphModule, node: fx.Node) -> _TimeConv | None:
    """The convolution along time that the permute ``node`` starts, if it is one."""
    if _permutation(node, 3) != (1, 2, 0) or len(node.args[0].meta.get("snnkit.shape", ())) != 3:
        return None
    pad, n, skipped = (0, 0), node, []
    while True:
        users = list(n.users)
        if len(users) != 1:
            return None
        n = users[0]
        if n.op == "call_function" and getattr(n.target, "__name__", "") == "pad":
            widths = n.args[1] if len(n.args) > 1 else n.kwargs.get("pad")
            if not (isinstance(widths, (tuple, list)) and len(widths) == 2) or pad != (0, 0):
                return None
            pad = (int(widths[0]), int(widths[1]))
            skipped.append(n)
            continue
        if n.op != "call_module" or type(gm.get_submodule(n.target)) is not nn.Conv1d:
            return None
        m = gm.get_submodule(n.target)
        if isinstance(m.padding, str):
            return None
        users = list(n.users)
        back = users[0] if len(users) == 1 and users[0].op in ("call_method", "call_function") \
            and _permutation(users[0], 3) == (2, 0, 1) else None
        return _TimeConv(n, back, skipped, m, pad)


def _time_taps(ctx: ExportContext, name: str, m: nn.Conv1d) -> Piece:
    """A causal convolution along time, ``y[t] = b + sum_k W[:, :, k] x[t - d (K-1-k)]``, as one
    ``Delay -> Linear`` branch per kernel tap (the undelayed tap a plain ``Affine``), summed at the target."""
    w, (K,), (d,) = m.weight.detach(), m.kernel_size, m.dilation
    piece = Piece({})
    for k in range(K):
        steps, lin = d * (K - 1 - k), f"{name}.tap{k}"
        piece.nodes[lin] = weight_node(w[:, :, k], m.bias if steps == 0 else None)
        piece.exits.append(lin)
        if steps == 0:
            piece.entries.append(lin)
            continue
        delay = f"{name}.delay{steps}"
        piece.nodes[delay] = nir.Delay(delay=np.full(w.shape[1], steps * ctx.dt), metadata={"snnkit.steps": steps})
        piece.edges.append((delay, lin))
        piece.entries.append(delay)
    return piece


class _Walk:
    def __init__(self, gm: fx.GraphModule, ctx: ExportContext, batch_dim: int = 1) -> None:
        self.gm, self.ctx = gm, ctx
        self.nodes: dict[str, nir.NIRNode] = {}
        self.edges: list[tuple[str, str]] = []
        self.values: dict[fx.Node, list[str]] = {}
        self.input_shape: tuple[int, ...] = ()
        self.flat_input: tuple[int, ...] | None = None
        # Static inputs (see the module docstring): the fx nodes computed before the repetition, the
        # repetition's step count, and the input's layout (a permutation that puts the batch dim first).
        self.static: set[fx.Node] = set()
        self.repeat = 0
        self.batch_dim = batch_dim  # where the model's input has its batch dim (1: time-major)
        self.input_view: fx.Node | None = None
        self.input_perm: tuple[int, ...] = ()
        self.input_used = False
        # causal convolutions along time (permute -> [pad] -> Conv1d -> permute back): by Conv1d node
        self.time_convs: dict[fx.Node, _TimeConv] = {}
        self.time_nodes: set[fx.Node] = set()  # their permutes and pads: the values pass through

    def fail(self, node: fx.Node, reason: str) -> ExportError:
        what = type(self.gm.get_submodule(node.target)).__name__ if node.op == "call_module" else op_name(node)
        return ExportError(f"cannot export {what} at {describe(self.gm, node)}: {reason}")

    def shape(self, node: fx.Node) -> tuple[int, ...]:
        return tuple(node.meta.get("snnkit.shape", ()))[1 if node in self.static else 2:]

    def source(self, node: fx.Node, arg: Any) -> list[str]:
        if not isinstance(arg, fx.Node) or arg not in self.values:
            raise self.fail(node, f"its input {arg!r} is not a tensor the graph carries")
        if self.values[arg] == ["input"] and arg in self.static:
            if arg is not self.input_view:
                raise self.fail(node, "the static input is used in two layouts (NIR has no permute node)")
            if self.input_perm.index(self.batch_dim) != 0:
                raise self.fail(node, "the static input reaches a layer before its batch dimension is moved first "
                                      "(the layout RepeatSteps presents)")
            self.input_used = True
        return self.values[arg]

    def check_expressible(self) -> None:
        """Refuse, before anything is built, the operations that no NIR graph can express (whatever
        converters exist), most fundamental first: products of two signals; moves of or reductions over
        the time axis; permutations of a step's axes."""
        signal: set[fx.Node] = set()
        for node in self.gm.graph.nodes:
            if node.op == "placeholder" or (node.op != "get_attr" and not shape_only(node)
                                            and any(a in signal for a in node.all_input_nodes)):
                signal.add(node)
        ordered = [n for n in self.gm.graph.nodes if n in signal and n.op != "placeholder"]
        for node in ordered:
            t = node.target
            operands = [a for a in node.all_input_nodes if a in signal]
            product = (node.op == "call_function" and t in _PRODUCTS) or (node.op == "call_method"
                                                                         and t in _PRODUCT_METHODS)
            quotient = (node.op == "call_function" and t in _DIV) or (node.op == "call_method" and t in ("div", "__truediv__"))
            if (product or quotient) and len(operands) >= 2:
                kind = "product" if product else "quotient"
                raise self.fail(node, f"the {kind} of two signals ({', '.join(a.name for a in operands[:2])}): NIR "
                                      "nodes are linear maps of their summed inputs, or neurons; none multiplies or "
                                      "divides one signal by another (attention, gating)")
        stream = [n for n in ordered if n not in self.static and n.op in ("call_method", "call_function")
                  and isinstance(n.args[0], fx.Node) and n.args[0].meta.get("snnkit.shape")]
        for node in stream:
            name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
            rank = len(node.args[0].meta["snnkit.shape"])
            if name in _PERMUTES and node not in self.time_nodes:
                perm = _permutation(node, rank)
                if perm is None or perm[0] != 0 or perm[1] != 1:
                    conv = _time_conv(self.gm, node)
                    if conv is not None and conv.causal:
                        self.time_convs[conv.conv] = conv
                        self.time_nodes.update([node, conv.back, *conv.skipped])
                        continue
                    raise self.fail(node, "moves the time axis (dim 0 of [T, B, ...]) among the other dimensions"
                                          f"{conv.note() if conv else ''}; a NIR graph sees one time step at a time")
            if name in _TIME_REDUCTIONS:
                dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
                if isinstance(dim, int) and dim % rank == 0:
                    raise self.fail(node, "reduces over the time axis (dim 0): the result needs the whole sequence, "
                                          "while a NIR graph gives each step's output from the steps so far")
        for node in stream:
            name = node.target if isinstance(node.target, str) else getattr(node.target, "__name__", "")
            if name in _PERMUTES and node not in self.time_nodes:
                raise self.fail(node, "permutes the axes of each step's tensor: NIR has no transpose or reshape "
                                      "node, and its Linear/Affine map vectors (nir's type check refuses them on "
                                      "[N, D]); it could be written only with every step flattened into one "
                                      "vector and each per-axis layer a Kronecker-product Linear, which the "
                                      "exporter does not do")

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
        if _repeat_steps(m) is not None:  # the static input becomes the input stream (module docstring)
            self.values[node] = self.source(node, node.args[0])
            self.repeat = _repeat_steps(m)
            return
        if node in self.time_convs:
            self.attach(node, _time_taps(self.ctx, str(node.target), m), self.source(node, node.args[0]))
            return
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
        static = node in self.static
        site = Site(str(node.target), self.shape(node.args[0]), self.shape(node), batch_dims=1 if static else 2)
        try:
            piece = conv(self.ctx, m, site)
        except ExportError:
            raise
        except ValueError as err:
            raise self.fail(node, str(err)) from err
        stateful = (nir.LIF, nir.LI, nir.IF, nir.CubaLIF, nir.Delay, nir.NIRGraph)
        if static and (isinstance(m, SpikingLayer) or any(isinstance(n, stateful) for n in piece.nodes.values())):
            raise self.fail(node, "a stateful layer computed once on the static input, before it is repeated; NIR "
                                  "runs every node at every step (only stateless layers may precede RepeatSteps)")
        self.attach(node, piece, inputs)

    def function(self, node: fx.Node) -> None:
        t, args = node.target, node.args
        if node in self.time_nodes:
            self.values[node] = self.source(node, args[0])
            return
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
        name = t if isinstance(t, str) else getattr(t, "__name__", "")
        if node in self.static and name in _PERMUTES and args and args[0] is self.input_view \
                and not self.input_used:  # a layout of the static input: recorded, applied by the importer
            perm = _permutation(node, len(self.input_perm))
            if perm is None:
                raise self.fail(node, "the permutation of the static input must be constant integers")
            self.input_perm = tuple(self.input_perm[i] for i in perm)
            self.input_view, self.values[node] = node, ["input"]
            return
        if (node.op == "call_function" and t is torch.flatten) or (node.op == "call_method" and t == "flatten"):
            start = args[1] if len(args) > 1 else node.kwargs.get("start_dim", 0)
            end = args[2] if len(args) > 2 else node.kwargs.get("end_dim", -1)
            try:
                piece = _flatten(node.name, self.shape(args[0]), int(start), int(end), 1 if node in self.static else 2)
            except ValueError as err:
                raise self.fail(node, str(err)) from err
            self.attach(node, piece, self.source(node, args[0]))
            return
        raise self.fail(node, "this operation has no NIR node (supported between modules: tensor + tensor, "
                              "tensor * number, flatten)")

    def run(self, shape: tuple[int, ...]) -> nir.NIRGraph:
        self.input_shape = shape
        out_shape: tuple[int, ...] = ()
        repeats = [n for n in self.gm.graph.nodes
                   if n.op == "call_module" and _repeat_steps(self.gm.get_submodule(n.target)) is not None]
        if len(repeats) > 1:
            raise self.fail(repeats[1], "a second repetition of a static input (one graph input stream is exported)")
        if repeats and isinstance(repeats[0].args[0], fx.Node):
            self.static = _ancestors(repeats[0].args[0])
        self.check_expressible()
        if self.batch_dim == 0 and not self.static:
            raise _NoRepetition()
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                if any(v == ["input"] for v in self.values.values()):
                    raise self.fail(node, "the model takes more than one input; NIR graphs here have one")
                self.values[node] = ["input"]
                self.input_view, self.input_perm = node, tuple(range(len(node.meta.get("snnkit.shape", ()))))
            elif node.op == "call_module":
                self.module(node)
            elif node.op == "output":
                result = node.args[0]
                if not isinstance(result, fx.Node):
                    raise self.fail(node, f"the model returns {type(result).__name__}; one tensor is exported")
                exits = self.source(node, result)
                self.edges += [(a, "output") for a in exits]
                out_shape = self.shape(result)
            elif node.op == "get_attr" or not shape_only(node):
                self.function(node)
        meta = dict(self.ctx.meta)
        if self.static:
            view = tuple(self.input_view.meta.get("snnkit.shape", ()))
            self.input_shape = view[1:]  # the batch dim is first (checked where the input is used)
            meta["snnkit.repeat_steps"] = int(self.repeat)
            if self.input_perm != tuple(range(len(self.input_perm))):
                meta["snnkit.input_permute"] = np.array(self.input_perm, dtype=np.int64)
        self.nodes = {"input": nir.Input(input_type={"input": np.array(self.input_shape)}), **self.nodes,
                      "output": nir.Output(output_type={"output": np.array(out_shape)})}
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


def extensions_used(graph: nir.NIRGraph) -> list[str]:
    """What in ``graph`` other tools would run differently: soft reset kept as node metadata
    (``"reset=subtract"``) and extension sub-graphs (``"NIRGraph node 'pool'"``); empty for a plain graph."""
    found = set()
    for name, node in graph.nodes.items():
        if isinstance(node, nir.NIRGraph):
            found.add(f"{type(node).__name__} node {name!r}")
        elif (getattr(node, "metadata", None) or {}).get("snnkit.reset"):
            found.add(f"reset={node.metadata['snnkit.reset']}")
    return sorted(found)


def for_peer(graph: nir.NIRGraph, target: str) -> nir.NIRGraph:
    """``graph`` (written with the target's ``dt`` and ``method="euler"``) rewritten for one peer: LI
    readouts become LIF nodes with an unreachable threshold (none of the peers runs ``nir.LI``; read the
    peer neuron's membrane), ``r`` folded where the peer ignores it, Flatten dims written as negative
    indices (peers apply them to batched tensors, NIR counts per sample: negative ones mean the same).
    Node kinds the peer cannot run raise ``ValueError`` naming the node."""
    peer = PEERS[target]
    if extensions_used(graph):
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
    batch_dim, first_error = 1, None
    root = nn.Sequential(model) if _is_leaf(model) else model  # fx traces into the root: keep a leaf whole
    try:
        try:
            gm = trace(root, _is_leaf, example=(example,))
        except TracingError as err:
            static = torch.zeros(1, *shape)  # models of static inputs (images [B, C, H, W]) reject [T, B, ...]
            if not _runs(model, static):
                raise ExportError(f"cannot export {type(model).__name__}: {err}") from err
            example, batch_dim, first_error = static, 0, err
            try:
                gm = trace(root, _is_leaf, example=(example,))
            except TracingError as err2:
                raise ExportError(f"cannot export {type(model).__name__}: {err2}") from err2
        gm.graph.eliminate_dead_code()
        try:
            _ShapeRecorder(gm).run(example)
        except Exception as err:
            raise ExportError(f"{type(model).__name__} does not run on input of per-sample shape {shape} "
                              f"(pass input_shape): {err}") from err
        try:
            graph = _Walk(gm, ctx, batch_dim).run(shape)
        except _NoRepetition:  # the static retry was a guess that did not hold: the first error stands
            raise ExportError(f"cannot export {type(model).__name__}: {first_error}") from first_error
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
