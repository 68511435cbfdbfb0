"""Tracing an ANN with ``torch.fx`` and rewriting it into a canonical graph the converter understands:
only weight layers, activations, pooling, Flatten and additions remain (functional calls become
modules, Dropout is removed, BatchNorm is folded into the layer before it). Anything else raises
:class:`UnsupportedOperationError` naming the operation and where it is in the model."""
from __future__ import annotations

import copy
import operator
from collections import OrderedDict
from typing import Any, Callable

import nir
import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from ..errors import InvalidFileError
from ..ir.graph import ExportContext, Piece, Site, register_converter
from ..ir.nir_import import register_extension
from ..ir.trace import TracingError, describe, op_name
from ..ir.trace import trace as leaf_trace
from ..neurons import LIF, SpikingLayer
from ..synapses import TimeDistributed
from ..synapses.folding import fold_scale_shift
from .modules import QCFS, ChannelScale, ConvertedIF, ConvertedLIF, SpikeMaxPool, conversion_reset

SUPPORTED = ("Linear, Conv1d, Conv2d, BatchNorm1d/2d (after a Linear/Conv), ReLU, ReLU6, Hardtanh(0, a), "
             "clamp(min=0), QCFS, AvgPool1d/2d, AdaptiveAvgPool1d/2d, MaxPool1d/2d, Flatten, Unflatten, "
             "x.view(x.size(0), -1), Dropout, Identity, addition of two tensors")

WEIGHT_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
ACTIVATIONS = (nn.ReLU, nn.Hardtanh, QCFS)
POOLS_AVG = (nn.AvgPool1d, nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)
POOLS_MAX = (nn.MaxPool1d, nn.MaxPool2d)
REMOVED = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.AlphaDropout, nn.Identity)
BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d)
RESHAPES = (nn.Flatten, nn.Unflatten)
_KEPT = WEIGHT_LAYERS + ACTIVATIONS + POOLS_AVG + POOLS_MAX + RESHAPES


class UnsupportedOperationError(TypeError):
    """The ANN uses an operation the converter has no spiking equivalent for."""


def _conversion_leaf(m: nn.Module) -> bool:
    return isinstance(m, (QCFS, ChannelScale, SpikeMaxPool, TimeDistributed, SpikingLayer))


