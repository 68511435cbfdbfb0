"""Online training: gradients with the temporal route cut (SLTT, SLTT-K) and the trace form (OTTT).

All three use the *instantaneous* loss ``L = 1/T sum_t loss_fn(out[t:t+1], y)`` and drop the gradient
that flows from step ``t`` to step ``t+1`` through the neuron state (the membrane and its reset).

* ``sltt`` (Meng et al. 2023, "spatial learning through time"): every step's gradient flows only
  through space, ``dL/dh[t] = dL/ds[t] * sg(h[t] - v_th)``. Since no gradient crosses steps, the
  steps of a chunk are independent in backward: the sequence runs in chunks of ``chunk_steps`` (one
  forward engine call per chunk and LIF layer, one backward per chunk whose weight-gradient GEMMs cover
  ``chunk_steps * B`` rows). Memory is set by the chunk, not by T.
* ``sltt_k``: the same gradient from ``k`` randomly chosen steps only (``L = 1/k sum_{t in S} ...``).
  The whole sequence runs once without a graph, keeping the neuron state before each chosen step;
  the chosen steps then run again as ONE batch of ``k * B`` independent single steps with a graph,
  so the backward costs ``k / T`` of a full one.
* ``ottt`` (Xiao et al. 2022): ``sltt`` whose weight gradients read a presynaptic trace
  ``a[t] = beta a[t-1] + in[t]`` (``beta`` of the next neuron layer) instead of the input ``in[t]``:
  the leak's route through time comes back at the price of one trace per synapse layer. For one
  synapse layer feeding LIF neurons without reset this is exactly the BPTT gradient.

The model is a :class:`snnkit.neurons.Sequential` (or any ``nn.Sequential``). LIF/IF layers take the
fast path (the multi-step engine forward, an elementwise backward), LI readouts one vectorised
re-integration; any other stateful layer runs step by step with its state detached. Layers with
parameters and no state are synapses (Linear, convolutions: linear in their input, as OTTT assumes).
"""
from __future__ import annotations

from typing import Any, Callable

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .. import _checks, kernels
from ..functional.lif import LIFParameters, integrate, lif_multistep, reset_membrane
from ..functional.li import li_multistep
from ..kernels import lif_cpu
from ..kernels.lif_fused import reduce_to
from ..neurons import LI, LIF, detach_state

METHODS = ("sltt", "sltt_k", "ottt")
DEFAULT_CHUNK_STEPS = 64
LossFn = Callable[[Tensor, Tensor], Tensor]
Observer = Callable[[nn.Module, Tensor], None]


def step_loss_sum(loss_fn: LossFn, out: Tensor, y: Tensor) -> Tensor:
    """``sum_t loss_fn(out[t:t+1], y)`` over the steps of ``out [C, B, ...]`` in one call (the steps
    are stacked along the batch); ``loss_fn`` must average over the batch, as snnkit's losses do."""
    C, B = out.shape[:2]
    return loss_fn(out.reshape(1, C * B, *out.shape[2:]), y.repeat(C)) * C


def _lif_membranes(xs: Tensor, v0: Tensor, p: LIFParameters) -> tuple[Tensor, Tensor, Tensor, bool]:
    """No-graph LIF forward: ``(spikes, pre-reset membranes h, last membrane, whether C++ ran)``."""
    with torch.no_grad():
        if kernels.get_engine() in ("auto", "cpp") and lif_cpu.supports(xs, p) and lif_cpu.load() is not None:
            return (*lif_cpu.lif_forward_membranes(xs, v0, p), True)
        s, v_seq = lif_multistep(xs, v0, p, record_membrane=True)  # the reference dynamics
        h = integrate(xs, torch.cat([v0.expand_as(xs[:1]), v_seq[:-1]]), p.beta(xs), p.decay_input)
        return s, h, v_seq[-1], False


class _SpatialLIF(torch.autograd.Function):
    """Multi-step LIF whose backward has no route through time: ``g_h[t] = g_s[t] * sg(h[t] - v_th)``."""

    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, beta: Tensor, th: Tensor, p: LIFParameters):  # type: ignore[override]
        s, h, v_last, ctx.cpp = _lif_membranes(xs, v0, p)
        keep_x = p.decay_input and ctx.needs_input_grad[2]
        ctx.save_for_backward(h, v0, beta, th, xs if keep_x else None)
        ctx.p = p
        ctx.mark_non_differentiable(v_last)
        return s, v_last

    @staticmethod
    def backward(ctx, g_s: Tensor, _g_vlast: Tensor):  # type: ignore[override]
        h, v0, beta, th, xs = ctx.saved_tensors
        p: LIFParameters = ctx.p
        if ctx.cpp:
            g_h = lif_cpu.lif_spatial_backward(g_s, h, th, p)
        else:
            g_h = g_s * p.surrogate.derivative(h - th)
        g_x = g_h * (1 - beta) if p.decay_input else g_h
        g_beta = g_th = None
        if ctx.needs_input_grad[2]:  # d h[t] / d beta = v[t-1] (- x[t] with decay_input)
            s = (h[:-1] > th).to(h.dtype)
            v_prev = torch.cat([v0.expand_as(h[:1]), reset_membrane(h[:-1], s, th, p)])
            g_beta = reduce_to(g_h * (v_prev - xs if p.decay_input else v_prev), beta.shape)
        if ctx.needs_input_grad[3]:
            g_th = reduce_to(-g_h, th.shape)
        return g_x, None, g_beta, g_th, None


