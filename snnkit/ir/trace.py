"""The one ``torch.fx`` tracer that :mod:`snnkit.ir` and :mod:`snnkit.conversion` share.

:class:`LeafTracer` keeps chosen module types whole (neurons, time-distributed layers, delayed
synapses: anything a converter maps as one piece) and records source lines so that every error can
point at the user's code (:func:`describe`). With an ``example`` input it also resolves Python
``if``s on shapes (``if x.shape[-1] != n: raise ...``, the input checks of snnkit's models) by
evaluating them on that input; a condition that reads tensor *values* still raises, because baking
in one input's branch would silently export a different network.
"""
from __future__ import annotations

import math
import re
import traceback
from typing import Any, Callable

import torch
from torch import fx, nn

from .. import _checks

# Calls whose result only depends on a tensor's shape (never its values).
_SHAPE_METHODS = ("size", "dim", "ndimension")
_SHAPE_ATTRIBUTES = ("shape", "ndim")


class TracingError(TypeError):
    """``torch.fx`` could not trace a module (data-dependent control flow, iteration over a tensor...)."""


def _is_user_file(file: str) -> bool:
    return "/torch/" not in file and not file.endswith(("ir/trace.py", "ir/graph.py"))


def _short(err: BaseException) -> str:
    return str(err).split(". This can be attempted")[0]  # fx appends a long generic hint