def trace(model: nn.Module) -> fx.GraphModule:
    """Symbolically trace ``model`` (QCFS and snnkit modules stay leaves) with the tracer shared with
    :mod:`snnkit.ir`."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"ann must be a torch.nn.Module; got {type(model).__name__}")
    try:
        return leaf_trace(model, _conversion_leaf)
    except TracingError as err:  # data-dependent control flow and the like
        raise UnsupportedOperationError(
            f"torch.fx could not trace {type(model).__name__}: {err}. The converter needs a model without "
            "data-dependent Python control flow") from err


_target_name = op_name


def unsupported(gm: fx.GraphModule, node: fx.Node, what: str | None = None) -> UnsupportedOperationError:
    if what is None:
        what = type(gm.get_submodule(node.target)).__name__ if node.op == "call_module" else _target_name(node)
    return UnsupportedOperationError(
        f"cannot convert {what} at {describe(gm, node)}; supported operations: {SUPPORTED}")


def _arg(node: fx.Node, index: int, name: str, default: Any) -> Any:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _clip_module(gm: fx.GraphModule, node: fx.Node, low: Any, high: Any) -> nn.Module:
    if isinstance(low, fx.Node) or isinstance(high, fx.Node) or low is None or float(low) != 0.0:
        raise unsupported(gm, node, f"{_target_name(node)}(min={low}, max={high}) (only min=0 clips convert)")
    if high is None:
        return nn.ReLU()
    if float(high) <= 0:
        raise unsupported(gm, node, f"{_target_name(node)}(max={high}) (max must be > 0)")
    return nn.Hardtanh(0.0, float(high))


_POOL_FUNCTIONS: dict[Callable, type[nn.Module]] = {
    F.avg_pool1d: nn.AvgPool1d, F.avg_pool2d: nn.AvgPool2d, F.max_pool1d: nn.MaxPool1d,
    F.max_pool2d: nn.MaxPool2d, F.adaptive_avg_pool1d: nn.AdaptiveAvgPool1d,
    F.adaptive_avg_pool2d: nn.AdaptiveAvgPool2d, torch.avg_pool1d: nn.AvgPool1d,
    torch.max_pool1d: nn.MaxPool1d, torch.max_pool2d: nn.MaxPool2d,
    torch.adaptive_avg_pool1d: nn.AdaptiveAvgPool1d,
}
_RELU_FUNCTIONS = (F.relu, torch.relu, torch.relu_, F.relu_)
_DROPOUT_FUNCTIONS = (F.dropout, F.dropout1d, F.dropout2d, F.alpha_dropout, torch.dropout)
_ADD_FUNCTIONS = (operator.add, operator.iadd, torch.add)
_CLAMP_FUNCTIONS = (torch.clamp, torch.clip, F.hardtanh)


def _module_for(gm: fx.GraphModule, node: fx.Node) -> nn.Module | str | None:
    """Canonical replacement of a call_function / call_method node: a module, ``"drop"`` (identity),
    ``"add"`` or ``None`` (leave as is, e.g. ``size``)."""
    t, op = node.target, node.op
    if op == "call_function":
        if t in _RELU_FUNCTIONS:
            return nn.ReLU()
        if t is F.relu6:
            return nn.Hardtanh(0.0, 6.0)
        if t in _CLAMP_FUNCTIONS:
            lo_name, hi_name = ("min_val", "max_val") if t is F.hardtanh else ("min", "max")
            lo_default, hi_default = (-1.0, 1.0) if t is F.hardtanh else (None, None)
            return _clip_module(gm, node, _arg(node, 1, lo_name, lo_default), _arg(node, 2, hi_name, hi_default))
        if t in _DROPOUT_FUNCTIONS:
            return "drop"
        if t in _ADD_FUNCTIONS:
            return "add"
        if t is torch.flatten:
            start, end = _arg(node, 1, "start_dim", 0), _arg(node, 2, "end_dim", -1)
            if start == 0:
                raise unsupported(gm, node, "torch.flatten with start_dim=0 (flattens the batch)")
            return nn.Flatten(start, end)
        if t in _POOL_FUNCTIONS:
            cls = _POOL_FUNCTIONS[t]
            if t in (F.max_pool1d, F.max_pool2d) and _arg(node, 6, "return_indices", False):
                raise unsupported(gm, node, "max pooling with return_indices=True")
            return cls(*node.args[1:], **node.kwargs)
    elif op == "call_method":
        if t in ("relu", "relu_"):
            return nn.ReLU()
        if t in ("clamp", "clip", "clamp_", "clip_"):
            return _clip_module(gm, node, _arg(node, 1, "min", None), _arg(node, 2, "max", None))
        if t in ("add", "add_", "__add__"):
            return "add"
        if t == "flatten":
            start = _arg(node, 1, "start_dim", 0)
            if start == 0:
                raise unsupported(gm, node, "Tensor.flatten with start_dim=0 (flattens the batch)")
            return nn.Flatten(start, _arg(node, 2, "end_dim", -1))
        if t in ("view", "reshape") and len(node.args) == 3 and node.args[2] == -1:
            size = node.args[1]
            if (isinstance(size, fx.Node) and size.op == "call_method" and size.target == "size"
                    and size.args[0] is node.args[0] and _arg(size, 1, "dim", None) == 0):
                return nn.Flatten(1)
        if t == "size":
            return None
        if t == "contiguous":
            return "drop"
    raise unsupported(gm, node)


def _fold_batchnorm(layer: nn.Module, bn: nn.Module) -> nn.Module:
    """A copy of ``layer`` (Linear/Conv) with the eval-mode ``bn`` after it folded into its weights."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm with track_running_stats=False has no statistics to fold")
    folded = copy.deepcopy(layer)
    with torch.no_grad():
        inv_std = torch.rsqrt(bn.running_var + bn.eps)
        gain = inv_std * (bn.weight if bn.weight is not None else 1.0)
        shift = (bn.bias if bn.bias is not None else 0.0) - bn.running_mean * gain
        bias = folded.bias if folded.bias is not None else torch.zeros_like(bn.running_mean)
        weight, new_bias = fold_scale_shift(folded.weight, bias, gain, shift)
        folded.weight.copy_(weight)
        if folded.bias is None:
            folded.bias = nn.Parameter(new_bias)
        else:
            folded.bias.copy_(new_bias)
    return folded


def _is_add(node: fx.Node) -> bool:
    return node.op == "call_function" and node.target is operator.add


