"""Fused multi-step LIF/IF: one autograd node for the whole sequence.

Forward runs the recurrence without building a graph and keeps a single float per neuron and step:
the pre-reset membrane ``h``. Spikes, post-reset membranes and surrogate derivatives are recomputed
from ``h`` in backward, where everything that does not depend on the recurrence is computed for all
steps at once and only the linear scan ``gV[t-1] = beta * (a[t] + gV[t] * A[t])`` stays sequential.
Works on any device (CPU and CUDA run the same code).
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..functional.lif import LIFParameters, reset_membrane


def reduce_to(grad: Tensor, shape: torch.Size) -> Tensor:
    """Sum ``grad`` ([T, B, ...]) down to a broadcastable parameter ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.dim() - len(shape)
    g = grad.sum(dim=tuple(range(lead))) if lead > 0 else grad
    dims = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return (g.sum(dim=dims, keepdim=True) if dims else g).reshape(shape)


def integrate_into(out: Tensor, x: Tensor, v: Tensor, beta: Tensor, decay_input: bool) -> Tensor:
    """:func:`snnkit.functional.lif.integrate` written into ``out`` (no temporary per step)."""
    torch.mul(v, beta, out=out)
    return out.addcmul_(x, 1 - beta) if decay_input else out.add_(x)


class _FusedLIF(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xs: Tensor, v0: Tensor, beta: Tensor, th: Tensor, p: LIFParameters):  # type: ignore[override]
        h_all = torch.empty_like(xs)
        v = v0
        for t, x in enumerate(xs.unbind(0)):
            h = integrate_into(h_all[t], x, v, beta, p.decay_input)
            v = reset_membrane(h, h > th, th, p)
        spikes = (h_all > th).to(xs.dtype)
        ctx.p = p
        # decay_input with a learnable beta also needs the inputs: d h / d beta = v - x
        keep_x = p.decay_input and ctx.needs_input_grad[2]
        ctx.save_for_backward(h_all, v0, beta, th, xs if keep_x else None)
        return spikes, v

    @staticmethod
    def backward(ctx, g_spikes: Tensor, g_vlast: Tensor):  # type: ignore[override]
        h_all, v0, beta, th, xs = ctx.saved_tensors
        p: LIFParameters = ctx.p
        s = (h_all > th).to(h_all.dtype)
        sg = p.surrogate.derivative(h_all - th)
        a = g_spikes * sg                       # direct gradient into h from the spike output
        # A = dv/dh and dv/dth at every step (zero-cost for reset="none")
        if p.reset == "hard":
            A = 1 - s if p.detach_reset else (1 - s) + (p.v_reset - h_all) * sg
            dv_dth = None if p.detach_reset else -(p.v_reset - h_all) * sg
        elif p.reset == "subtract":
            A = None if p.detach_reset else 1 - th * sg
            dv_dth = -s if p.detach_reset else th * sg - s
        else:
            A, dv_dth = None, None
        g_h = torch.empty_like(h_all)
        g_v = g_vlast if g_vlast is not None else torch.zeros_like(h_all[0])
        T = h_all.shape[0]
        for t in range(T - 1, -1, -1):
            if A is None:
                torch.add(a[t], g_v, out=g_h[t])
            else:
                torch.addcmul(a[t], g_v, A[t], out=g_h[t])
            g_v = g_h[t] * beta
        # g_v[t] seen by step t (grad into post-reset v[t]) = beta * g_h[t+1], with g_vlast at the end
        g_x = g_h * (1 - beta) if p.decay_input else g_h
        g_beta = g_th = None
        if ctx.needs_input_grad[2]:
            v_post = reset_membrane(h_all[:-1], s[:-1], th, p)
            v_prev = torch.cat([v0.expand_as(h_all[:1]), v_post]) if T > 1 else v0.expand_as(h_all[:1])
            contrib = g_h * (v_prev - xs) if p.decay_input else g_h * v_prev
            g_beta = reduce_to(contrib, beta.shape)
        if ctx.needs_input_grad[3]:
            g_post = torch.cat([g_h[1:] * beta, (g_vlast if g_vlast is not None
                                                   else torch.zeros_like(h_all[0])).unsqueeze(0)])
            total = -a
            if dv_dth is not None:
                total = total + g_post * dv_dth
            g_th = reduce_to(total, th.shape)
        return g_x, g_v, g_beta, g_th, None


def lif_multistep_fused(xs: Tensor, v0: Tensor | None, p: LIFParameters) -> tuple[Tensor, Tensor]:
    """Fused equivalent of :func:`snnkit.functional.lif_multistep` (spikes, last membrane)."""
    v0 = torch.zeros_like(xs[0]) if v0 is None else v0
    beta, th = p.beta(xs), p.threshold(xs)
    return _FusedLIF.apply(xs, v0, beta, th, p)
