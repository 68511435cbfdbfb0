"""RWKV (Peng et al., 2023, RWKV-4 time and channel mixing) and its spiking form after SpikeGPT (Zhu et
al., 2023): the block input is spiked by a LIF population, so the token shift and every input projection
act on spikes (accumulates only); the WKV recurrence and the receptance gate stay real-valued, and the
squared-ReLU of the channel mixer becomes a LIF. Tokens are the time bins, processed causally.
The ANN twin has the identical parameters, with identity instead of the input LIFs. Both forms
normalise the channel mixer's hidden layer and the block output (RWKV's ``ln_out``) with BatchNorm, which
keeps the LIFs behind them near threshold (without it they stay silent at initialisation).

WKV (per channel, decay ``w > 0``, bonus ``u``)::

    wkv[t] = (sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t) / (same sums without v)

computed here for the whole sequence at once as a masked softmax over past tokens (no sequential loop).
"""
from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ..analysis import CountedOp
from ._common import SeqBatchNorm, check_input, neuron, readout
from .registry import register


class WKV(CountedOp):
    """The RWKV-4 weighted key-value average over past tokens, ``[T, B, D]`` time-major."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.log_decay = nn.Parameter(torch.linspace(-3.0, 0.0, dim))  # w = exp(log_decay) > 0
        self.bonus = nn.Parameter(torch.zeros(dim))

    def forward(self, k: Tensor, v: Tensor) -> Tensor:
        T = k.shape[0]
        t = torch.arange(T, device=k.device)
        lag = (t[:, None] - 1 - t[None, :]).to(k.dtype)                     # t-1-i
        w = self.log_decay.exp()
        logits = -lag[..., None, None] * w + k.unsqueeze(0)                  # [t, i, B, D]
        diag = torch.eye(T, dtype=torch.bool, device=k.device)[..., None, None]
        logits = torch.where(diag, self.bonus + k.unsqueeze(0), logits)
        future = (t[None, :] > t[:, None])[..., None, None]
        logits = logits.masked_fill(future, float("-inf"))
        return (torch.softmax(logits, dim=1) * v.unsqueeze(0)).sum(1)

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        # the recurrent form: two running sums with one decay multiply each, per step and channel
        return float(inputs[0].numel() * 4), 0.0


class RWKVBlock(nn.Module):
    def __init__(self, dim: int, ffn_hidden: int, spiking: bool, tau_mem: float = 2.0) -> None:
        super().__init__()
        self.spiking = spiking
        self.norm1, self.norm2 = SeqBatchNorm(dim), SeqBatchNorm(dim)
        self.mix_k, self.mix_v, self.mix_r = (nn.Parameter(torch.full((dim,), 0.5)) for _ in range(3))
        self.key, self.value, self.receptance = (nn.Linear(dim, dim, bias=False) for _ in range(3))
        self.wkv = WKV(dim)
        self.output = nn.Linear(dim, dim, bias=False)
        self.cmix_k, self.cmix_r = nn.Parameter(torch.full((dim,), 0.5)), nn.Parameter(torch.full((dim,), 0.5))
        self.ffn_key = nn.Linear(dim, ffn_hidden, bias=False)
        self.ffn_norm = SeqBatchNorm(ffn_hidden)  # keeps the channel mixer's LIF near threshold (both forms)
        self.ffn_value = nn.Linear(ffn_hidden, dim, bias=False)
        self.ffn_receptance = nn.Linear(dim, dim, bias=False)
        if spiking:
            self.in1, self.in2, self.ffn_act = neuron(True, tau_mem), neuron(True, tau_mem), neuron(True, tau_mem)

    @staticmethod
    def _shift(x: Tensor) -> Tensor:
        return torch.cat([torch.zeros_like(x[:1]), x[:-1]], 0)

    def forward(self, x: Tensor) -> Tensor:
        h = self.norm1(x)
        h = self.in1(h) if self.spiking else h
        hs = self._shift(h)
        # token shift as a mask-free blend: h*mu + prev*(1-mu); with spikes both terms are scaled events
        k = self.key(h * self.mix_k + hs * (1 - self.mix_k))
        v = self.value(h * self.mix_v + hs * (1 - self.mix_v))
        r = torch.sigmoid(self.receptance(h * self.mix_r + hs * (1 - self.mix_r)))
        x = x + self.output(r * self.wkv(k, v))
        h = self.norm2(x)
        h = self.in2(h) if self.spiking else h
        hs = self._shift(h)
        kk = self.ffn_norm(self.ffn_key(h * self.cmix_k + hs * (1 - self.cmix_k)))
        kk = self.ffn_act(kk) if self.spiking else torch.relu(kk) ** 2
        rr = torch.sigmoid(self.ffn_receptance(h * self.cmix_r + hs * (1 - self.cmix_r)))
        return x + rr * self.ffn_value(kk)


class RWKVNet(nn.Module):
    def __init__(self, in_features: int, num_classes: int, spiking: bool, dim: int = 32, depth: int = 1,
                 ffn_hidden: int = 64, tau_mem: float = 2.0, tau_out: float = 10.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.embed = nn.Linear(in_features, dim)
        self.blocks = nn.Sequential(*(RWKVBlock(dim, ffn_hidden, spiking, tau_mem) for _ in range(depth)))
        self.out_norm = SeqBatchNorm(dim)  # RWKV's final norm (ln_out); also sets the output LIF's input scale
        self.out_act = neuron(spiking, tau_mem) if spiking else nn.Identity()
        self.head = readout(spiking, dim, num_classes, tau_out)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.head(self.out_act(self.out_norm(self.blocks(self.embed(x)))))


@register("rwkv", twin="RWKV-4, the model SpikeGPT spikes: the same blocks without the input LIFs and with squared ReLU; equal parameters")
def build_rwkv(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """``create("rwkv", spiking, in_features, num_classes, dim=32, depth=1, ffn_hidden=64)``;
    spiking = SpikeGPT-style."""
    return RWKVNet(in_features, num_classes, spiking, **config)