def canonicalize(ann: nn.Module) -> fx.GraphModule:
    """Trace a copy of ``ann`` (in eval mode) and rewrite it into the canonical form (see module doc).
    The result computes the same function as ``ann.eval()`` (BatchNorm folding is exact up to float
    rounding)."""
    model = copy.deepcopy(ann).eval()
    gm = trace(model)
    graph = gm.graph
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        raise UnsupportedOperationError(
            f"the ANN's forward must take exactly one input tensor; it takes {len(placeholders)} "
            f"({[n.name for n in placeholders]})")
    for node in list(graph.nodes):
        if node.op in ("placeholder", "output"):
            continue
        if node.op == "get_attr":
            raise unsupported(gm, node)
        if node.op == "call_module":
            m = gm.get_submodule(node.target)
            if isinstance(m, REMOVED):
                node.replace_all_uses_with(node.args[0])
                graph.erase_node(node)
            elif isinstance(m, nn.ReLU6):
                swap_module(gm, node, nn.Hardtanh(0.0, 6.0))
            elif isinstance(m, nn.Hardtanh) and (m.min_val != 0.0 or m.max_val <= 0):
                raise unsupported(gm, node, f"Hardtanh(min_val={m.min_val}, max_val={m.max_val})")
            elif isinstance(m, nn.Flatten) and m.start_dim == 0:
                raise unsupported(gm, node, "Flatten(start_dim=0) (flattens the batch)")
            elif isinstance(m, nn.Unflatten) and m.dim in (0, -len(m.unflattened_size) - 1):
                raise unsupported(gm, node, "Unflatten of the batch dimension")
            elif isinstance(m, POOLS_MAX) and m.return_indices:
                raise unsupported(gm, node, "max pooling with return_indices=True")
            elif isinstance(m, BATCHNORMS):
                _fold_node(gm, node)
            elif not isinstance(m, _KEPT):
                raise unsupported(gm, node)
            continue
        replacement = _module_for(gm, node)
        if replacement is None:
            continue
        if replacement == "drop":
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
        elif replacement == "add":
            a, b = node.args[0], node.args[1] if len(node.args) > 1 else node.kwargs.get("other")
            if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)) or "alpha" in node.kwargs:
                raise unsupported(gm, node, f"{_target_name(node)} of a constant (only tensor + tensor converts)")
            with graph.inserting_before(node):
                new = graph.call_function(operator.add, (a, b))
            node.replace_all_uses_with(new)
            graph.erase_node(node)
        else:
            name = free_name(gm, node.name)
            gm.add_submodule(name, replacement)
            with graph.inserting_before(node):
                new = graph.call_module(name, (node.args[0],))
            new.meta = dict(node.meta)
            node.replace_all_uses_with(new)
            graph.erase_node(node)
    graph.eliminate_dead_code()
    for node in graph.nodes:  # what survives dead-code elimination must be one of ours
        if node.op == "call_method" or (node.op == "call_function" and not _is_add(node)):
            raise unsupported(gm, node)
    gm.recompile()
    gm.delete_all_unused_submodules()
    return gm


def free_name(gm: fx.GraphModule, base: str) -> str:
    """A submodule name of ``gm`` starting with ``base`` that is not taken yet."""
    names = dict(gm.named_modules())
    name, i = base, 0
    while name in names:
        i += 1
        name = f"{base}_{i}"
    return name


def swap_module(gm: fx.GraphModule, node: fx.Node, module: nn.Module) -> None:
    """Replace the submodule that ``node`` (a ``call_module``) calls by ``module``."""
    parent, _, leaf = str(node.target).rpartition(".")
    setattr(gm.get_submodule(parent) if parent else gm, leaf, module)


def _fold_node(gm: fx.GraphModule, node: fx.Node) -> None:
    bn = gm.get_submodule(node.target)
    prev = node.args[0]
    ok = (isinstance(prev, fx.Node) and prev.op == "call_module"
          and isinstance(gm.get_submodule(prev.target), WEIGHT_LAYERS) and len(prev.users) == 1)
    if not ok:
        raise unsupported(gm, node, f"{type(bn).__name__} that does not directly follow a Linear/Conv "
                                    "used only by it (it cannot be folded)")
    try:
        folded = _fold_batchnorm(gm.get_submodule(prev.target), bn)
    except ValueError as err:
        raise unsupported(gm, node, f"{type(bn).__name__} ({err})") from err
    swap_module(gm, prev, folded)
    node.replace_all_uses_with(prev)
    gm.graph.erase_node(node)


def fold_batchnorm(ann: nn.Module) -> fx.GraphModule:
    """The canonical eval-mode graph of ``ann`` with every BatchNorm folded into the layer before it
    (and Dropout removed); equal to ``ann.eval()`` up to float rounding."""
    return canonicalize(ann)


def chain(gm: fx.GraphModule) -> list[fx.Node] | None:
    """The call_module nodes in order if the graph is a single chain input -> m1 -> ... -> output."""
    nodes = list(gm.graph.nodes)
    prev = nodes[0]
    out: list[fx.Node] = []
    for node in nodes[1:-1]:
        if node.op != "call_module" or node.args != (prev,) or node.kwargs or len(prev.users) != 1:
            return None
        out.append(node)
        prev = node
    last = nodes[-1]
    if last.op != "output" or last.args[0] is not prev or len(prev.users) != 1:
        return None
    return out


def sequential_name(target: str) -> str:
    return str(target).replace(".", "_")


