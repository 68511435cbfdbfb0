"""Engines: fused multi-step implementations of the dynamics in :mod:`snnkit.functional`, and the
dispatcher that picks one.

Engines: ``"triton"`` (GPU kernels for every model, one launch per layer and sequence; on CPU only
through Triton's interpreter), ``"cpp"`` (C++ CPU kernel for LIF/IF, JIT-compiled at first use),
``"fused"`` (pure PyTorch, one autograd node per layer and sequence, any device, every model),
``"reference"`` (the definition in :mod:`snnkit.functional`). ``"auto"`` (default) picks ``triton`` on
CUDA, ``cpp`` for LIF/IF on CPU when it builds (``fused`` inside a torch.compile trace), ``fused``
otherwise. A forced engine that a model lacks falls back to the next one (triton -> fused -> reference);
parameters an engine does not differentiate (a learnable ALIF ``beta_adapt`` or Izhikevich ``a..d``)
take the reference path. Force a choice globally with :func:`set_engine` or locally with :func:`use_engine`::

    with snnkit.kernels.use_engine("reference"):
        out = model(x)

Event-driven synapses (off by default): with :func:`set_event_driven` (or :func:`use_event_driven`) an
``nn.Linear`` that the C++ engine runs with the LIF after it adds only the weights of the inputs that
spiked when its input is 0/1 and at most 15 % ones, forward and in the weight gradient (3x faster than
the two dense GEMMs at 5 % ones on a 700 -> 512 layer, W1's training step 2x; see ``docs/engines.md``).
The sums are the same but in
another order than the BLAS GEMM's, so a membrane within float rounding of the threshold can spike
differently from ``nn.Linear``; off, the engine runs the very GEMM ``nn.Linear`` runs.

Nothing is compiled at install time; if no compiler is present the C++ engine is skipped with a warning.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, Literal

import torch
from torch import Tensor

from .. import _checks
from ..functional import (ALIFParameters, ALIFState, CubaLIFParameters, CubaLIFState, IzhikevichParameters,
                          IzhikevichState, LIFParameters, LIParameters, alif_multistep, cuba_lif_multistep,
                          izhikevich_multistep, li_multistep, lif_multistep)
from ..functional import lif_step as reference_lif_step
from . import alif_fused, izhikevich_fused, lif_cpu, triton_engine
from .cuba_fused import cuba_lif_multistep_fused
from .li_fused import leaky_scan, li_multistep_fused
from .lif_cpu import cached_buffer_bytes, release_buffers
from .lif_fused import lif_multistep_fused

Engine = Literal["auto", "cpp", "triton", "fused", "reference"]
ENGINES = ("auto", "cpp", "triton", "fused", "reference")
_engine: Engine = "auto"


def set_engine(name: Engine) -> None:
    """Choose the engine for every multi-step call: one of ``ENGINES``."""
    global _engine
    _checks.one_of("engine", name, ENGINES)
    _engine = name


def get_engine() -> Engine:
    return _engine


@contextlib.contextmanager
def use_engine(name: Engine) -> Iterator[None]:
    """Context manager form of :func:`set_engine`."""
    previous = _engine
    set_engine(name)
    try:
        yield
    finally:
        set_engine(previous)


_event_driven = False


def set_event_driven(enabled: bool) -> None:
    """Event-driven synapses on or off (default off; see the module's documentation)."""
    global _event_driven
    if not isinstance(enabled, bool):
        raise TypeError(f"enabled must be True or False; got {enabled!r}")
    _event_driven = enabled


def get_event_driven() -> bool:
    return _event_driven


@contextlib.contextmanager
def use_event_driven(enabled: bool = True) -> Iterator[None]:
    """Context manager form of :func:`set_event_driven`."""
    previous = _event_driven
    set_event_driven(enabled)
    try:
        yield
    finally:
        set_event_driven(previous)


@contextlib.contextmanager
def flush_denormals() -> Iterator[None]:
    """Inside the block the CPU flushes denormal floats to zero (``torch.set_flush_denormal(True)``); the
    previous setting comes back after it (read from the C++ engine; without it, off is assumed).

    A saturated loss (e.g. a cross-entropy on spike counts with a large margin) makes float32 gradients
    fall below 1.2e-38, and x86 CPUs compute on such denormals many times slower: a W1-shaped Trainer step
    took 90 ms instead of 23 ms (docs/engines.md). Values that small change no update (Adam's second
    moment of such a gradient is already 0 in float32)."""
    ext = lif_cpu.load()
    previous = bool(ext.denormals_flushed()) if ext is not None else False
    _set_flush(ext, True)
    try:
        yield
    finally:
        _set_flush(ext, previous)


def _set_flush(ext: Any, on: bool) -> None:
    torch.set_flush_denormal(on)
    if ext is not None:  # each thread has its own setting: the intra-op pool's threads too
        ext.set_denormals_flushed(on)


def available() -> dict[str, list[str]]:
    """Which engines can run on this machine for which model (for ``snnkit info``): ``triton`` only with
    CUDA, or on CPU tensors under Triton's interpreter."""
    runnable = torch.cuda.is_available() or triton_engine.interpreted()
    gpu = ["triton"] if triton_engine.installed() and runnable else []
    lif = ["reference", "fused"] + (["cpp"] if lif_cpu.load() is not None else []) + gpu
    other = ["reference", "fused"] + gpu
    return {"lif": lif, "if": lif, "cuba_lif": other, "alif": other, "li": other, "izhikevich": other}


def _pick(xs: Tensor, triton_ok: bool = True, fused_ok: bool = True) -> str:
    """The engine that runs a model on ``xs``: ``"reference"``, ``"fused"`` or ``"triton"`` (the
    caller handles ``"cpp"``). ``*_ok``: whether the model's parameters suit that engine (else the
    next one down: triton -> fused -> reference)."""
    if _engine == "reference" or not fused_ok:
        return "reference"
    if _engine == "triton":
        reason = triton_engine.why_not(xs)
        if reason is not None:
            raise RuntimeError(f"engine 'triton' was forced but cannot run here: {reason}")
        return "triton" if triton_ok else "fused"
    if _engine == "auto" and triton_ok and xs.device.type == "cuda" and triton_engine.usable(xs):
        return "triton"
    return "fused"


def _run_stateful(engine: str, xs: Tensor, state: Any, p: Any, state_type: type, triton: Any, fused: Any,
                  reference: Any) -> tuple[Tensor, Any]:
    """Run ``engine``'s function for a model whose state has several tensors; the engines return plain
    tuples, named here as ``state_type`` (the reference path names its own)."""
    if engine == "reference":
        return reference(xs, state, p)
    s, final = (triton if engine == "triton" else fused)(xs, state, p)
    return s, state_type(*final)


def lif(xs: Tensor, v0: Tensor | None, p: LIFParameters, record_membrane: bool = False
        ) -> tuple[Tensor, Tensor]:
    """Multi-step LIF through the selected engine. See :func:`snnkit.functional.lif_multistep`."""
    if record_membrane:
        return lif_multistep(xs, v0, p, record_membrane)
    # inside a torch.compile trace "auto" takes the pure-torch engine, which the compiler can trace
    if _engine == "cpp" or (_engine == "auto" and lif_cpu.supports(xs, p) and not torch.compiler.is_compiling()):
        if lif_cpu.load() is not None:
            return lif_cpu.lif_multistep_cpp(xs, v0, p)
        if _engine == "cpp":
            raise RuntimeError(f"engine 'cpp' was forced but cannot be built: {lif_cpu.build_error()}")
    engine = _pick(xs, triton_engine.supports_lif(p))
    if engine == "triton":
        return triton_engine.lif_multistep_triton(xs, v0, p)
    if engine == "fused":
        return lif_multistep_fused(xs, v0, p)
    return lif_multistep(xs, v0, p)


def lif_step(x: Tensor, v: Tensor, p: LIFParameters, constants: tuple[Tensor, Tensor] | None = None
             ) -> tuple[Tensor, Tensor]:
    """One LIF step, ``(spikes, new membrane)`` (see :func:`snnkit.functional.lif_step`): where no graph is
    wanted (inference, streaming) on a CPU float tensor, the C++ engine's forward for one step, one call
    in place of the reference's five elementwise ops (same values); else the reference step."""
    beta, th = (p.beta(x), p.threshold(x)) if constants is None else constants
    if _engine in ("auto", "cpp") and lif_cpu.supports(x, p) and v.shape == x.shape \
            and not (torch.is_grad_enabled() and any(t.requires_grad for t in (x, v, beta, th))) \
            and all(t.dtype == x.dtype and t.device == x.device for t in (v, beta, th)) \
            and not torch.compiler.is_compiling() and not _functorch_wrapped(x, v) and lif_cpu.load() is not None:
        return lif_cpu.lif_step_cpp(x, v, beta, th, p)
    return reference_lif_step(x, v, p, (beta, th))


def _functorch_wrapped(*tensors: Tensor) -> bool:
    """Whether any tensor is seen through a torch.func transform (vmap, grad, ...): those have no storage
    for the C++ engine to read, so the reference ops run (they have the transforms' rules)."""
    wrapped = getattr(torch._C._functorch, "is_functorch_wrapped_tensor", None)
    return wrapped is not None and any(wrapped(t) for t in tensors)


def leaky_integrate(xs: Tensor, v0: Tensor, beta: Tensor, decay_input: bool = False) -> Tensor:
    """Without a graph: every step's ``v[t] = beta v[t-1] + x[t]`` (``+ (1 - beta) x[t]`` with
    ``decay_input``) over ``xs [T, ...]``, the membranes of :func:`snnkit.functional.li_multistep` (OTTT's
    presynaptic traces): one C++ engine call on CPU float tensors (equal to the bit), else the fused scan."""
    with torch.no_grad():
        if _engine in ("auto", "cpp") and xs.device.type == "cpu" and xs.dtype in (torch.float32, torch.float64) \
                and beta.dtype == xs.dtype and lif_cpu.load() is not None:
            return lif_cpu.leaky_integrate_cpp(xs, v0, beta, decay_input)
        return leaky_scan(xs.detach(), v0.detach(), beta.detach(), decay_input)


def lif_avgpool(xs: Tensor, v0: Tensor | None, p: LIFParameters, k: int) -> tuple[Tensor, Tensor] | None:
    """A LIF layer followed by ``nn.AvgPool2d(k)`` (stride k, no padding) on ``xs [T, B, C, H, W]`` as one
    engine pass each way, the spikes never stored: ``(pooled spikes, last membrane)``, equal to
    :func:`lif` then the pooling. ``None`` where no engine fuses them (engine not "auto"/"cpp", not a CPU
    float tensor, a layout other than PyTorch's or channels-last, a pooled size of 0, or a band of
    ``T x k rows`` beyond the backward's scratch): the caller then runs the two layers."""
    if _engine not in ("auto", "cpp") or xs.dim() != 5 or not lif_cpu.supports(xs, p) \
            or torch.compiler.is_compiling():
        return None
    found = lif_cpu.pool_geometry(xs)
    if found is None or xs.shape[3] < k or xs.shape[4] < k:
        return None
    _, (_, _, w, c) = found
    if xs.shape[0] * k * w * c > lif_cpu.MAX_POOL_SCRATCH or lif_cpu.load() is None:
        return None
    return lif_cpu.lif_avgpool_cpp(xs, v0, p, k)


def linear_lif(x: Tensor, weight: Tensor, bias: Tensor | None, v0: Tensor | None, p: LIFParameters,
               spatial: bool = False, weight_grad_input: Tensor | None = None) -> tuple[Tensor, Tensor] | None:
    """``nn.Linear`` (``weight``, ``bias``) on ``x [T, B, ..., in]`` then a LIF layer, as one engine call
    each way: ``(spikes [T, B, ..., out], last membrane)``, equal to ``F.linear`` then :func:`lif` (the
    same GEMM, so the same spikes). ``spatial``: the LIF's backward without the route through time
    (online training; no gradient to ``v0``, ``beta`` or the threshold; with the Linear's output already
    computed, see :func:`spatial_linear_lif_chain`). ``weight_grad_input`` (with ``spatial``; shaped like
    ``x``): what the weight gradient reads in place of ``x`` (OTTT's presynaptic trace); the input and
    bias gradients are unchanged. ``None`` where no engine fuses them: engine not "auto"/"cpp", not a CPU
    float32/float64 input with parameters of its dtype, an autocast region or a torch.compile trace (both
    must see ``F.linear``), debug mode (which checks the LIF's input), or a shape ``F.linear`` would
    reject (it then says why)."""
    if weight_grad_input is not None and (not spatial or weight_grad_input.shape != x.shape):
        raise ValueError(f"weight_grad_input is for the spatial form (spatial=True) and must be shaped like x "
                         f"{tuple(x.shape)}; got spatial={spatial} and shape {tuple(weight_grad_input.shape)}")
    if not _fuses_linear_lif(x, weight, bias, p, None, v0, weight_grad_input):
        return None
    return lif_cpu.linear_lif_cpp(x, weight, bias, v0, p, spatial, weight_grad_input, _event_driven)


def spatial_linear_lif_chain(x: Tensor, pairs: list[tuple[Tensor, Tensor | None, LIFParameters, Tensor, Tensor | None]],
                             constants: list[tuple[Tensor, Tensor]] | None = None) -> Tensor | None:
    """Linear + LIF pairs in a row, each Linear's output already computed, with the spatial gradient (as
    :func:`linear_lif` with ``spatial=True``, pair after pair, minus the forward GEMMs): the last pair's spikes.
    ``pairs``: per pair ``(weight, bias, LIF parameters, current [T, B, ..., out], v0 or None)``; pair ``j``'s
    weight gradient reads pair ``j - 1``'s spikes (``x`` for the first). ``constants``: each pair's
    ``(beta, threshold)`` already computed, as :func:`lif_step` takes them (no gradient reaches them).
    SLTT-K's chosen steps: the whole chain is one autograd node. ``None`` where :func:`linear_lif` would
    not fuse one of the pairs."""
    inputs = x
    for weight, bias, p, current, v0 in pairs:
        if not _fuses_linear_lif(inputs, weight, bias, p, current, v0):
            return None
        inputs = current
    if constants is None:
        constants = [(p.beta(current), p.threshold(current)) for _, _, p, current, _ in pairs]
    flat = [t for weight, bias, *_ in pairs for t in (weight, bias)]
    return lif_cpu.spatial_chain_cpp(x, [(p, *c, current, v0) for (_, _, p, current, v0), c in zip(pairs, constants)],
                                     flat, _event_driven)


def _fuses_linear_lif(x: Tensor, weight: Tensor, bias: Tensor | None, p: LIFParameters, current: Tensor | None,
                      *others: Tensor | None) -> bool:
    """Whether the C++ engine runs ``nn.Linear`` then a LIF on ``x`` (see :func:`linear_lif`)."""
    if _engine not in ("auto", "cpp") or not lif_cpu.supports(x, p) or x.dim() < 3 or weight.dim() != 2 \
            or x.shape[-1] != weight.shape[1] or torch.compiler.is_compiling() or _checks.debug_enabled() \
            or torch.is_autocast_enabled("cpu"):
        return False
    if any(t is not None and (t.dtype != x.dtype or t.device != x.device) for t in (weight, bias, current, *others)):
        return False
    if current is not None and current.shape != (*x.shape[:-1], weight.shape[0]):
        return False
    return lif_cpu.load() is not None


def cuba_lif(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: CubaLIFParameters
             ) -> tuple[Tensor, CubaLIFState]:
    """Multi-step current-based LIF. See :func:`snnkit.functional.cuba_lif_multistep`."""
    return _run_stateful(_pick(xs, triton_engine.supports_lif(p.lif)), xs, state, p, CubaLIFState,
                         triton_engine.cuba_lif_multistep_triton, cuba_lif_multistep_fused, cuba_lif_multistep)


def alif(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: ALIFParameters
         ) -> tuple[Tensor, ALIFState]:
    """Multi-step adaptive LIF. See :func:`snnkit.functional.alif_multistep`."""
    return _run_stateful(_pick(xs, triton_engine.supports_lif(p.lif), alif_fused.supports(p)), xs, state, p,
                         ALIFState, triton_engine.alif_multistep_triton, alif_fused.alif_multistep_fused, alif_multistep)


def li(xs: Tensor, v0: Tensor | None, p: LIParameters) -> tuple[Tensor, Tensor]:
    """Multi-step leaky integrator: ``(membranes, final membrane)``. See :func:`snnkit.functional.li_multistep`."""
    engine = _pick(xs)
    if engine == "triton":
        return triton_engine.li_multistep_triton(xs, v0, p)
    if engine == "fused":
        return li_multistep_fused(xs, v0, p)
    return li_multistep(xs, v0, p)


def izhikevich(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: IzhikevichParameters,
               record_membrane: bool = False) -> tuple[Tensor, Any]:
    """Multi-step Izhikevich. See :func:`snnkit.functional.izhikevich_multistep`."""
    if record_membrane:
        return izhikevich_multistep(xs, state, p, record_membrane)
    return _run_stateful(_pick(xs, p.surrogate.name in triton_engine.SURROGATE_IDS, izhikevich_fused.supports(p)),
                         xs, state, p, IzhikevichState, triton_engine.izhikevich_multistep_triton,
                         izhikevich_fused.izhikevich_multistep_fused, izhikevich_multistep)


__all__ = ["set_engine", "get_engine", "use_engine", "set_event_driven", "get_event_driven", "use_event_driven",
           "flush_denormals", "available", "lif", "lif_step", "leaky_integrate", "lif_avgpool",
           "linear_lif", "spatial_linear_lif_chain",
           "cuba_lif", "alif", "li", "izhikevich",
           "ENGINES", "release_buffers", "cached_buffer_bytes",
           "lif_multistep_fused", "cuba_lif_multistep_fused", "li_multistep_fused"]
