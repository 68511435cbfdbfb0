"""Fused multi-step leaky integrator (LI): one autograd node for the whole sequence.

``v[t] = beta * v[t-1] + c * x[t]`` with ``c = 1 - beta`` (decay_input) or 1. The backward pass is the
reverse linear scan ``g_v[t-1] = beta * (g_out[t-1] + g_v[t])``. Also the synaptic current of CUBA-LIF.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..functional.li import LIParameters
from .lif_fused import reduce_to, integrate_into


class _FusedLI(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, beta: Tensor, decay_input: bool):  # type: ignore[override]
        vs = torch.empty_like(xs)
        v = v0
        for t, x in enumerate(xs.unbind(0)):
            v = integrate_into(vs[t], x, v, beta, decay_input)
        ctx.decay_input = decay_input
        need_beta = ctx.needs_input_grad[2]
        ctx.save_for_backward(vs if need_beta else None, v0, beta, xs if need_beta and decay_input else None)
        return vs

    @staticmethod
    def backward(ctx, g_vs: Tensor):  # type: ignore[override]
        vs, v0, beta, xs = ctx.saved_tensors
        g_h = torch.empty_like(g_vs)
        g = torch.zeros_like(g_vs[0])
        for t in range(g_vs.shape[0] - 1, -1, -1):   # g_h[t] = g_out[t] + beta * g_h[t+1]
            torch.addcmul(g_vs[t], g, beta, out=g_h[t])
            g = g_h[t]
        g_x = g_h * (1 - beta) if ctx.decay_input else g_h
        g_v0 = reduce_to(g_h[0] * beta, v0.shape) if ctx.needs_input_grad[1] else None
        g_beta = None
        if ctx.needs_input_grad[2]:
            v_prev = torch.cat([v0.expand_as(vs[:1]), vs[:-1]])
            g_beta = reduce_to(g_h * (v_prev - xs if ctx.decay_input else v_prev), beta.shape)
        return g_x, g_v0, g_beta, None


def leaky_scan(xs: Tensor, v0: Tensor, beta: Tensor, decay_input: bool) -> Tensor:
    """All membranes ``[T, B, ...]`` of ``v[t] = beta v[t-1] + c x[t]`` (one autograd node)."""
    return _FusedLI.apply(xs, v0, beta, decay_input)


def li_multistep_fused(xs: Tensor, v0: Tensor | None, p: LIParameters) -> tuple[Tensor, Tensor]:
    """Fused equivalent of :func:`snnkit.functional.li_multistep`: ``(membranes, final membrane)``."""
    v0 = torch.zeros_like(xs[0]) if v0 is None else v0
    vs = leaky_scan(xs, v0, p.beta(xs), p.decay_input)
    return vs, vs[-1]
