"""How the zoo's own parts become NIR nodes (the converters of :mod:`snnkit.ir`, registered by the
package that defines the parts; :func:`snnkit.ir.converter_for` imports this module on first need).

* ``SeqBatchNorm`` (eval mode): a fixed per-feature affine map, ``nir.Affine`` with a diagonal matrix.
* ``RepeatSteps``: direct encoding; the static tensor it repeats is the graph's input stream.
* ``LegendreMemory`` (LMU) and ``DiagonalSSM`` (S4D): linear time-invariant systems, written as an LI
  population with a recurrent ``Linear`` (:func:`snnkit.ir.graph.linear_state_space`); the S4D's complex
  modes become real 2x2 rotation-decay blocks.
* ``WKV`` (RWKV): refused, it divides one signal by another.
"""
from __future__ import annotations

import torch

from ..ir.graph import (ExportContext, Piece, Site, channel_affine, converter_for, linear_state_space,
                        register_converter, register_repeat, weight_node)
from ._common import RepeatSteps, SeqBatchNorm
from .lmu import LegendreMemory
from .recurrent import DiagonalSSM
from .rwkv import WKV


@register_converter(SeqBatchNorm)
def _seq_batch_norm(ctx: ExportContext, m: SeqBatchNorm, site: Site) -> Piece:
    if len(site.in_shape) != 1:
        raise ValueError(f"BatchNorm over the last axis of a per-step tensor of shape {site.in_shape}: NIR's Affine "
                         "maps a vector and its Conv nodes take channels first")
    return converter_for(m.bn)(ctx, m.bn, site)


@register_repeat(RepeatSteps)
def _repeat_steps(m: RepeatSteps) -> int:
    return m.steps


@register_converter(LegendreMemory)
def _legendre_memory(ctx: ExportContext, m: LegendreMemory, site: Site) -> Piece:
    eye = torch.eye(m.channels, dtype=torch.float64)
    A = torch.kron(eye, m.Ad.double())                    # state [channel, order] flattened, as m is
    B = torch.kron(eye, m.Bd.double().reshape(-1, 1))
    return linear_state_space(ctx, site.name, A, B)


@register_converter(DiagonalSSM)
def _diagonal_ssm(ctx: ExportContext, m: DiagonalSSM, site: Site) -> Piece:
    with torch.no_grad():
        dA, dB, C = (t.to(torch.complex128) for t in m.modes())        # [H, N] each
    H, N = dA.shape
    n = H * N * 2                                                        # state (h, mode, re/im)
    i = torch.arange(H * N) * 2
    h = torch.arange(H).repeat_interleave(N)
    a, b, dB, C = dA.real.flatten(), dA.imag.flatten(), dB.flatten(), C.flatten()
    A = torch.zeros(n, n, dtype=torch.float64)                           # x <- dA x: rotation-decay blocks
    A[i, i], A[i, i + 1], A[i + 1, i], A[i + 1, i + 1] = a, -b, b, a
    B = torch.zeros(n, H, dtype=torch.float64)
    B[i, h], B[i + 1, h] = dB.real, dB.imag
    out = torch.zeros(H, n, dtype=torch.float64)                         # y = 2 Re(C x)
    out[h, i], out[h, i + 1] = 2 * C.real, -2 * C.imag
    piece = linear_state_space(ctx, site.name, A, B)
    read, skip = f"{site.name}.out", f"{site.name}.skip"
    piece.nodes[read], piece.nodes[skip] = weight_node(out, None), weight_node(torch.diag(m.D.detach().double()), None)
    piece.edges.append((site.name, read))
    piece.entries.append(skip)
    piece.exits = [read, skip]                                           # y = 2 Re(C x) + D u
    return piece


@register_converter(WKV)
def _wkv(ctx: ExportContext, m: WKV, site: Site) -> Piece:
    raise ValueError("WKV is a decaying weighted average sum(exp(k) v) / sum(exp(k)): the quotient of two signals, "
                     "which no NIR node computes")