def as_sequential(gm: fx.GraphModule, cls: type[nn.Sequential] = nn.Sequential) -> nn.Module:
    """``gm`` as a ``cls`` (e.g. ``nn.Sequential``) when it is a chain (module names keep their
    qualified names with '.' -> '_'), otherwise ``gm`` itself."""
    nodes = chain(gm)
    if nodes is None:
        return gm
    return cls(OrderedDict((sequential_name(n.target), gm.get_submodule(n.target)) for n in nodes))


# --- how converted networks are written to (and read from) the network graph ---------------------
# The converter's own modules register their NIR mapping here, in the package that defines them
# (snnkit.ir's importer loads this module when a file names one of these kinds).

@register_converter(ChannelScale)
def _channel_scale_to_nir(ctx: ExportContext, m: ChannelScale, site: Site) -> Piece:
    return Piece.one(site.name, nir.Scale(scale=np.broadcast_to(m.scale.double().numpy(), site.out_shape).copy()))


@register_converter(ConvertedIF, ConvertedLIF)
def _converted_neuron_to_nir(ctx: ExportContext, m: nn.Module, site: Site) -> Piece:
    extra: dict[str, Any] = {"snnkit.module": type(m).__name__}
    if m.v_init:
        extra.update(ctx.extension(f"the initial membrane v_init={m.v_init} (a fraction of the threshold)",
                                   "snnkit.v_init", float(m.v_init)))
    return Piece.one(site.name, ctx.neuron(m, site.out_shape, extra))


@register_converter(SpikeMaxPool)
def _spike_max_pool_to_nir(ctx: ExportContext, m: SpikeMaxPool, site: Site) -> Piece:
    pool = m.pool
    if not isinstance(pool, POOLS_MAX) or pool.ceil_mode or pool.return_indices:
        raise ValueError(f"SpikeMaxPool({type(pool).__name__}) with ceil_mode/return_indices has no graph form")
    meta = ctx.extension("spike max pooling (NIR has no max-pool node)", "snnkit.module", "SpikeMaxPool")
    dims = 1 if isinstance(pool, nn.MaxPool1d) else 2
    for key in ("kernel_size", "stride", "padding", "dilation"):
        value = getattr(pool, key)
        meta[f"snnkit.{key}"] = np.broadcast_to(np.asarray(value, np.int64), (dims,)).copy()
    # The body is deliberately unconnected: a tool that does not know the extension fails loudly
    # instead of running it as an identity.
    body = {"input": nir.Input(input_type={"input": np.array(site.in_shape)}),
            "output": nir.Output(output_type={"output": np.array(site.out_shape)})}
    return Piece.one(site.name, nir.NIRGraph(nodes=body, edges=[], metadata=meta, type_check=False))


@register_extension("ConvertedIF")
@register_extension("ConvertedLIF")
def _converted_neuron_from_nir(name: str, node: Any, modules: list[nn.Module]) -> list[nn.Module]:
    layer = modules[-1]
    meta = node.metadata or {}
    v_init = float(np.asarray(meta.get("snnkit.v_init", 0.0)))
    if not 0.0 <= v_init < 1.0:
        raise InvalidFileError(None, f"nodes.{name}.metadata.snnkit.v_init", v_init, "a fraction in [0, 1)")
    reset = conversion_reset(layer) if isinstance(layer, LIF) else None
    if not isinstance(node, (nir.IF, nir.LIF)) or reset is None:
        raise InvalidFileError(None, f"nodes.{name}", type(node).__name__,
                               "an IF/LIF node reset by subtraction or to 0")
    if isinstance(node, nir.IF):
        neuron: nn.Module = ConvertedIF(layer.v_th.detach().clone(), v_init=v_init, reset=reset)
    else:
        neuron = ConvertedLIF(layer.v_th.detach().clone(), v_init=v_init, reset=reset)
        neuron.method = layer.method
        neuron._buffers["_log_tau_mem"] = layer._log_tau_mem.detach().clone()
    return modules[:-1] + [neuron]


@register_extension("SpikeMaxPool")
def _spike_max_pool_from_nir(name: str, node: Any, modules: list[nn.Module]) -> list[nn.Module]:
    meta = node.metadata or {}
    values = {}
    for key, low in (("kernel_size", 1), ("stride", 1), ("padding", 0), ("dilation", 1)):
        a = np.atleast_1d(np.asarray(meta.get(f"snnkit.{key}", -1)))
        if a.dtype.kind not in "iu" or a.size not in (1, 2) or a.min() < low or a.max() > 64:
            raise InvalidFileError(None, f"nodes.{name}.metadata.snnkit.{key}", a.tolist(), f"1 or 2 integers in [{low}, 64]")
        values[key] = tuple(int(v) for v in a)
    pool = nn.MaxPool1d if len(values["kernel_size"]) == 1 else nn.MaxPool2d
    return [SpikeMaxPool(pool(**values))]
