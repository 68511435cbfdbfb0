"""A ``nn.Sequential`` that threads neuron state, so a network can run a sequence in chunks
(truncated BPTT, online training, streaming inference) with nothing carried implicitly."""
from __future__ import annotations

from typing import Any, Callable

from torch import Tensor, nn

from .layers import LIF


class Sequential(nn.Sequential):
    """``forward(x)`` runs the whole sequence from rest; ``run(x, state)`` continues from ``state``
    (a list with one entry per layer, ``None`` for stateless layers) and returns ``(out, new_state)``;
    ``step(x_t, state)`` does the same for a single time step ``[B, ...]``.

    Where the engine fuses two layers, the pair runs as one engine pass with the same values and
    gradients: an ``nn.Linear`` (bare or in ``TimeDistributed``) followed by a
    :class:`~snnkit.neurons.LIF` (:func:`snnkit.kernels.linear_lif`: one autograd node, the bias
    gradient summed by the LIF's backward), and a LIF followed by ``TimeDistributed(nn.AvgPool2d(k))``
    (stride k, no padding; :func:`snnkit.kernels.lif_avgpool`: the spikes between the two are never
    stored). Hooks on either module turn the fusion off for that pair, so monitors still see what
    passes between them. A monitor that only needs each layer's output can instead register with
    :meth:`add_observer`: ``fn(layer, output)`` is called after every layer of ``forward`` and ``run``
    (after a fused Linear + LIF pair, with the LIF and its spikes), and the fusion stays on (all but
    LIF + pooling, whose spikes are never stored).
    """

    _observers: tuple[Callable[[nn.Module, Tensor], None], ...] = ()  # set per instance by add_observer

    def add_observer(self, fn: Callable[[nn.Module, Tensor], None]) -> None:
        """Call ``fn(layer, output)`` after each layer of ``forward`` and ``run`` (not ``step``)."""
        self._observers = (*self._observers, fn)

    def remove_observer(self, fn: Callable[[nn.Module, Tensor], None]) -> None:
        self._observers = tuple(f for f in self._observers if f != fn)

    def _notify(self, layer: nn.Module, out: Tensor) -> None:
        for fn in self._observers:
            fn(layer, out)

    def forward(self, x: Tensor) -> Tensor:  # nn.Sequential's, plus the fused pairs
        layers, i = list(self), 0
        at_rest = [None, None]
        while i < len(layers):
            fused = self._run_fused(layers, i, x, at_rest)
            if fused is not None:
                x = fused[0]
                self._notify(layers[i + 1], x)
                i += 2
            else:
                x = layers[i](x)
                self._notify(layers[i], x)
                i += 1
        return x

    def _state(self, state: list[Any] | None) -> list[Any]:
        """The per-layer state list (all ``None`` at rest), checked against the number of layers."""
        state = [None] * len(self) if state is None else state
        if len(state) != len(self):
            raise ValueError(f"state has {len(state)} entries; this Sequential has {len(self)} layers")
        return state

    def run(self, x: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        state = self._state(state)
        new_state: list[Any] = []
        layers, i = list(self), 0
        while i < len(layers):
            fused = self._run_fused(layers, i, x, state[i:i + 2])
            if fused is not None:
                (x, pair), i = fused, i + 2
                new_state += pair
                self._notify(layers[i - 1], x)
                continue
            layer, s = layers[i], state[i]
            if hasattr(layer, "run"):
                x, s = layer.run(x, s)
            else:
                x = layer(x)
            self._notify(layer, x)
            new_state.append(s)
            i += 1
        return x, new_state

    def _run_fused(self, layers: list[nn.Module], i: int, x: Tensor, states: list[Any]) -> tuple[Tensor, list[Any]] | None:
        """Layers ``i`` and ``i + 1`` (states ``states``) as one fused engine pass: ``(output, their new
        states)``, or None (not a fusable pair, hooks on either, or no engine for this input)."""
        if i + 1 >= len(layers) or not isinstance(x, Tensor):
            return None  # (not a tensor: an fx trace, which must see the two layers as they are)
        first, second = layers[i], layers[i + 1]
        if _plain_lif(first):
            k = avgpool_size(second)
            # observers must see the LIF's spikes, which the fused pass never stores
            if k is None or hooked(first) or hooked(second) or self._observers:
                return None
            out = first.run_avgpool(x, states[0], k)  # type: ignore[union-attr]
            return None if out is None else (out[0], [out[1], None])
        linear = linear_of(first)
        if linear is None or not _plain_lif(second) or hooked(first) or hooked(second):
            return None
        out = second.run_linear(x, states[1], linear)  # type: ignore[union-attr]
        return None if out is None else (out[0], [None, out[1]])

    def step(self, x: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        """One time step ``[B, ...]``: every layer with a ``step`` method takes its own single-step path
        (streaming: no multi-step engine call per layer and step); other layers see ``[1, B, ...]``."""
        state = self._state(state)
        new_state: list[Any] = []
        for layer, s in zip(self, state):
            if hasattr(layer, "step"):
                x, s = layer.step(x, s)
            elif hasattr(layer, "run"):
                out, s = layer.run(x.unsqueeze(0), s)
                x = out.squeeze(0)
            else:
                x = layer(x.unsqueeze(0)).squeeze(0)
            new_state.append(s)
        return x, new_state


def avgpool_size(layer: nn.Module) -> int | None:
    """``k`` when ``layer`` is ``TimeDistributed(nn.AvgPool2d(k))`` with stride k, no padding, floor mode
    and the default divisor (what the fused LIF + pooling engine computes), else None."""
    from ..synapses.time_distributed import TimeDistributed  # (synapses import neurons: not at load time)

    if not isinstance(layer, TimeDistributed) or type(layer.module) is not nn.AvgPool2d:
        return None
    pool = layer.module

    def square(v: Any) -> int | None:
        v = tuple(v) if isinstance(v, (tuple, list)) else (v, v)
        return int(v[0]) if len(v) == 2 and v[0] == v[1] else None

    k = square(pool.kernel_size)
    if k is None or square(pool.stride or pool.kernel_size) != k or square(pool.padding) != 0 or pool.ceil_mode \
            or pool.divisor_override is not None:
        return None
    return k


def linear_of(layer: nn.Module) -> nn.Linear | None:
    """The ``nn.Linear`` that ``layer`` is (or wraps in ``TimeDistributed``), else None; subclasses of
    ``nn.Linear`` (quantised, LoRA, ...) compute something else and are not taken."""
    from ..synapses.time_distributed import TimeDistributed

    if isinstance(layer, TimeDistributed):
        layer = layer.module
    return layer if type(layer) is nn.Linear else None


def _plain_lif(layer: nn.Module) -> bool:
    """A LIF/IF layer whose multi-step ``run`` is the engine's (a subclass that overrides it is not fused)."""
    return isinstance(layer, LIF) and type(layer).run is LIF.run


def hooked(module: nn.Module) -> bool:
    """Any forward or backward hook on ``module``, its children, or registered globally."""
    from torch.nn.modules import module as torch_module

    if any(getattr(torch_module, name, None) for name in ("_global_forward_hooks", "_global_forward_pre_hooks",
                                                         "_global_backward_hooks", "_global_backward_pre_hooks")):
        return True
    return any(m._forward_hooks or m._forward_pre_hooks or m._backward_hooks or m._backward_pre_hooks
               for m in module.modules())


def detach_state(state: Any) -> Any:
    """Detach every tensor in a (nested) state, cutting the gradient path between chunks."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, (list, tuple)):
        parts = [detach_state(s) for s in state]
        return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)  # named tuples too
    return state
