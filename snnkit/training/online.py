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

With ``readout="mean"`` (an LI readout read through its mean membrane, e.g. ``ce_mean_membrane``) each
step's loss reads the whole contribution of that step's input to the mean membrane instead of the
membrane itself: the readout is linear, so its route through time is kept exactly and only the spiking
layers' routes are cut (see :func:`backward`). ``on_output`` streams the output chunk by chunk instead
of keeping it whole.

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
from ..neurons.sequential import hooked, linear_of

METHODS = ("sltt", "sltt_k", "ottt")
READOUTS = ("step", "mean")
# steps per chunk: memory grows with it, per-chunk calls shrink with it (W1 at T = 100 as two chunks of
# 50 took 1.12x BPTT's time, as one of 100 about 1.0x); T up to 128 runs as one chunk
DEFAULT_CHUNK_STEPS = 128
# sltt_k's pass over the whole sequence keeps no graph, so a chunk holds only its layers' outputs: longer
# chunks than the backward's (fewer, larger calls; memory still bounded, independent of T)
NO_GRAD_CHUNK_STEPS = 256
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


def _lif_states_after(layer: LIF, xs: Tensor, v0: Tensor, after: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """No-graph LIF forward: ``(spikes, last membrane, the membranes after the steps in after)``."""
    with torch.no_grad():
        p, constants = layer._step_params(xs)  # kept by the layer between calls
        if kernels.get_engine() in ("auto", "cpp") and lif_cpu.supports(xs, p) and lif_cpu.load() is not None:
            return lif_cpu.lif_forward_recording(xs, v0, p, after, constants)
        s, v_seq = lif_multistep(xs, v0, p, record_membrane=True)  # the reference dynamics
        return s, v_seq[-1], v_seq[after]


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


def _pair(layers: list[nn.Module], i: int) -> tuple[nn.Linear, LIF] | None:
    """Layers ``i`` (an ``nn.Linear``) and ``i + 1`` (a LIF with fixed ``tau`` and threshold), neither
    hooked: a pair the engine may run as one call with the spatial gradient; else None."""
    if i + 1 >= len(layers):
        return None
    linear, lif = linear_of(layers[i]), layers[i + 1]
    if linear is None or not isinstance(lif, LIF) or any(q.requires_grad for q in lif.parameters()) \
            or hooked(layers[i]) or hooked(lif):
        return None
    return linear, lif


def _linear_lif_chunk(layers: list[nn.Module], i: int, xs: Tensor, v0: Tensor | None,
                      trace: Tensor | None = None) -> tuple[Tensor, Tensor] | None:
    """Layers ``i`` and ``i + 1`` (see :func:`_pair`) as one engine call with the spatial gradient
    (:func:`snnkit.kernels.linear_lif`; ``trace``: OTTT's presynaptic trace, which the weight gradient
    reads), or None: the layers then run apart."""
    pair = _pair(layers, i)
    if pair is None:
        return None
    linear, lif = pair
    return kernels.linear_lif(xs, linear.weight, linear.bias, None if v0 is None else v0.detach(), lif.params(),
                              spatial=True, weight_grad_input=trace)


def _li_chunk(layer: LI, xs: Tensor, v0: Tensor | None) -> tuple[Tensor, Tensor]:
    """LI readout: states without a graph, then one re-integration from the detached previous states."""
    p = layer.params()
    v0 = torch.zeros_like(xs[0]) if v0 is None else v0.detach()
    with torch.no_grad():
        vs, v_last = li_multistep(xs, v0, p)
    out = integrate(xs, torch.cat([v0.unsqueeze(0), vs[:-1]]), p.beta(xs), p.decay_input)
    return out, v_last


def _li_mean_gain(p: LIParameters, like: Tensor, steps_left: Tensor) -> Tensor:
    """How much an LI input at a step with ``n = steps_left`` steps to go (itself included) adds to the
    sum of the membranes over those steps: ``sum_{j<n} beta^j`` (times ``1 - beta`` with decay_input).
    Differentiable in ``beta`` (a learnable ``tau_mem`` gets its exact gradient)."""
    beta = p.beta(like)
    return 1 - beta ** steps_left if p.decay_input else (1 - beta ** steps_left) / (1 - beta)


def _contributions(layer: LI, xs: Tensor, steps: list[int] | range, T: int) -> Tensor:
    """``readout="mean"``: each step's whole contribution to the mean membrane of the LI ``layer`` over
    the sequence, ``u[t] = gain(T - t) * in[t]`` for the steps ``t`` of ``xs``, so that
    ``mean_t v[t] = mean_t u[t]`` exactly (the LI is linear and never resets)."""
    steps_left = torch.tensor([T - t for t in steps], dtype=xs.dtype, device=xs.device)
    return xs * _li_mean_gain(layer.params(), xs, steps_left.reshape(-1, *[1] * (xs.dim() - 1)))


def _mean_readout(layer: LI, xs: Tensor, v0: Tensor | None, t0: int, T: int) -> tuple[Tensor, Tensor, Tensor]:
    """The LI membranes (no graph), their last value and, with graph, the contributions ``u``."""
    with torch.no_grad():
        vs, v_last = layer.run(xs, None if v0 is None else v0.detach())
    return vs, v_last, _contributions(layer, xs, range(t0, t0 + xs.shape[0]), T)


def _stepwise(layer: nn.Module, xs: Tensor, state: Any) -> tuple[Tensor, Any]:
    """Any other stateful layer: one step at a time, state detached between steps."""
    outs = []
    for x in xs.unbind(0):
        out, state = layer.run(x.unsqueeze(0), detach_state(state))  # type: ignore[operator]
        outs.append(out)
    return torch.cat(outs), detach_state(state)


def _traced_synapse(layer: nn.Module, xs: Tensor, tr: Tensor) -> Tensor:
    """OTTT: output ``layer(in)``, weight gradient from ``layer(trace)``, input gradient to ``in``."""
    with torch.no_grad():
        value = layer(xs)
    z = layer(xs + (tr - xs).detach())
    return z + (value - z).detach()


def _stateful(layer: nn.Module) -> bool:
    return hasattr(layer, "run")


def _trace_decays(layers: list[nn.Module], like: Tensor, exact_readout: bool = False) -> dict[int, Tensor]:
    """For OTTT: each synapse layer's trace decay, the ``beta`` of the next neuron layer (none for the
    synapse of a readout whose route through time is kept exactly)."""
    decays: dict[int, Tensor] = {}
    for i, layer in enumerate(layers):
        if _stateful(layer) or not any(q.requires_grad for q in layer.parameters()):
            continue
        post = next((m for m in layers[i + 1:] if _stateful(m)), None)
        if exact_readout and post is layers[-1]:
            continue
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
               decays: dict[int, Tensor], observe: Observer | None, mean_over: tuple[int, int] | None = None
               ) -> tuple[Tensor, Tensor]:
    """One chunk through the network with the temporal route cut; updates ``states`` and ``traces``.
    Returns the output and what the loss reads: the output itself, or with ``mean_over = (t0, T)``
    (``readout="mean"``) the last layer's contributions to the mean membrane."""
    loss_in = None
    i = -1
    while i + 1 < len(layers):
        i += 1
        layer = layers[i]
        v0 = states[i + 1] if i + 1 < len(layers) else None
        tr = None
        if i in decays:  # OTTT's trace of this synapse's input, a[t] = beta a[t-1] + in[t]
            last = traces.get(i)
            tr = kernels.leaky_integrate(xs, torch.zeros_like(xs[0]) if last is None else last, decays[i])
            traces[i] = tr[-1].clone()  # not a view: the chunk's trace is freed before the next chunk
        fused = _linear_lif_chunk(layers, i, xs, v0, trace=tr)
        if fused is not None:
            xs, states[i + 1] = fused
            i += 1
            if observe is not None:
                observe(layers[i], xs)
            continue
        if mean_over is not None and i == len(layers) - 1:
            xs, states[i], loss_in = _mean_readout(layer, xs, states[i], *mean_over)  # type: ignore[arg-type]
        elif isinstance(layer, LIF):
            xs, states[i] = _lif_chunk(layer, xs, states[i])
        elif isinstance(layer, LI) and not any(q.requires_grad for q in layer.parameters()):
            xs, states[i] = _li_chunk(layer, xs, states[i])
        elif _stateful(layer):
            xs, states[i] = _stepwise(layer, xs, states[i])
        elif tr is not None:
            xs = _traced_synapse(layer, xs, tr)
        else:
            xs = layer(xs)
        if observe is not None and _stateful(layer):
            observe(layer, xs)
    return xs, xs if loss_in is None else loss_in