def _user_line(err: BaseException) -> str:
    """``", at file:line in func: code"`` for the innermost frame of ``err`` outside torch and this tracer."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if _is_user_file(f.filename)]
    if not frames:
        return ""
    f = frames[-1]
    return f", at {f.filename}:{f.lineno} in {f.name}: {(f.line or '').strip()}"


def shape_only(node: fx.Node) -> bool:
    """Whether ``node`` depends on tensor shapes only (not on any tensor's values)."""
    if node.op == "call_method" and node.target in _SHAPE_METHODS:
        return True
    if node.op == "call_function" and node.target is getattr and node.args[1] in _SHAPE_ATTRIBUTES:
        return True
    if node.op in ("placeholder", "call_module", "get_attr"):
        return False
    inputs = node.all_input_nodes
    return bool(inputs) and all(shape_only(n) for n in inputs)


class _KnownLength:
    """``len()`` and ``range()`` of a proxy that only depends on shapes (``*x.shape``, ``range(x.dim())``),
    when the tracer has an example: evaluated on it, like the shape conditions of ``to_bool``."""

    def _shape_value(self) -> Any:
        tracer = self.tracer  # type: ignore[attr-defined]
        if isinstance(tracer, LeafTracer) and tracer._example is not None and shape_only(self.node):  # type: ignore[attr-defined]
            return tracer._evaluate(self)
        return None

    def __len__(self) -> int:
        value = self._shape_value()
        return len(value) if value is not None else super().__len__()  # type: ignore[misc]

    def __index__(self) -> int:
        value = self._shape_value()
        if isinstance(value, int):
            return value
        raise TypeError(f"'{type(self).__name__}' object cannot be interpreted as an integer")


class _Attribute(_KnownLength, fx.proxy.Attribute):
    pass


class _Proxy(_KnownLength, fx.Proxy):
    def __getattr__(self, k: str) -> Any:
        return _Attribute(self, k)


class LeafTracer(fx.Tracer):
    """A tracer that keeps ``is_leaf(module)`` modules whole, records stack traces, names the module
    that failed to trace, and (given ``example``) evaluates shape-only conditions on it."""

    def __init__(self, is_leaf: Callable[[nn.Module], bool], example: tuple[Any, ...] | None = None) -> None:
        super().__init__(autowrap_modules=(math, _checks))  # argument checks stay single calls
        # ...but only _checks' own functions: not the classes it imports (torch.Tensor would be patched)
        self._autowrap_function_ids -= {id(v) for v in vars(_checks).values()
                                        if callable(v) and getattr(v, "__module__", None) != _checks.__name__}
        self.record_stack_traces = True
        self._is_leaf, self._example = is_leaf, example
        self._evaluating = False  # True while a shape condition runs for real (see to_bool)
        self._values: fx.Interpreter | None = None  # the example's values of the nodes evaluated so far

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return self._is_leaf(m) or super().is_leaf_module(m, qualname)

    def call_module(self, m: nn.Module, forward: Callable[..., Any], args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> Any:
        if self._evaluating:
            return forward(*args, **kwargs)
        try:
            return super().call_module(m, forward, args, kwargs)
        except TracingError:
            raise
        except Exception as err:  # the innermost module that could not be traced names itself
            path = self.path_of_module(m) or type(m).__name__
            raise TracingError(f"module '{path}' ({type(m).__name__}) cannot be traced{_user_line(err)}: "
                               f"{_short(err)}") from err

    def _evaluate(self, obj: fx.Proxy) -> Any:
        """The value of ``obj`` on the example: its ancestors run once each, their values kept for the next
        evaluation (so a model full of shape checks is evaluated once in all, not once per check)."""
        if self._values is None:
            self._values = fx.Interpreter(self.root, garbage_collect_values=False, graph=self.graph)
            self._values.args_iter = iter(self._example)
        values = self._values
        wanted = {obj.node}
        stack = [obj.node]
        while stack:
            for a in stack.pop().all_input_nodes:
                if a not in wanted and a not in values.env:
                    wanted.add(a)
                    stack.append(a)
        self._evaluating = True  # the tracer's patches of Module.__call__/__getattr__ stand aside
        try:
            with torch.no_grad():
                for node in self.graph.nodes:
                    if node in wanted and node not in values.env:
                        values.env[node] = values.run_node(node)
        finally:
            self._evaluating = False
        return values.env[obj.node]

    def to_bool(self, obj: fx.Proxy) -> bool:
        if self._example is None or not shape_only(obj.node):
            return super().to_bool(obj)
        return bool(self._evaluate(obj))

    def proxy(self, node: fx.Node) -> fx.Proxy:
        return _Proxy(node, self)

    def iter(self, obj: fx.Proxy) -> Any:
        """``*x.shape`` and ``a, b = x.shape``: as many items as the example's shape has (each symbolic)."""
        if self._example is None or not shape_only(obj.node):
            return super().iter(obj)
        return iter([obj[i] for i in range(len(self._evaluate(obj)))])

    def getattr(self, attr: str, attr_val: Any, parameter_proxy_cache: dict[str, Any]) -> Any:
        if self._evaluating:
            return attr_val
        return super().getattr(attr, attr_val, parameter_proxy_cache)


def trace(model: nn.Module, is_leaf: Callable[[nn.Module], bool],
          example: tuple[Any, ...] | None = None) -> fx.GraphModule:
    """``model`` as an fx ``GraphModule`` (see :class:`LeafTracer`); raises :class:`TracingError`."""
    tracer = LeafTracer(is_leaf, example)
    try:
        graph = tracer.trace(model)
    except TracingError:
        raise
    except Exception as err:
        raise TracingError(f"{type(model).__name__} cannot be traced{_user_line(err)}: {_short(err)}") from err
    return fx.GraphModule(tracer.root, graph)


def describe(gm: fx.GraphModule, node: fx.Node) -> str:
    """Where ``node`` is: its fx name, the module it belongs to and, when known, the source line."""
    if node.op == "call_module":
        where = f"module '{node.target}' ({type(gm.get_submodule(node.target)).__name__})"
    else:
        where = f"fx node '{node.name}'"
        stack = node.meta.get("nn_module_stack")
        if stack:
            qual, cls = list(stack.values())[-1]
            where += f" inside module '{qual}' ({getattr(cls, '__name__', cls)})"
    trace_text = node.meta.get("stack_trace") or ""
    frames = re.findall(r'File "([^"]+)", line (\d+), in (\w+)\n\s+(.*)', trace_text)
    user = [f for f in frames if _is_user_file(f[0])]
    if user:
        file, line, func, code = user[-1]
        where += f", at {file}:{line} in {func}: {code.strip()}"
    return where


def op_name(node: fx.Node) -> str:
    """What ``node`` calls, in words (``function torch.matmul``, ``method Tensor.view``, ...)."""
    t = node.target
    if node.op == "call_module":
        return f"module {t}"
    if node.op == "call_method":
        return f"method Tensor.{t}"
    if node.op == "get_attr":
        return f"parameter/attribute access '{t}' (parameters used functionally)"
    mod = getattr(t, "__module__", None) or ""
    return f"function {mod + '.' if mod else ''}{getattr(t, '__name__', t)}"
