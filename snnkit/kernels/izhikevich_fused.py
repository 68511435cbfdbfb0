"""Fused multi-step Izhikevich neurons: one autograd node for the whole sequence.

Forward keeps one float per neuron and step, the membrane before the reset ``w[t]`` (the recovery ``u``
enters every update linearly, so backward never needs it). Backward recomputes spikes, post-reset
membranes and surrogate derivatives for all steps, then runs the adjoint recurrence::

    g_w      = g_v[t] * (1 - s) + g_s * sg                 (g_s includes the reset unless detached)
    g_v[t-1] = g_w * (1 + dt (0.08 v[t-1] + 5)) + g_u[t] * dt a b
    g_u[t-1] = -dt g_w + g_u[t] * (1 - dt a)
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..functional.izhikevich import IzhikevichParameters
from .lif_fused import reduce_to


def _euler(x: Tensor, v: Tensor, u: Tensor, p: IzhikevichParameters) -> tuple[Tensor, Tensor]:
    # the expressions of snnkit.functional.izhikevich_step, in the same order (same rounding)
    v_new = v + p.dt * (0.04 * v * v + 5 * v + 140 - u + p.input_scale * x)
    u_new = u + p.dt * p.a * (p.b * v - u)
    return v_new, u_new


class _FusedIzhikevich(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, u0: Tensor, p: IzhikevichParameters):  # type: ignore[override]
        w_all = torch.empty_like(xs)
        v, u = v0, u0
        for t, x in enumerate(xs.unbind(0)):
            w, u_new = _euler(x, v, u, p)
            w_all[t] = w
            s = (w > p.v_peak).to(w.dtype)
            v = w * (1 - s) + p.c * s
            u = u_new + p.d * s
        ctx.p, ctx.u0_shape = p, u0.shape
        ctx.save_for_backward(w_all, v0)
        return (w_all > p.v_peak).to(xs.dtype), v, u

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vlast: Tensor, g_ulast: Tensor):  # type: ignore[override]
        w_all, v0 = ctx.saved_tensors
        p: IzhikevichParameters = ctx.p
        s = (w_all > p.v_peak).to(w_all.dtype)
        sg = p.surrogate.derivative(w_all - p.v_peak)
        v_post = w_all[:-1] * (1 - s[:-1]) + p.c * s[:-1]
        v_prev = torch.cat([v0.expand_as(w_all[:1]), v_post])
        dw_dv = 1 + p.dt * (0.08 * v_prev + 5)
        keep = 1 - s
        g_reset = None if p.detach_reset else p.c - w_all       # d v[t] / d s (the reset's gradient)
        zeros = torch.zeros_like(w_all[0])
        g_v = zeros if g_vlast is None else g_vlast
        g_u = zeros if g_ulast is None else g_ulast
        g_out = torch.zeros_like(w_all) if g_spikes is None else g_spikes
        dta, dtab = p.dt * p.a, p.dt * p.a * p.b
        g_w = torch.empty_like(w_all)
        for t in range(w_all.shape[0] - 1, -1, -1):
            g_s = g_out[t] if g_reset is None else g_out[t] + g_v * g_reset[t] + g_u * p.d
            torch.addcmul(g_v * keep[t], g_s, sg[t], out=g_w[t])
            g_v, g_u = g_w[t] * dw_dv[t] + g_u * dtab, g_u * (1 - dta) - p.dt * g_w[t]
        g_x = g_w * (p.dt * p.input_scale)
        need = ctx.needs_input_grad
        return (g_x, reduce_to(g_v, v0.shape) if need[1] else None,
                reduce_to(g_u, ctx.u0_shape) if need[2] else None, None)


def supports(p: IzhikevichParameters) -> bool:
    """The fused engine differentiates ``x`` and the state; learnable ``a, b, c, d`` take the reference path."""
    return not any(isinstance(v, Tensor) and v.requires_grad for v in (p.a, p.b, p.c, p.d))


def izhikevich_multistep_fused(xs: Tensor, state: tuple[Tensor, Tensor] | None, p: IzhikevichParameters
                               ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
    """Fused equivalent of :func:`snnkit.functional.izhikevich_multistep`: ``(spikes, (v, u))``."""
    v0, u0 = p.initial_state(xs[0]) if state is None else state
    spikes, v, u = _FusedIzhikevich.apply(xs, v0, u0, p)
    return spikes, (v, u)
