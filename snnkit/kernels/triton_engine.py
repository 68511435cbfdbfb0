"""The Triton engine: every neuron model in one kernel launch per layer and sequence, forward and
backward (kernels in :mod:`snnkit.kernels.triton_kernels`).

The launches are registered as ``torch.library`` custom ops (``snnkit::triton_*``), so torch.compile
treats each as one opaque node, and wrapped in autograd Functions that reshape to ``[T, N]`` and sum
parameter gradients back to the parameters' shapes. State is float32; inputs and spikes may be
float16/bfloat16 (mixed precision) or float32.

It runs on CUDA tensors, and on CPU tensors through Triton's interpreter when ``TRITON_INTERPRET=1``
was set before Triton was first imported (slow: for tests). :func:`usable` says whether it can run.
"""
from __future__ import annotations

import importlib.util
import os
import sys
from typing import Any

import torch
from torch import Tensor

from ..functional.alif import ALIFParameters
from ..functional.cuba import CubaLIFParameters
from ..functional.discretize import decay
from ..functional.izhikevich import IzhikevichParameters
from ..functional.li import LIParameters
from ..functional.lif import LIFParameters
from .lif_fused import reduce_to

SURROGATE_IDS = {"atan": 0, "sigmoid": 1, "fast_sigmoid": 2, "triangle": 3, "rectangular": 4, "gaussian": 5,
                 "piecewise_quadratic": 6, "periodic": 7}
RESET_IDS = {"hard": 0, "subtract": 1, "none": 2}
DTYPES = (torch.float32, torch.float16, torch.bfloat16)
_kernels: Any = None


def installed() -> bool:
    return importlib.util.find_spec("triton") is not None


def interpreted() -> bool:
    """Whether Triton runs kernels in its interpreter (``TRITON_INTERPRET=1`` when it was imported)."""
    return os.environ.get("TRITON_INTERPRET", "0") == "1"


def why_not(xs: Tensor) -> str | None:
    """``None`` if the engine can run on ``xs``, else the reason (for errors and ``snnkit info``)."""
    if not installed():
        return "triton is not installed (pip install triton)"
    if xs.dtype not in DTYPES:
        return f"dtype {xs.dtype} is not supported (allowed: float32, float16, bfloat16)"
    if xs.numel() >= 2**31:
        return f"{xs.numel()} elements: the kernels index with int32 offsets (allowed: fewer than 2^31)"
    if xs.device.type == "cuda":
        return None
    if xs.device.type == "cpu" and interpreted():
        return None
    return (f"device {xs.device.type!r} needs CUDA, or TRITON_INTERPRET=1 set before triton is first imported "
            "(the interpreter, for tests)")


def usable(xs: Tensor) -> bool:
    return why_not(xs) is None


def _k() -> Any:
    global _kernels
    if _kernels is None:
        if "triton" in sys.modules and interpreted() != _interpret_at_import():
            raise RuntimeError("TRITON_INTERPRET changed after triton was imported; set it before the first import")
        from . import triton_kernels
        _kernels = triton_kernels
    return _kernels


def _interpret_at_import() -> bool:
    from triton import knobs
    return bool(knobs.runtime.interpret)


