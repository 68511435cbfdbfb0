"""Fast engines of delayed synapses (the definitions are in :mod:`snnkit.functional.delays`).

* :class:`_GaussianKernel`: the normalised Gaussian kernel with a hand-written backward.
* :class:`_SpectralDelayConv`: the causal convolution in the frequency domain as real GEMMs:
  zero-padded DFTs (cached matrices) turn the T x D tap products into ~2 (T + D) small channel-mixing
  GEMMs, about 10x fewer flops than the dense convolution DCLS runs, for any sigma.
* :class:`_DelayConv`: the direct form (tap GEMMs over time chunks of a strided unfolded view,
  hand-written backward), for very long sequences and as a second implementation for tests.

:func:`delay_kernel` and :func:`delayed_linear` pick among them.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor

from .. import _checks
from .._compat import renamed_keyword
from ..functional.delays import NORM_EPS, Interpolation, triangle_kernel

ALGORITHMS = ("auto", "spectral", "direct")
_CHUNK_ELEMENTS = 1 << 22  # unfolded elements per chunk (16 MB in float32)


class _GaussianKernel(torch.autograd.Function):
    """Normalised Gaussian kernel ``w * e / (sum_k e + eps)``, ``e = exp(-(k - d)^2 / (2 sigma^2))``, built
    tap-major (memory ``[D, in, out]``, returned as an ``[out, in, D]`` view, the layout the spectral
    path reads without a copy) with a hand-written backward that keeps two kernel-sized tensors
    instead of the dozen intermediates autograd would:
    ``dL/dw = A / S``, ``dL/dd = w / (S sigma^2) * (B - A C / S)`` with ``A = sum G e``,
    ``B = sum G e (k - d)``, ``C = sum e (k - d)``, ``S = sum e + eps``."""

    @staticmethod
    def forward(ctx, weight: Tensor, delays: Tensor, D: int, sigma: float) -> Tensor:  # type: ignore[override]
        taps = torch.arange(D, device=delays.device, dtype=delays.dtype).view(D, 1, 1)
        dist = taps - delays.t().contiguous().unsqueeze(0)  # [D, in, out], contiguous (fast tap sums)
        e = dist.square().mul_(-0.5 / sigma ** 2).exp_()
        s = e.sum(0).add_(NORM_EPS)
        c = dist.mul_(e).sum(0)  # dist is recomputed in backward: keeps one kernel-sized tensor saved
        # Few, large elementwise passes: on a busy machine each costs a thread wake-up.
        ctx.save_for_backward(weight, delays, e, s, c)
        ctx.sigma = sigma
        return (e * (weight.t() / s).unsqueeze(0)).permute(2, 1, 0)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        weight, delays, e, s, c = ctx.saved_tensors
        ge = grad.permute(2, 1, 0) * e
        a = ge.sum(0)
        grad_w = (a / s).t() if ctx.needs_input_grad[0] else None
        grad_d = None
        if ctx.needs_input_grad[1]:
            taps = torch.arange(e.shape[0], device=e.device, dtype=e.dtype).view(-1, 1, 1)
            b = ge.mul_(taps - delays.t().contiguous().unsqueeze(0)).sum(0)
            grad_d = (weight.t() / (s * ctx.sigma ** 2) * (b - a * c / s)).t()
        return grad_w, grad_d, None, None


def delay_kernel(weight: Tensor, delays: Tensor, max_delay: int, sigma: float | Tensor,
                 interpolation: Interpolation = "gaussian") -> Tensor:
    """Per-synapse temporal kernel ``[out, in, max_delay]``; tap ``k`` multiplies ``x[t - k]``.

    ``gaussian``: ``exp(-(k - d)^2 / (2 sigma^2))`` normalised over the taps; ``triangle``: linear
    interpolation between the two integer taps around ``d`` (``max(0, 1 - |k - d|)``, normalised).
    The Gaussian runs :class:`_GaussianKernel` (equal to :func:`snnkit.functional.delays.gaussian_kernel`).
    """
    _checks.one_of("interpolation", interpolation, ("gaussian", "triangle"))
    if interpolation == "gaussian":
        sigma_f = float(sigma)
        _checks.positive("sigma", sigma_f)
        return _GaussianKernel.apply(weight, delays.to(weight.dtype), max_delay, sigma_f)
    return triangle_kernel(weight, delays, max_delay)


def _unfolded_rows(x_pad: Tensor, t0: int, t1: int, taps: int) -> Tensor:
    """Rows ``[(t1 - t0) * B, taps * I]`` with row ``(t, b)`` = ``x_pad[t0 + t + j, b, :]`` for
    ``j = 0..taps-1``: a strided view of the contiguous padded input, copied once by ``reshape``."""
    _, B, I = x_pad.shape
    view = x_pad.as_strided((t1 - t0, B, taps, I), (B * I, I, B * I, 1), x_pad.storage_offset() + t0 * B * I)
    return view.reshape((t1 - t0) * B, taps * I)


def _chunk_len(B: int, I: int, taps: int, steps: int) -> int:
    return max(1, min(steps, _CHUNK_ELEMENTS // max(1, B * I * taps)))


class _DelayConv(torch.autograd.Function):
    """``y[t] = sum_k x[t - k] @ kernel[:, :, k].T`` for ``t < T + extra``; x is zero outside ``[0, T)``."""

    @staticmethod
    def forward(ctx, x: Tensor, kernel: Tensor, extra: int) -> Tensor:  # type: ignore[override]
        T, B, I = x.shape
        O, _, D = kernel.shape
        T_out = T + extra
        # Row (j, i) of the stacked weight is tap k = D - 1 - j: unfolded window j = 0 is x[t - (D-1)].
        w_stack = kernel.flip(-1).permute(2, 1, 0).reshape(D * I, O).contiguous()
        x_pad = torch.nn.functional.pad(x, (0, 0, 0, 0, D - 1, extra)).contiguous()
        y = x.new_empty(T_out, B, O)
        step = _chunk_len(B, I, D, T_out)
        y_rows = y.view(T_out * B, O)
        for t0 in range(0, T_out, step):
            t1 = min(T_out, t0 + step)
            torch.mm(_unfolded_rows(x_pad, t0, t1, D), w_stack, out=y_rows[t0 * B:t1 * B])
        ctx.save_for_backward(x_pad, w_stack)
        ctx.shape = (T, B, I, O, D, extra)
        return y

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x_pad, w_stack = ctx.saved_tensors
        T, B, I, O, D, extra = ctx.shape
        T_out = T + extra
        g_rows = grad_y.contiguous().view(T_out * B, O)
        grad_x = grad_k = None
        step = _chunk_len(B, I, D, T_out)
        if ctx.needs_input_grad[1]:
            g_stack = torch.zeros_like(w_stack)
            for t0 in range(0, T_out, step):
                t1 = min(T_out, t0 + step)
                g_stack.addmm_(_unfolded_rows(x_pad, t0, t1, D).t(), g_rows[t0 * B:t1 * B])
            grad_k = g_stack.view(D, I, O).permute(2, 1, 0).flip(-1)
        if ctx.needs_input_grad[0]:
            # grad of x_pad[s] = sum_j grad_y[s - j] @ w_j.T: one GEMM per tap straight into a
            # contiguous time slice of the padded gradient (no unfolded gradient buffer).
            gx_pad = torch.zeros_like(x_pad)
            gx_rows = gx_pad.view(-1, I)
            for j in range(D):
                w_j = w_stack[j * I:(j + 1) * I]  # [I, O]
                gx_rows[j * B:(j + T_out) * B].addmm_(g_rows, w_j.t())
            grad_x = gx_pad[D - 1:D - 1 + T]
        return grad_x, grad_k, None


_DFT_CACHE: dict[tuple, tuple[Tensor, ...]] = {}


def _dft_matrices(T: int, D: int, T_out: int, N: int, dtype: torch.dtype, device: torch.device):
    """Real DFT matrices of length ``N``: forward for x (``[2F, T]``, rows (f, re/im) interleaved) and
    for the kernel (``[2F, D]``: all real rows, then all imaginary rows), and the two inverse maps that
    turn the products back into ``y [T_out]``."""
    key = (T, D, T_out, N, dtype, device)
    hit = _DFT_CACHE.get(key)
    if hit is not None:
        return hit
    F = N // 2 + 1
    f = torch.arange(F, dtype=torch.float64)

    def forward_rows(L: int) -> Tensor:  # rows (f, re) = cos, (f, im) = -sin, interleaved
        ang = 2 * math.pi * torch.outer(f, torch.arange(L, dtype=torch.float64)) / N
        return torch.stack([ang.cos(), -ang.sin()], 1).reshape(2 * F, L)

    ck = forward_rows(D).view(F, 2, D)
    ang = 2 * math.pi * torch.outer(torch.arange(T_out, dtype=torch.float64), f) / N
    scale = torch.full((F,), 2.0 / N, dtype=torch.float64)
    scale[0] = 1.0 / N
    if N % 2 == 0:
        scale[-1] = 1.0 / N
    cr, ci = scale * ang.cos(), -scale * ang.sin()
    mats = (forward_rows(T), torch.cat([ck[:, 0], ck[:, 1]]),
            torch.stack([cr, ci], -1).reshape(T_out, 2 * F), torch.stack([ci, -cr], -1).reshape(T_out, 2 * F))
    out = tuple(m.to(dtype=dtype, device=device).contiguous() for m in mats)
    if len(_DFT_CACHE) > 32:
        _DFT_CACHE.clear()
    _DFT_CACHE[key] = out
    return out


class _SpectralDelayConv(torch.autograd.Function):
    """The same causal convolution in the frequency domain, all as real GEMMs.

    Zero-padding time to ``N = max(T + D - 1, T_out)`` makes the circular convolution equal the linear
    one on the first ``T_out`` steps. Per frequency the channel mixing is a complex ``[B, in] x
    [in, out]`` product done as two real batched GEMMs (real and imaginary rows of x stacked), so the
    work is ~2N small GEMMs instead of T * D for the direct convolution (about 10x fewer flops on the
    SHD shape); the DFTs are matmuls with cached matrices. Only ``x`` and the tap-major kernel are
    saved; the backward recomputes the spectra and handles one half (real/imaginary kernel part) at a
    time, so peak memory stays near that of the input and output.
    """

    @staticmethod
    def forward(ctx, x: Tensor, k_taps: Tensor, extra: int) -> Tensor:  # type: ignore[override]
        T, B, I = x.shape
        D = k_taps.shape[0]
        O = k_taps.shape[1] // I
        T_out = T + extra
        N = max(T + D - 1, T_out)
        F = N // 2 + 1
        cx, ck, inv_p, inv_q = _dft_matrices(T, D, T_out, N, x.dtype, x.device)
        xs = (cx @ x.reshape(T, B * I)).view(F, 2 * B, I)  # [F, (re | im) x B, I]
        k_spec = (ck @ k_taps).view(2, F, I, O)  # real and imaginary kernel spectra, one GEMM
        y = x.new_zeros(T_out, B * O)
        for f0, f1 in _freq_chunks(F, B * O):
            for half, inv in enumerate((inv_p, inv_q)):
                part = torch.bmm(xs[f0:f1], k_spec[half, f0:f1])
                y.addmm_(inv[:, 2 * f0:2 * f1], part.view(2 * (f1 - f0), B * O))
                del part  # free before the next product is allocated
        ctx.save_for_backward(x, k_taps)
        ctx.dims = (T, B, I, O, D, T_out, N)
        return y.view(T_out, B, O)

    @staticmethod
    def backward(ctx, grad_y: Tensor):  # type: ignore[override]
        x, k_taps = ctx.saved_tensors
        T, B, I, O, D, T_out, N = ctx.dims
        F = N // 2 + 1
        cx, ck, inv_p, inv_q = _dft_matrices(T, D, T_out, N, x.dtype, x.device)
        need_x, need_k = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        g = grad_y.reshape(T_out, B * O)
        g_taps = grad_x = None
        # Kernel gradient first, then input gradient: the x spectrum and the input-gradient spectrum are
        # never alive together (one extra inverse-DFT GEMM per half buys ~20 % lower peak memory).
        if need_k:
            xs = (cx @ x.reshape(T, B * I)).view(F, 2 * B, I)
            g_taps = k_taps.new_zeros(D, I * O)
            for half, inv in enumerate((inv_p, inv_q)):
                ck_half = ck[half * F:(half + 1) * F]
                g_half = k_taps.new_empty(F, I, O)
                for f0, f1 in _freq_chunks(F, B * O):
                    g_part = (inv[:, 2 * f0:2 * f1].t() @ g).view(f1 - f0, 2 * B, O)
                    torch.bmm(xs[f0:f1].transpose(1, 2), g_part, out=g_half[f0:f1])
                    del g_part
                g_taps.addmm_(ck_half.t(), g_half.view(F, I * O))
                del g_half
            del xs
        if need_x:
            g_xs = x.new_empty(F, 2 * B, I)
            for half, inv in enumerate((inv_p, inv_q)):
                k_half = (ck[half * F:(half + 1) * F] @ k_taps).view(F, I, O)
                for f0, f1 in _freq_chunks(F, B * O):
                    g_part = (inv[:, 2 * f0:2 * f1].t() @ g).view(f1 - f0, 2 * B, O)
                    k_part = k_half[f0:f1].transpose(1, 2)
                    if half == 0:
                        torch.bmm(g_part, k_part, out=g_xs[f0:f1])
                    else:
                        g_xs[f0:f1].baddbmm_(g_part, k_part)
                    del g_part
                del k_half
            grad_x = (cx.t() @ g_xs.view(2 * F, B * I)).view(T, B, I)
        return grad_x, g_taps, None


def _freq_chunks(F: int, cols: int) -> list[tuple[int, int]]:
    """Frequency blocks small enough that one ``[2 * block, cols]`` product stays under ~32 MB (float32):
    one block on the DCLS shapes (blocking costs time: the per-block GEMMs are much slower), bounded
    buffers for very wide layers."""
    step = max(1, min(F, (1 << 23) // max(1, 2 * cols)))
    return [(f0, min(F, f0 + step)) for f0 in range(0, F, step)]


def _spectral_delay_conv(x: Tensor, kernel: Tensor, extra: int) -> Tensor:
    O, I, D = kernel.shape
    # [D, in, out] memory: a view for kernels built tap-major (the Gaussian), one small copy otherwise.
    k_taps = kernel.permute(2, 1, 0).reshape(D, I * O)
    return _SpectralDelayConv.apply(x, k_taps, extra)


def _pick_algorithm(T: int, D: int, algorithm: str) -> str:
    if algorithm != "auto":
        return algorithm
    # Spectral: ~2N GEMMs plus O(T^2) DFT matmuls; direct: T * D tap GEMMs.
    return "spectral" if D >= 4 and T <= 4096 else "direct"


def delayed_linear(x: Tensor, kernel: Tensor, extra_steps: int = 0, bias: Tensor | None = None,
                   algorithm: str = "auto", *, method: str | None = None) -> Tensor:
    """Causal temporal convolution of time-major ``x [T, B, in]`` with ``kernel [out, in, D]``
    (tap ``k`` = delay ``k`` steps). Returns ``[T + extra_steps, B, out]``.

    ``algorithm``: ``"spectral"`` (frequency domain, fastest for the DCLS shapes), ``"direct"`` (tap GEMMs
    over time chunks; exact in float32 summation order) or ``"auto"``. ``method`` is its deprecated name.
    """
    algorithm = renamed_keyword("delayed_linear", "method", "algorithm", method, algorithm)
    _checks.one_of("algorithm", algorithm, ALGORITHMS)
    _checks.time_major("x", x, min_rank=3)
    if x.dim() != 3:
        raise ValueError(f"x must be [T, B, features]; got shape {tuple(x.shape)}")
    if kernel.dim() != 3 or kernel.shape[1] != x.shape[2]:
        raise ValueError(f"kernel must be [out, in={x.shape[2]}, D]; got shape {tuple(kernel.shape)}")
    if not isinstance(extra_steps, int) or extra_steps < 0:
        raise ValueError(f"extra_steps={extra_steps!r} must be an int >= 0")
    kernel = kernel.to(x.dtype)
    if _pick_algorithm(x.shape[0], kernel.shape[2], algorithm) == "spectral":
        y = _spectral_delay_conv(x, kernel, extra_steps)
    else:
        y = _DelayConv.apply(x, kernel, extra_steps)
    return y if bias is None else y + bias


__all__ = ["ALGORITHMS", "delay_kernel", "delayed_linear"]