def _layers(model: nn.Module) -> list[nn.Module]:
    if not isinstance(model, nn.Sequential):
        raise TypeError(f"online training needs an nn.Sequential (e.g. snnkit.neurons.Sequential); "
                        f"got {type(model).__name__}")
    return list(model)


def backward(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn, method: str = "sltt",
             k: int | None = None, chunk_steps: int = DEFAULT_CHUNK_STEPS, generator: torch.Generator | None = None,
             observe: Observer | None = None, on_output: Callable[[Tensor], None] | None = None,
             readout: str = "step") -> tuple[Tensor | None, float]:
    """Accumulate the online gradient of ``L = 1/T sum_t loss_fn(out[t:t+1], y)`` into ``.grad``.

    ``x`` is ``[T, B, ...]``; returns ``(output [T, B, ...] without graph, L)``. ``method`` is one of
    :data:`METHODS`; ``k`` (``sltt_k``: steps backpropagated, default ``max(1, T // 10)``) and
    ``generator`` (their random choice) apply to ``sltt_k`` only. ``observe(layer, output)`` sees each
    stateful layer's output per chunk (firing-rate monitors; not called by ``sltt_k``). Under ``torch.distributed`` the
    gradients are averaged over processes.

    ``readout="mean"`` is for a loss that reads the mean over time of an LI readout (the model's last
    layer), e.g. ``ce_mean_membrane``: the LI is linear and never resets, so ``mean_t v[t] = mean_t u[t]``
    with ``u[t] = gain(T - t) in[t]``, the whole contribution of step ``t``'s input to that mean. The loss
    becomes ``L = 1/T sum_t loss_fn(u[t:t+1], y)`` (an upper bound of ``loss_fn(v, y)`` for a loss convex
    in the mean, e.g. cross-entropy) and the readout's route through time is kept exactly (only the
    spiking layers' routes are cut). ``"step"`` (default) reads the membrane ``v[t]`` of each step.

    ``on_output(chunk)``, when given, receives the output chunk by chunk, in order and without graph
    (``[C, B, ...]``, ``C <= chunk_steps``; T is split into equal chunks, see :func:`balanced_chunk`),
    and the full output is not kept (``None`` is returned in
    its place): memory is then set by the chunk alone, not by T.
    """
    _checks.one_of("method", method, METHODS)
    _checks.one_of("readout", readout, READOUTS)
    _checks.time_major("x", x)
    if isinstance(chunk_steps, bool) or not isinstance(chunk_steps, int) or chunk_steps < 1:
        raise ValueError(f"chunk_steps={chunk_steps!r} must be an integer >= 1")
    if on_output is not None and not callable(on_output):
        raise TypeError(f"on_output must be a callable taking each output chunk, or None; "
                        f"got {type(on_output).__name__}")
    layers = _layers(model)
    mean = readout == "mean"
    if mean and not isinstance(layers[-1], LI):
        raise ValueError(f"readout='mean' needs an LI readout as the model's last layer; got "
                         f"{type(layers[-1]).__name__} (use readout='step')")
    T = x.shape[0]
    sink = _OutputSink(T, on_output, loss_fn, y)
    if method == "sltt_k":
        _sltt_k(model, x, y, loss_fn, T // 10 if k is None else k, generator, sink, mean)
    else:
        # OTTT's trace of the readout synapse would re-add the route that readout="mean" keeps exactly
        decays = _trace_decays(layers, x, exact_readout=mean) if method == "ottt" else {}
        states: list[Any] = [None] * len(layers)
        traces: dict[int, Tensor | None] = {}
        size = balanced_chunk(T, chunk_steps)
        for t0, xs in zip(range(0, T, size), x.split(size, 0)):
            out, loss_in = _run_chunk(layers, xs, states, traces, decays, observe, (t0, T) if mean else None)
            loss = step_loss_sum(loss_fn, loss_in, y)
            (loss / T).backward()
            sink.add(out.detach(), float(loss.detach()))
            del out, loss_in, loss  # not alive during the next chunk
    _average_over_processes(model)
    return sink.output, sink.loss / T


def balanced_chunk(T: int, chunk_steps: int) -> int:
    """Steps per chunk when ``T`` steps run in chunks of at most ``chunk_steps``: equal chunks (T = 300,
    at most 128: three of 100), so no short last chunk pays a whole round of per-chunk calls, and a
    step's memory is the same at any T of two chunks or more."""
    chunks = -(-T // chunk_steps)
    return max(1, -(-T // chunks))


class _OutputSink:
    """Takes the output chunk by chunk: adds up the loss ``sum_t loss_fn(out[t:t+1], y)`` and either
    fills the full output (allocated once: no list of chunks plus a concatenated copy) or hands each
    chunk to ``on_output`` and keeps nothing."""

    def __init__(self, T: int, on_output: Callable[[Tensor], None] | None, loss_fn: LossFn, y: Tensor) -> None:
        self.T, self.on_output, self.loss_fn, self.y = T, on_output, loss_fn, y
        self.output: Tensor | None = None
        self.loss, self.filled = 0.0, 0

    @torch.no_grad()
    def add(self, out: Tensor, loss_sum: float | Tensor) -> None:
        """``out [C, B, ...]`` of the next ``C`` steps and their loss sum (or the tensor the loss reads)."""
        self.loss += float(step_loss_sum(self.loss_fn, loss_sum, self.y)) if isinstance(loss_sum, Tensor) else loss_sum
        if self.on_output is not None:
            self.on_output(out)
        else:
            if self.output is None:
                self.output = out.new_empty((self.T, *out.shape[1:]))
            self.output[self.filled:self.filled + out.shape[0]] = out
        self.filled += out.shape[0]


def _sltt_k(model: nn.Module, x: Tensor, y: Tensor, loss_fn: LossFn, k: int,
            generator: torch.Generator | None, sink: _OutputSink, mean: bool) -> None:
    T, B = x.shape[:2]
    k = max(1, k)
    if k > T:
        raise ValueError(f"k={k} must be at most the number of steps T={T}")
    chosen = torch.randperm(T, generator=generator)[:k].sort().values.tolist()
    layers = _layers(model)
    before = _states_before(layers, x, chosen, NO_GRAD_CHUNK_STEPS, sink, mean)
    # readout="mean": the loss reads the contributions of the readout's input, not its membrane
    body = layers[:-1] if mean else layers
    # the chosen steps as one batch of k * B single steps; step 0 (first if chosen) starts from rest
    groups = [(0, 1), (1, k)] if chosen[0] == 0 else [(0, k)]
    for lo, hi in (g for g in groups if g[1] > g[0]):
        xs = x.index_select(0, torch.tensor(chosen[lo:hi], device=x.device))
        xs = xs.reshape(1, (hi - lo) * B, *x.shape[2:])
        from_rest = chosen[lo] == 0
        i = -1
        while i + 1 < len(body):
            i += 1
            layer, kept = body[i], _kept_rows(before[i], lo, hi)
            chain, constants = _kept_pairs(body, i, before, lo, hi, from_rest, xs.shape[:-1])
            if chain:  # Linear + LIF pairs in a row on the outputs the forward kept: one engine node
                out = kernels.spatial_linear_lif_chain(xs, chain, constants)
                if out is not None:
                    xs, i = out, i + 2 * len(chain) - 1
                    continue
            if isinstance(layer, LIF):  # spikes with the spatial gradient (the new state is not needed)
                xs, _ = _lif_chunk(layer, xs, None if from_rest else kept)
            elif _stateful(layer):
                xs, _ = layer.run(xs, None if from_rest else kept)  # type: ignore[operator]
            elif kept is not None:  # a Linear whose outputs the forward pass kept: backward only
                xs = _KeptLinear.apply(xs, kept.reshape(*xs.shape[:-1], -1), layer.weight, layer.bias)
            else:
                xs = layer(xs)
        out = xs.reshape(hi - lo, B, *xs.shape[2:])
        if mean:
            out = _contributions(layers[-1], out, chosen[lo:hi], T)  # type: ignore[arg-type]
        (step_loss_sum(loss_fn, out, y) / k).backward()


def _kept_pairs(body: list[nn.Module], i: int, before: list[Any], lo: int, hi: int, from_rest: bool,
                lead: torch.Size) -> tuple[list[tuple[Tensor, Tensor | None, Any, Tensor, Tensor | None]], list[Any]]:
    """From layer ``i`` on, the Linear + LIF pairs in a row (see :func:`_pair`) whose Linear outputs the
    forward pass kept, and their LIFs' ``(beta, threshold)``, as :func:`snnkit.kernels.spatial_linear_lif_chain`
    takes them (``lead``: the chosen steps' leading shape, ``[1, rows]``)."""
    chain, constants = [], []
    while type(body[i]) is nn.Linear and before[i] is not None and (pair := _pair(body, i)) is not None:
        linear, lif = pair
        v0 = None if from_rest else _kept_rows(before[i + 1], lo, hi)
        current = _kept_rows(before[i], lo, hi).reshape(*lead, -1)
        p, beta_th = lif._step_params(current)  # kept by the layer between calls (fixed tau and threshold)
        chain.append((linear.weight, linear.bias, p, current, v0))
        constants.append(beta_th)
        i += 2
        if i >= len(body):
            break
    return chain, constants


class _KeptLinear(torch.autograd.Function):
    """``F.linear(x, weight, bias)`` whose value ``out`` the forward pass already computed: SLTT-K's chosen
    steps skip recomputing it, and only its backward runs."""

    @staticmethod
    def forward(ctx, x: Tensor, out: Tensor, weight: Tensor, bias: Tensor | None):  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return out.view_as(out)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        g2 = g.reshape(-1, g.shape[-1])
        g_x = g @ weight if ctx.needs_input_grad[0] else None
        g_w = g2.t() @ x.reshape(-1, x.shape[-1]) if ctx.needs_input_grad[2] else None
        g_b = g2.sum(0) if ctx.has_bias and ctx.needs_input_grad[3] else None
        return g_x, None, g_w, g_b


@torch.no_grad()
def _states_before(layers: list[nn.Module], x: Tensor, chosen: list[int], chunk_steps: int, sink: _OutputSink,
                   mean: bool) -> list[Any]:
    """Run ``x`` without a graph, chunk by chunk and layer by layer, giving each output chunk (and what
    the loss reads) to ``sink``; return, for each layer, its state just before each chosen step (LIF
    states recorded by the engine as it passes those steps) or, for an ``nn.Linear``, its output
    there: ``[k, B, ...]`` tensors (a list of ``k`` states for other stateful layers; None for the rest)."""
    k = len(chosen)
    states: list[Any] = [None] * len(layers)
    before: list[Any] = [None] * len(layers)
    size = balanced_chunk(x.shape[0], chunk_steps)
    for c0 in range(0, x.shape[0], size):
        xs = x[c0:c0 + size]
        here = [(n, t - c0) for n, t in enumerate(chosen) if c0 <= t < c0 + xs.shape[0]]
        loss_in: Tensor | None = None
        for i, layer in enumerate(layers):
            if mean and i == len(layers) - 1:
                loss_in = _contributions(layer, xs, range(c0, c0 + xs.shape[0]), x.shape[0])  # type: ignore[arg-type]
            if isinstance(layer, (LIF, LI)):
                v0 = torch.zeros_like(xs[0]) if states[i] is None else states[i]
                inner = [j - 1 for _, j in here if j > 0]  # recorded after the step before
                if isinstance(layer, LIF):
                    spikes, v_last, v_prev = _lif_states_after(layer, xs, v0, inner)
                else:
                    spikes, v_last = li_multistep(xs, v0, layer.params())
                    v_prev = spikes[inner]
                if here:  # chosen is ascending: the steps here are rows n0:n1, the one at j = 0 first
                    rows = before[i] = v0.new_empty((k, *v0.shape)) if before[i] is None else before[i]
                    n0, n1 = here[0][0], here[-1][0] + 1
                    rows[n1 - len(inner):n1] = v_prev
                    if here[0][1] == 0:
                        rows[n0] = v0
                xs, states[i] = spikes, v_last
            elif _stateful(layer):
                steps = []
                for j, x_t in enumerate(xs.unbind(0)):
                    for n, jj in here:
                        if jj == j:
                            before[i] = before[i] or [None] * k
                            before[i][n] = states[i]
                    out, states[i] = layer.run(x_t.unsqueeze(0), states[i])  # type: ignore[operator]
                    steps.append(out)
                xs = torch.cat(steps)
            else:
                xs = _linear_no_grad(layer, xs) if type(layer) is nn.Linear else layer(xs)
                if type(layer) is nn.Linear and here:  # its outputs at the chosen steps, for _KeptLinear
                    rows = before[i] = xs.new_empty((k, *xs.shape[1:])) if before[i] is None else before[i]
                    steps = torch.tensor([j for _, j in here], device=xs.device)
                    torch.index_select(xs, 0, steps, out=rows[here[0][0]:here[-1][0] + 1])
        sink.add(xs, xs if loss_in is None else loss_in)
    return before


def _linear_no_grad(layer: nn.Linear, xs: Tensor) -> Tensor:
    """``layer(xs)`` without a graph; on the C++ engine, the same GEMM call written into its buffer cache
    (the same values; its bias copied into warm pages instead of fresh ones on every pass), or with
    event-driven synapses on and a 0/1 input, its event-driven form."""
    if kernels.get_engine() in ("auto", "cpp") and xs.device.type == "cpu" and xs.dtype == layer.weight.dtype \
            and xs.dtype in (torch.float32, torch.float64) and lif_cpu.load() is not None:
        out, _ = lif_cpu.linear_forward(xs.reshape(-1, xs.shape[-1]), layer.weight, layer.bias,
                                        kernels.get_event_driven())
        return out.view(*xs.shape[:-1], -1)
    return layer(xs)


def _kept_rows(kept: Any, lo: int, hi: int) -> Any:
    """One layer's states (or kept outputs) at chosen steps ``lo:hi``, stacked along the batch."""
    if kept is None or isinstance(kept, Tensor):
        return None if kept is None else kept[lo:hi].flatten(0, 1)
    return _cat_states(kept[lo:hi])


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