def _launch(n: int, device: torch.device) -> tuple[tuple[int], int]:
    block = 256 if device.type == "cuda" else max(16, min(4096, 1 << max(0, n - 1).bit_length()))
    return ((n + block - 1) // block,), block


def _flat(t: Tensor, shape: torch.Size) -> Tensor:
    """A per-neuron float32 copy ``[N]`` of ``t`` broadcast to the neuron shape ``[B, ...]``."""
    return t.detach().to(torch.float32).expand(shape).contiguous().reshape(-1)


# ------------------------------------------------------------------ custom ops (one launch each)


@torch.library.custom_op("snnkit::triton_lif_forward", mutates_args=())
def _lif_forward(x: Tensor, v0: Tensor, beta: Tensor, th: Tensor, a0: Tensor, rho: Tensor, ba: Tensor,
                 reset: int, v_reset: float, decay_input: bool, adapt: bool
                 ) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
    T, N = x.shape
    s, h = torch.empty_like(x), torch.empty((T, N), dtype=torch.float32, device=x.device)
    # unused buffers are 1 element, not 0: a launch never gets a null pointer
    a_prev = torch.empty((T, N) if adapt else (1,), dtype=torch.float32, device=x.device)
    v, a = torch.empty_like(v0), torch.empty_like(a0)
    grid, block = _launch(N, x.device)
    _k().lif_forward[grid](x, v0, beta, th, a0, rho, ba, s, h, a_prev, v, a, T, N, v_reset,
                           RESET=reset, DECAY_INPUT=decay_input, ADAPT=adapt, BLOCK=block)
    return s, h, a_prev, v, a


@_lif_forward.register_fake
def _(x, v0, beta, th, a0, rho, ba, reset, v_reset, decay_input, adapt):
    T, N = x.shape
    f32 = dict(dtype=torch.float32, device=x.device)
    return (torch.empty_like(x), x.new_empty((T, N), **f32), x.new_empty((T, N) if adapt else (1,), **f32),
            torch.empty_like(v0), torch.empty_like(a0))


@torch.library.custom_op("snnkit::triton_lif_backward", mutates_args=())
def _lif_backward(gs: Tensor, gv: Tensor, ga: Tensor, h: Tensor, a_prev: Tensor, x: Tensor, v0: Tensor,
                  beta: Tensor, th: Tensor, rho: Tensor, ba: Tensor, reset: int, v_reset: float,
                  decay_input: bool, detach: bool, surrogate: int, alpha: float, adapt: bool, has_gs: bool,
                  has_gv: bool, has_ga: bool, need_beta: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor, Tensor]:
    T, N = h.shape
    gx = torch.empty((T, N), dtype=x.dtype, device=h.device)
    gv0, ga0, gbeta, gth, grho = (torch.zeros(N, dtype=torch.float32, device=h.device) for _ in range(5))
    grid, block = _launch(N, h.device)
    _k().lif_backward[grid](gs, gv, ga, h, a_prev, x, v0, beta, th, rho, ba, gx, gv0, ga0, gbeta, gth, grho,
                            T, N, v_reset, alpha, RESET=reset, DECAY_INPUT=decay_input, DETACH=detach,
                            SURROGATE=surrogate, ADAPT=adapt, HAS_GS=has_gs, HAS_GV=has_gv, HAS_GA=has_ga,
                            NEED_BETA=need_beta, BLOCK=block)
    return gx, gv0, ga0, gbeta, gth, grho


@_lif_backward.register_fake
def _(gs, gv, ga, h, a_prev, x, v0, beta, th, rho, ba, *args):
    T, N = h.shape
    return (x.new_empty((T, N)),) + tuple(h.new_empty(N) for _ in range(5))


@torch.library.custom_op("snnkit::triton_li_forward", mutates_args=())
def _li_forward(x: Tensor, v0: Tensor, beta: Tensor, decay_input: bool) -> Tensor:
    """All membranes, float32 (they are the state)."""
    T, N = x.shape
    out = torch.empty((T, N), dtype=torch.float32, device=x.device)
    grid, block = _launch(N, x.device)
    _k().li_forward[grid](x, v0, beta, out, T, N, DECAY_INPUT=decay_input, BLOCK=block)
    return out


@_li_forward.register_fake
def _(x, v0, beta, decay_input):
    return x.new_empty(x.shape, dtype=torch.float32)


@torch.library.custom_op("snnkit::triton_li_backward", mutates_args=())
def _li_backward(g: Tensor, out: Tensor, x: Tensor, v0: Tensor, beta: Tensor, decay_input: bool,
                 need_beta: bool) -> tuple[Tensor, Tensor, Tensor]:
    T, N = out.shape
    gx = torch.empty_like(x)
    gv0, gbeta = torch.zeros(N, device=out.device), torch.zeros(N, device=out.device)
    grid, block = _launch(N, out.device)
    _k().li_backward[grid](g, out, x, v0, beta, gx, gv0, gbeta, T, N, DECAY_INPUT=decay_input,
                           NEED_BETA=need_beta, BLOCK=block)
    return gx, gv0, gbeta


@_li_backward.register_fake
def _(g, out, x, v0, beta, decay_input, need_beta):
    N = out.shape[1]
    return torch.empty_like(x), out.new_empty(N, dtype=torch.float32), out.new_empty(N, dtype=torch.float32)


@torch.library.custom_op("snnkit::triton_izhikevich_forward", mutates_args=())
def _izh_forward(x: Tensor, v0: Tensor, u0: Tensor, dta: Tensor, b: Tensor, c: Tensor, d: Tensor, dt: float,
                 input_scale: float, v_peak: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    T, N = x.shape
    s, w = torch.empty_like(x), torch.empty((T, N), dtype=torch.float32, device=x.device)
    v, u = torch.empty_like(v0), torch.empty_like(u0)
    grid, block = _launch(N, x.device)
    _k().izhikevich_forward[grid](x, v0, u0, dta, b, c, d, s, w, v, u, T, N, dt, input_scale, v_peak, BLOCK=block)
    return s, w, v, u


@_izh_forward.register_fake
def _(x, v0, u0, dta, b, c, d, dt, input_scale, v_peak):
    return torch.empty_like(x), x.new_empty(x.shape, dtype=torch.float32), torch.empty_like(v0), torch.empty_like(u0)


@torch.library.custom_op("snnkit::triton_izhikevich_backward", mutates_args=())
def _izh_backward(gs: Tensor, gv: Tensor, gu: Tensor, w: Tensor, x: Tensor, v0: Tensor, dta: Tensor, b: Tensor,
                  c: Tensor, d: Tensor, dt: float, input_scale: float, v_peak: float, alpha: float, detach: bool,
                  surrogate: int, has_gs: bool, has_gv: bool, has_gu: bool) -> tuple[Tensor, Tensor, Tensor]:
    T, N = w.shape
    gx = torch.empty_like(x)
    gv0, gu0 = torch.zeros(N, device=w.device), torch.zeros(N, device=w.device)
    grid, block = _launch(N, w.device)
    _k().izhikevich_backward[grid](gs, gv, gu, w, v0, dta, b, c, d, gx, gv0, gu0, T, N, dt, input_scale, v_peak,
                                   alpha, DETACH=detach, SURROGATE=surrogate, HAS_GS=has_gs, HAS_GV=has_gv,
                                   HAS_GU=has_gu, BLOCK=block)
    return gx, gv0, gu0


@_izh_backward.register_fake
def _(gs, gv, gu, w, x, *args):
    N = w.shape[1]
    return torch.empty_like(x), w.new_empty(N), w.new_empty(N)


# ------------------------------------------------------------------ autograd wrappers


def _grad_or_empty(g: Tensor | None, like: Tensor) -> tuple[Tensor, bool]:
    return (like.new_zeros(1), False) if g is None else (g.reshape(like.shape).contiguous(), True)


class _TritonLIF(torch.autograd.Function):
    """LIF, IF and (``adapt``) ALIF. Inputs: x ``[T, ...]``, v0 and a0 ``[...]``, beta, th, rho, ba
    broadcastable parameters."""

    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, a0: Tensor, beta: Tensor, th: Tensor, rho: Tensor, ba: Tensor,  # type: ignore[override]
                p: LIFParameters, adapt: bool):
        shape = xs.shape
        neuron = shape[1:]
        x2 = xs.reshape(shape[0], -1).contiguous()
        flat = [_flat(t, neuron) for t in (v0, beta, th)]
        extra = [_flat(t, neuron) for t in (a0, rho, ba)] if adapt else [x2.new_zeros(1, dtype=torch.float32) for _ in range(3)]
        s, h, a_prev, v, a = _lif_forward(x2, flat[0], flat[1], flat[2], extra[0], extra[1], extra[2],
                                          RESET_IDS[p.reset], float(p.v_reset), p.decay_input, adapt)
        need_beta = ctx.needs_input_grad[3]
        ctx.save_for_backward(h, a_prev, x2 if need_beta and p.decay_input else None, *flat, *extra)
        ctx.p, ctx.adapt = p, adapt
        ctx.shapes = (shape, v0.shape, a0.shape, beta.shape, th.shape, rho.shape, xs.dtype, v0.dtype)
        out_v = v.reshape(neuron)
        return s.reshape(shape), out_v, a.reshape(neuron) if adapt else out_v.new_empty(0)

    @staticmethod
    def backward(ctx, g_s: Tensor, g_v: Tensor, g_a: Tensor):  # type: ignore[override]
        h, a_prev, x2, v0, beta, th, a0, rho, ba = ctx.saved_tensors
        p: LIFParameters = ctx.p
        shape, v0_shape, a0_shape, beta_shape, th_shape, rho_shape, x_dtype, v_dtype = ctx.shapes
        need = ctx.needs_input_grad
        gs, has_gs = _grad_or_empty(g_s, h)
        gv, has_gv = _grad_or_empty(g_v, v0)
        ga, has_ga = _grad_or_empty(g_a if ctx.adapt else None, v0)
        x_arg = x2 if x2 is not None else h.new_zeros(1, dtype=x_dtype)
        gx, gv0, ga0, gbeta, gth, grho = _lif_backward(
            gs, gv, ga, h, a_prev, x_arg, v0, beta, th, rho, ba, RESET_IDS[p.reset], float(p.v_reset),
            p.decay_input, p.detach_reset, SURROGATE_IDS[p.surrogate.name], float(p.surrogate.alpha), ctx.adapt,
            has_gs, has_gv, has_ga, bool(need[3]))
        neuron = shape[1:]
        out: list[Tensor | None] = [gx.reshape(shape).to(x_dtype),
                                    reduce_to(gv0.reshape(neuron), v0_shape).to(v_dtype) if need[1] else None,
                                    reduce_to(ga0.reshape(neuron), a0_shape) if need[2] and ctx.adapt else None,
                                    reduce_to(gbeta.reshape(neuron), beta_shape) if need[3] else None,
                                    reduce_to(gth.reshape(neuron), th_shape) if need[4] else None,
                                    reduce_to(grho.reshape(neuron), rho_shape) if need[5] and ctx.adapt else None,
                                    None, None, None]
        return tuple(out)


class _TritonLI(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, beta: Tensor, decay_input: bool):  # type: ignore[override]
        shape = xs.shape
        x2 = xs.reshape(shape[0], -1).contiguous()
        v0f, bf = _flat(v0, shape[1:]), _flat(beta, shape[1:])
        out = _li_forward(x2, v0f, bf, decay_input)
        ctx.decay_input, ctx.shapes = decay_input, (shape, v0.shape, beta.shape, v0.dtype)
        ctx.save_for_backward(out, x2, v0f, bf)
        return out.reshape(shape)

    @staticmethod
    def backward(ctx, g: Tensor):  # type: ignore[override]
        out, x2, v0f, bf = ctx.saved_tensors
        shape, v0_shape, beta_shape, v_dtype = ctx.shapes
        need = ctx.needs_input_grad
        gx, gv0, gbeta = _li_backward(g.reshape(out.shape).contiguous(), out, x2, v0f, bf, ctx.decay_input,
                                      bool(need[2]))
        neuron = shape[1:]
        return (gx.reshape(shape), reduce_to(gv0.reshape(neuron), v0_shape).to(v_dtype) if need[1] else None,
                reduce_to(gbeta.reshape(neuron), beta_shape) if need[2] else None, None)


class _TritonIzhikevich(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, u0: Tensor, p: IzhikevichParameters):  # type: ignore[override]
        shape = xs.shape
        neuron = shape[1:]
        x2 = xs.reshape(shape[0], -1).contiguous()
        per_neuron = [_flat(torch.as_tensor(q, dtype=torch.float32, device=xs.device), neuron)
                      for q in (p.dt * p.a, p.b, p.c, p.d)]
        v0f, u0f = _flat(v0, neuron), _flat(u0, neuron)
        s, w, v, u = _izh_forward(x2, v0f, u0f, *per_neuron, float(p.dt), float(p.input_scale), float(p.v_peak))
        ctx.save_for_backward(w, x2, v0f, *per_neuron)
        ctx.p, ctx.shapes = p, (shape, v0.shape, u0.shape, v0.dtype, u0.dtype)
        return s.reshape(shape), v.reshape(neuron), u.reshape(neuron)

    @staticmethod
    def backward(ctx, g_s: Tensor, g_v: Tensor, g_u: Tensor):  # type: ignore[override]
        w, x2, v0f, dta, b, c, d = ctx.saved_tensors
        p: IzhikevichParameters = ctx.p
        shape, v0_shape, u0_shape, v_dtype, u_dtype = ctx.shapes
        gs, has_gs = _grad_or_empty(g_s, w)
        gv, has_gv = _grad_or_empty(g_v, v0f)
        gu, has_gu = _grad_or_empty(g_u, v0f)
        gx, gv0, gu0 = _izh_backward(gs, gv, gu, w, x2, v0f, dta, b, c, d, float(p.dt), float(p.input_scale),
                                     float(p.v_peak), float(p.surrogate.alpha), p.detach_reset,
                                     SURROGATE_IDS[p.surrogate.name], has_gs, has_gv, has_gu)
        neuron = shape[1:]
        need = ctx.needs_input_grad
        return (gx.reshape(shape), reduce_to(gv0.reshape(neuron), v0_shape).to(v_dtype) if need[1] else None,
                reduce_to(gu0.reshape(neuron), u0_shape).to(u_dtype) if need[2] else None, None)


# ------------------------------------------------------------------ entry points (dispatcher)


def _state_like(xs: Tensor) -> Tensor:
    return torch.zeros(xs.shape[1:], dtype=torch.float32, device=xs.device)


def _f32(xs: Tensor) -> Tensor:
    """A float32 tensor on ``xs``'s device: the ``like`` for parameters (state and math are float32)."""
    return xs.new_empty((), dtype=torch.float32)


def supports_lif(p: LIFParameters) -> bool:
    return p.surrogate.name in SURROGATE_IDS


def lif_multistep_triton(xs: Tensor, v0: Tensor | None, p: LIFParameters) -> tuple[Tensor, Tensor]:
    """Triton equivalent of :func:`snnkit.functional.lif_multistep`: ``(spikes, v_last)`` (v_last float32)."""
    v0 = _state_like(xs) if v0 is None else v0
    like = _f32(xs)
    unused = [like.new_empty(0) for _ in range(3)]   # a0, rho, ba: ALIF only (distinct: dynamo wants no aliases)
    s, v, _ = _TritonLIF.apply(xs, v0, unused[0], p.beta(like), p.threshold(like), unused[1], unused[2], p, False)
    return s, v


def alif_multistep_triton(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: ALIFParameters
                          ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    v0, a0 = (_state_like(xs), _state_like(xs)) if state is None else state
    like = _f32(xs)
    rho = decay(p.tau_adapt, p.lif.dt, p.lif.method, "tau_adapt").to(like.device, like.dtype)
    ba = torch.as_tensor(p.beta_adapt, dtype=torch.float32, device=xs.device)
    s, v, a = _TritonLIF.apply(xs, v0, a0, p.lif.beta(like), p.lif.threshold(like), rho, ba, p.lif, True)
    return s, (v, a)


def li_multistep_triton(xs: Tensor, v0: Tensor | None, p: LIParameters) -> tuple[Tensor, Tensor]:
    """Triton equivalent of :func:`snnkit.functional.li_multistep` (membranes in float32)."""
    v0 = _state_like(xs) if v0 is None else v0
    vs = _TritonLI.apply(xs, v0, p.beta(_f32(xs)), p.decay_input)
    return vs, vs[-1]


def cuba_lif_multistep_triton(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: CubaLIFParameters
                              ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    i0, v0 = (_state_like(xs), _state_like(xs)) if state is None else state
    currents = _TritonLI.apply(xs, i0, p.syn_decay(_f32(xs)), False)
    spikes, v = lif_multistep_triton(currents, v0, p.lif)
    return spikes.to(xs.dtype), (currents[-1], v)


def izhikevich_multistep_triton(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: IzhikevichParameters
                                ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    v0, u0 = p.initial_state(_state_like(xs)) if state is None else state
    s, v, u = _TritonIzhikevich.apply(xs, v0, u0, p)
    return s, (v, u)
