"""Transformers on sequences ``[T, B, F]``: the ``T`` time bins become ``N = T`` tokens.

* Spikformer (Zhou et al., ICLR 2023): spiking self-attention ``SSA = LIF(Q K^T V * scale)`` with spike
  Q, K, V and **no softmax**; BatchNorm; residuals add spikes.
* Spike-driven transformer (Yao et al., NeurIPS 2023): membrane shortcuts (each branch starts with a
  LIF, residuals add membranes), SDSA ``Q * LIF(sum_tokens(K * V))``: masks and additions only.
* ANN twin of both: the same blocks with softmax attention, LayerNorm and GELU (same parameter count).
* MLP-Mixer (Tolstikhin et al., 2021) and its spiking form (LIF for GELU, BatchNorm for LayerNorm). Both
  forms normalise the hidden layer of each MLP before its activation: a LIF fed by a Linear of spikes
  at default initialisation gets currents far below threshold and stays silent (no spikes, no surrogate
  gradient); the norm puts the current on the threshold's scale. The ANN twin has the same norm, so the
  parameter counts stay equal.

Spiking forms present the token sequence for ``sim_steps`` SNN time steps (direct encoding, as both
papers do for static inputs): activity is ``[S, B, N, D]`` and the readout membrane is ``[S, B, C]``.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..analysis import CountedOp, MatMul
from ._common import RepeatSteps, SeqBatchNorm, check_input, check_int, neuron, readout
from .registry import register


def _norm(spiking: bool, dim: int) -> nn.Module:
    return SeqBatchNorm(dim) if spiking else nn.LayerNorm(dim)  # both: 2*dim parameters


class SpikeMaskSum(CountedOp):
    """``sum over tokens of (k * v)`` for spike tensors ``[..., N, D]``: an AND then a column count,
    costing one accumulate per coincident pair of spikes."""

    def forward(self, k: Tensor, v: Tensor) -> Tensor:
        return (k * v).sum(-2, keepdim=True)

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        return 0.0, float(((inputs[0] * inputs[1]) != 0).sum())


class Attention(nn.Module):
    """Multi-head attention in three flavours: ``"softmax"`` (ANN), ``"ssa"`` (Spikformer), ``"sdsa"``."""

    def __init__(self, dim: int, heads: int, kind: str, tau_mem: float = 2.0) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f"dim={dim} must be divisible by heads={heads}")
        self.kind, self.heads, self.scale = kind, heads, (dim // heads) ** -0.5
        spiking = kind != "softmax"
        self.q, self.k, self.v = (nn.Linear(dim, dim) for _ in range(3))
        self.q_norm, self.k_norm, self.v_norm = (_norm(spiking, dim) for _ in range(3))
        self.proj = nn.Linear(dim, dim)
        self.proj_norm = _norm(spiking, dim)
        self.qk, self.av = MatMul(), MatMul()
        if spiking:
            self.q_lif, self.k_lif, self.v_lif = (neuron(True, tau_mem) for _ in range(3))
            self.attn_lif = neuron(True, tau_mem, v_th=0.5)
        if kind == "sdsa":
            self.kv_sum = SpikeMaskSum()

    def _split(self, x: Tensor) -> Tensor:  # [..., N, D] -> [..., H, N, D/H]
        return x.unflatten(-1, (self.heads, -1)).transpose(-3, -2)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "softmax":
            q, k, v = (self._split(n(l(x))) for l, n in ((self.q, self.q_norm), (self.k, self.k_norm),
                                                          (self.v, self.v_norm)))
            a = torch.softmax(self.qk(q, k.transpose(-1, -2)) * self.scale, dim=-1)
            y = self.av(a, v)
        else:
            q, k, v = (self._split(s(n(l(x)))) for l, n, s in ((self.q, self.q_norm, self.q_lif),
                                                                (self.k, self.k_norm, self.k_lif),
                                                                (self.v, self.v_norm, self.v_lif)))
            if self.kind == "ssa":
                # spikes in, no softmax: Q K^T counts coincidences; scaled, then re-spiked
                y = self.attn_lif(self.av(self.qk(q, k.transpose(-1, -2)), v) * self.scale)
            else:
                y = q * self.attn_lif(self.kv_sum(k, v))
        y = y.transpose(-3, -2).flatten(-2)
        return self.proj_norm(self.proj(y))


class Block(nn.Module):
    """One transformer block; ``kind`` selects ANN / Spikformer / spike-driven wiring."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int, kind: str, tau_mem: float) -> None:
        super().__init__()
        spiking = kind != "softmax"
        self.kind = kind
        self.attn = Attention(dim, heads, kind, tau_mem)
        self.fc1, self.fc2 = nn.Linear(dim, dim * mlp_ratio), nn.Linear(dim * mlp_ratio, dim)
        self.norm1, self.norm2 = _norm(spiking, dim * mlp_ratio), _norm(spiking, dim)
        self.act1 = neuron(spiking, tau_mem, activation="gelu")
        if kind == "ssa":
            self.attn_out, self.mlp_out = neuron(True, tau_mem), neuron(True, tau_mem)
        if kind == "sdsa":  # membrane shortcut: branches start with spikes of the real-valued stream
            self.attn_in, self.mlp_in = neuron(True, tau_mem), neuron(True, tau_mem)

    def forward(self, x: Tensor) -> Tensor:
        if self.kind == "softmax":
            x = x + self.attn(x)
            return x + self.norm2(self.fc2(self.act1(self.norm1(self.fc1(x)))))
        if self.kind == "ssa":
            x = x + self.attn_out(self.attn(x))
            return x + self.mlp_out(self.norm2(self.fc2(self.act1(self.norm1(self.fc1(x))))))
        x = x + self.attn(self.attn_in(x))
        return x + self.norm2(self.fc2(self.act1(self.norm1(self.fc1(self.mlp_in(x))))))