def _lif_chunk(layer: LIF, xs: Tensor, v0: Tensor | None) -> tuple[Tensor, Tensor]:
    p = layer.params()
    v0 = torch.zeros_like(xs[0]) if v0 is None else v0.detach()
    return _SpatialLIF.apply(xs, v0, p.beta(xs), p.threshold(xs), p)


def _li_chunk(layer: LI, xs: Tensor, v0: Tensor | None) -> tuple[Tensor, Tensor]:
    """LI readout: states without a graph, then one re-integration from the detached previous states."""
    p = layer.params()
    v0 = torch.zeros_like(xs[0]) if v0 is None else v0.detach()
    with torch.no_grad():
        vs, v_last = li_multistep(xs, v0, p)
    out = integrate(xs, torch.cat([v0.unsqueeze(0), vs[:-1]]), p.beta(xs), p.decay_input)
    return out, v_last


def _stepwise(layer: nn.Module, xs: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Any other stateful layer: one step at a time, state detached between steps."""
    outs = []
    for x in xs.unbind(0):
        out, state = layer.run(x.unsqueeze(0), detach_state(state))  # type: ignore[operator]
        outs.append(out)
    return torch.cat(outs), detach_state(state)


def _traced_synapse(layer: nn.Module, xs: Tensor, trace: Tensor | None, beta: Tensor) -> tuple[Tensor, Tensor]:
    """OTTT: output ``layer(in)``, weight gradient from ``layer(trace)``, input gradient to ``in``."""
    with torch.no_grad():
        a = torch.zeros_like(xs[0]) if trace is None else trace
        traces = []
        for x in xs.detach().unbind(0):
            a = beta * a + x
            traces.append(a)
        tr = torch.stack(traces)
        value = layer(xs)
    z = layer(xs + (tr - xs).detach())
    return z + (value - z).detach(), a


def _stateful(layer: nn.Module) -> bool:
    return hasattr(layer, "run")


def _trace_decays(layers: list[nn.Module], like: Tensor) -> dict[int, Tensor]:
    """For OTTT: each synapse layer's trace decay, the ``beta`` of the next neuron layer."""
    decays: dict[int, Tensor] = {}
    for i, layer in enumerate(layers):
        if _stateful(layer) or not any(q.requires_grad for q in layer.parameters()):
            continue
        post = next((m for m in layers[i + 1:] if _stateful(m)), None)
        if not isinstance(post, (LIF, LI)):
            raise ValueError(f"method='ottt' needs a LIF/IF or LI layer after synapse layer {i} "
                             f"({type(layer).__name__}); got {type(post).__name__}")
        beta = post.params().beta(like).detach()
        if beta.numel() != 1:
            raise ValueError(f"method='ottt' needs one shared tau_mem in layer {layers.index(post)}; "
                             f"got {beta.numel()} values (per-neuron tau)")
        decays[i] = beta.reshape(())
    return decays


def _run_chunk(layers: list[nn.Module], xs: Tensor, states: list[Any], traces: dict[int, Tensor | None],
               decays: dict[int, Tensor], observe: Observer | None) -> Tensor:
    """One chunk through the network with the temporal route cut; updates ``states`` and ``traces``."""
    for i, layer in enumerate(layers):
        if isinstance(layer, LIF):
            xs, states[i] = _lif_chunk(layer, xs, states[i])
        elif isinstance(layer, LI) and not any(q.requires_grad for q in layer.parameters()):
            xs, states[i] = _li_chunk(layer, xs, states[i])
        elif _stateful(layer):
            xs, states[i] = _stepwise(layer, xs, states[i])
        elif i in decays:
            xs, traces[i] = _traced_synapse(layer, xs, traces.get(i), decays[i])
        else:
            xs = layer(xs)
        if observe is not None and _stateful(layer):
            observe(layer, xs)
    return xs


def _layers(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"online training needs an nn.Sequential (e.g. snnkit.neurons.Sequential); "
                        f"got {type(model).__name__}")
    return list(model)


def backward(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn, method: str = "sltt",
             k: int | None = None, chunk_steps: int = DEFAULT_CHUNK_STEPS, generator: torch.Generator | None = None,
             observe: Observer | None = None) -> tuple[Tensor, float]:
    """Accumulate the online gradient of ``L = 1/T sum_t loss_fn(out[t:t+1], y)`` into ``.grad``.

    ``x`` is ``[T, B, ...]``; returns ``(output [T, B, ...] without graph, L)``. ``method`` is one of
    :data:`METHODS`; ``k`` (``sltt_k``: steps backpropagated, default ``max(1, T // 10)``) and
    ``generator`` (their random choice) apply to ``sltt_k`` only. ``observe(layer, output)`` sees each
    stateful layer's output per chunk (firing-rate monitors; not called by ``sltt_k``). Under ``torch.distributed`` the
    gradients are averaged over processes.
    """
    _checks.one_of("method", method, METHODS)
    _checks.time_major("x", x)
    if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
        raise ValueError(f"chunk_steps={chunk_steps!r} must be an integer >= 1")
    layers = _layers(model)
    T = x.shape[0]
    if method == "sltt_k":
        output = _sltt_k(model, x, y, loss_fn, T // 10 if k is None else k, generator)
    else:
        decays = _trace_decays(layers, x) if method == "ottt" else {}
        states: list[Any] = [None] * len(layers)
        traces: dict[int, Tensor | None] = {}
        output = None  # filled chunk by chunk (no list of chunks plus a concatenated copy)
        for c0, xs in zip(range(0, T, chunk_steps), x.split(chunk_steps, 0)):
            out = _run_chunk(layers, xs, states, traces, decays, observe)
            (step_loss_sum(loss_fn, out, y) / T).backward()
            if output is None:
                output = out.new_empty((T, *out.shape[1:]))
            output[c0:c0 + out.shape[0]] = out.detach()
    _average_over_processes(model)
    with torch.no_grad():
        return output, float(step_loss_sum(loss_fn, output, y) / T)


def _sltt_k(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn, k: int,
            generator: torch.Generator | None) -> Tensor:
    T, B = x.shape[:2]
    k = max(1, k)
    if k > T:
        raise ValueError(f"k={k} must be at most the number of steps T={T}")
    chosen = torch.randperm(T, generator=generator)[:k].sort().values.tolist()
    output, before = _states_before(_layers(model), x, chosen, DEFAULT_CHUNK_STEPS)
    # the chosen steps as one batch of k * B single steps; the step 0 group starts from rest
    groups = [[i for i, t in enumerate(chosen) if t == 0], [i for i, t in enumerate(chosen) if t > 0]]
    for group in (g for g in groups if g):
        xs = x[[chosen[i] for i in group]]
        xs = xs.reshape(1, len(group) * B, *x.shape[2:])
        states = None if chosen[group[0]] == 0 else [_cat_states([before[i][j] for i in group])
                                                     for j in range(len(before[group[0]]))]
        out, _ = model.run(xs, states)  # type: ignore[operator]
        out = out.reshape(len(group), B, *out.shape[2:])
        (step_loss_sum(loss_fn, out, y) / k).backward()
    return output


@torch.no_grad()
def _states_before(layers: list[nn.Module], x: Tensor, chosen: list[int], chunk_steps: int
                   ) -> tuple[Tensor, list[list[Any]]]:
    """Run ``x`` without a graph, chunk by chunk and layer by layer; return the output and, for each
    chosen step, every layer's state just before it (LIF states from the engine's membranes ``h``)."""
    states: list[Any] = [None] * len(layers)
    before: list[list[Any]] = [[None] * len(layers) for _ in chosen]
    outs = []
    for c0 in range(0, x.shape[0], chunk_steps):
        xs = x[c0:c0 + chunk_steps]
        here = [(n, t - c0) for n, t in enumerate(chosen) if c0 <= t < c0 + xs.shape[0]]
        for i, layer in enumerate(layers):
            if isinstance(layer, (LIF, LI)):
                v0 = torch.zeros_like(xs[0]) if states[i] is None else states[i]
                if isinstance(layer, LIF):
                    p = layer.params()
                    spikes, h, v_last, _ = _lif_membranes(xs, v0, p)
                    for n, j in here:  # the post-reset membrane of the step before
                        before[n][i] = v0 if j == 0 else reset_membrane(h[j - 1], spikes[j - 1], p.threshold(xs), p)
                else:
                    spikes, v_last = li_multistep(xs, v0, layer.params())
                    for n, j in here:
                        before[n][i] = v0 if j == 0 else spikes[j - 1]
                xs, states[i] = spikes, v_last
            elif _stateful(layer):
                steps = []
                for j, x_t in enumerate(xs.unbind(0)):
                    for n, jj in here:
                        if jj == j:
                            before[n][i] = states[i]
                    out, states[i] = layer.run(x_t.unsqueeze(0), states[i])  # type: ignore[operator]
                    steps.append(out)
                xs = torch.cat(steps)
            else:
                xs = layer(xs)
        outs.append(xs)
    return torch.cat(outs), before


def _cat_states(entries: list[Any]) -> Any:
    """Stack one layer's states of several steps along the batch (tensors or tuples of tensors)."""
    first = entries[0]
    if first is None:
        return None
    if isinstance(first, Tensor):
        return torch.cat(entries, 0)
    return type(first)(_cat_states([e[i] for e in entries]) for i in range(len(first)))


def _average_over_processes(model: nn.Module) -> None:
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return
    for q in model.parameters():
        if q.grad is not None:
            dist.all_reduce(q.grad)
            q.grad /= dist.get_world_size()