class SequenceTransformer(nn.Module):
    """Conv patch embedding over time (tokens = time bins), ``depth`` blocks, mean over tokens, readout."""

    def __init__(self, in_features: int, num_classes: int, kind: str = "softmax", dim: int = 32, depth: int = 1,
                 heads: int = 2, mlp_ratio: int = 2, sim_steps: int = 2, tau_mem: float = 2.0,
                 tau_out: float = 10.0) -> None:
        super().__init__()
        self.in_features, self.kind = in_features, kind
        spiking = kind != "softmax"
        self.repeat = RepeatSteps(sim_steps) if spiking else None
        self.embed = nn.Conv1d(in_features, dim, kernel_size=3, padding=1)
        self.embed_norm = SeqBatchNorm(dim)
        self.embed_act = neuron(spiking, tau_mem, activation="gelu")
        self.blocks = nn.Sequential(*(Block(dim, heads, mlp_ratio, kind, tau_mem) for _ in range(depth)))
        self.head = readout(spiking, dim, num_classes, tau_out)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        tokens = self.embed(x.permute(1, 2, 0)).transpose(1, 2)          # [B, N, D]
        z = self.embed_act(self.embed_norm(tokens if self.repeat is None else self.repeat(tokens)))
        z = self.blocks(z).mean(-2)                                       # [S, B, D] or [B, D]
        return self.head(z.unsqueeze(0) if self.repeat is None else z)


class Mixer(nn.Module):
    """MLP-Mixer over time tokens: token-mixing MLP across the ``steps`` tokens, channel-mixing MLP."""

    def __init__(self, in_features: int, num_classes: int, steps: int, spiking: bool, dim: int = 32,
                 depth: int = 1, token_hidden: int = 32, channel_hidden: int = 64, sim_steps: int = 2,
                 tau_mem: float = 2.0, tau_out: float = 10.0) -> None:
        super().__init__()
        self.in_features, self.steps, self.spiking = in_features, check_int("steps", steps), spiking
        self.repeat = RepeatSteps(sim_steps) if spiking else None
        self.embed = nn.Linear(in_features, dim)
        self.blocks = nn.ModuleList()
        for _ in range(depth):
            self.blocks.append(nn.ModuleDict({
                "norm1": _norm(spiking, dim), "tok1": nn.Linear(steps, token_hidden),
                "tok_norm": _norm(spiking, token_hidden),
                "tok_act": neuron(spiking, tau_mem, activation="gelu"), "tok2": nn.Linear(token_hidden, steps),
                "norm2": _norm(spiking, dim), "ch1": nn.Linear(dim, channel_hidden),
                "ch_norm": _norm(spiking, channel_hidden),
                "ch_act": neuron(spiking, tau_mem, activation="gelu"), "ch2": nn.Linear(channel_hidden, dim),
                "in_act": neuron(spiking, tau_mem) if spiking else nn.Identity()}))
        self.head = readout(spiking, dim, num_classes, tau_out)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        if x.shape[0] != self.steps:
            raise ValueError(f"x has {x.shape[0]} time steps; this mixer was built for steps={self.steps}")
        z = self.embed(x.transpose(0, 1))                                   # [B, N, D]
        z = z if self.repeat is None else self.repeat(z)
        for b in self.blocks:
            y = b["in_act"](b["norm1"](z)).transpose(-1, -2)                # mix across tokens
            z = z + b["tok2"](b["tok_act"](b["tok_norm"](b["tok1"](y)))).transpose(-1, -2)
            z = z + b["ch2"](b["ch_act"](b["ch_norm"](b["ch1"](b["in_act"](b["norm2"](z))))))
        z = z.mean(-2)
        return self.head(z.unsqueeze(0) if self.repeat is None else z)


_TWIN = ("the ViT-style transformer the papers compare with: the same blocks with softmax attention, LayerNorm "
         "and GELU for the spike attention, BatchNorm and LIFs; equal parameters")


def _transformer(kind_if_spiking: str):
    def build(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
        return SequenceTransformer(in_features, num_classes, kind_if_spiking if spiking else "softmax", **config)
    build.__doc__ = (f"``create(..., dim=32, depth=1, heads=2, mlp_ratio=2, sim_steps=2)``: spiking = "
                     f"{kind_if_spiking!r} attention, ANN = softmax transformer with the same parameters.")
    return build


register("transformer", twin=_TWIN)(_transformer("ssa"))
register("spikformer", twin=_TWIN)(_transformer("ssa"))
register("spike_driven_transformer", twin=_TWIN)(_transformer("sdsa"))


@register("mixer", twin="the same MLP-Mixer with GELU for each LIF; equal parameters")
def build_mixer(spiking: bool, in_features: int, num_classes: int, steps: int = 0, **config: Any) -> nn.Module:
    """``create("mixer", spiking, in_features, num_classes, steps=T, dim=32, depth=1)`` (needs ``steps``)."""
    if not steps:
        raise ValueError(f"steps={steps!r}: the mixer's token-mixing MLP needs the sequence length; pass steps=T")
    return Mixer(in_features, num_classes, steps, spiking, **config)
