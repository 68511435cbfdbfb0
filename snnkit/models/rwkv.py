"""RWKV (Peng et al., 2023, RWKV-4 time and channel mixing) and its spiking form after SpikeGPT (Zhu et
al., 2023): the block input is spiked by a LIF population, so the token shift and every input projection
act on spikes (accumulates only); the WKV recurrence and the receptance gate stay real-valued, and the
squared-ReLU of the channel mixer becomes a LIF. Tokens are the time steps, processed causally.
The ANN twin (RWKV-4 itself) has the identical parameters, with identity instead of the input LIFs.
Both forms normalise the channel mixer's hidden layer and the block output (RWKV's ``ln_out``) with
BatchNorm, which keeps the LIFs behind them near threshold (without it they stay silent at
initialisation); SpikeGPT uses LayerNorm there. In ``step()`` the BatchNorms use their running
statistics, so streaming equals the whole-sequence pass in ``eval()`` mode.

WKV (per channel, decay ``w > 0``, bonus ``u``)::

    wkv[t] = (sum_{i<t} e^{-(t-1-i) w + k_i} v_i + e^{u + k_t} v_t) / (same sums without v)

computed in O(T) by its recurrence (two running sums and their common exponent, :meth:`WKV.step`);
:meth:`WKV.parallel` is the O(T^2) masked-softmax form of the same formula, kept as a check.

Token shift ``mu * h[t] + (1 - mu) * h[t-1]`` followed by ``W`` is computed as
``(W diag(mu)) h[t] + (W diag(1 - mu)) h[t-1]`` (:class:`TokenShiftLinear`): with spikes ``h`` both
products are accumulates, which is how an event-driven chip runs it and how the cost is counted.

Language model: :class:`RWKVLanguageModel` (``spiking=True`` is SpikeGPT) maps token ids ``[T, B]`` to
next-token logits ``[T, B, V]``; :func:`generate` samples text from a prompt with ``step()``.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..analysis import CountedOp, is_event_like
from ._common import SeqBatchNorm, check_input, check_int, neuron, readout
from .registry import register

_NEG = -1e30  # the running exponent of an empty sum (finite, so no inf - inf in the first step)


def _bn_step(norm: SeqBatchNorm, x: Tensor) -> Tensor:
    """``norm`` as in eval mode (running statistics) on one step ``[B, C]``."""
    bn = norm.bn
    return F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


class WKV(CountedOp):
    """The RWKV-4 weighted key-value average over past tokens, ``[T, B, D]`` time-major."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.log_decay = nn.Parameter(torch.linspace(-3.0, 0.0, dim))  # w = exp(log_decay) > 0
        self.bonus = nn.Parameter(torch.zeros(dim))

    def step(self, k: Tensor, v: Tensor, state: tuple[Tensor, Tensor, Tensor] | None = None
             ) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor]]:
        """One token: ``k, v [B, D]``; state ``(num, den, exponent)``: the sums over past tokens, both
        scaled by ``e^-exponent`` (kept at the running maximum, so nothing overflows)."""
        if state is None:
            state = (torch.zeros_like(k), torch.zeros_like(k), torch.full_like(k, _NEG))
        num, den, p = state
        now = self.bonus + k
        top = torch.maximum(p, now)
        a, b = torch.exp(p - top), torch.exp(now - top)
        out = (a * num + b * v) / (a * den + b)
        decayed = p - self.log_decay.exp()                                  # every past term times e^-w
        top = torch.maximum(decayed, k)
        a, b = torch.exp(decayed - top), torch.exp(k - top)
        return out, (a * num + b * v, a * den + b, top)

    def run(self, k: Tensor, v: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        outs = []
        for k_t, v_t in zip(k.unbind(0), v.unbind(0)):
            o, state = self.step(k_t, v_t, state)
            outs.append(o)
        return torch.stack(outs), state

    def forward(self, k: Tensor, v: Tensor) -> Tensor:
        return self.run(k, v)[0]

    def parallel(self, k: Tensor, v: Tensor) -> Tensor:
        """The same output as a masked softmax over all (t, i) pairs: O(T^2) time and memory."""
        T = k.shape[0]
        t = torch.arange(T, device=k.device)
        lag = (t[:, None] - 1 - t[None, :]).to(k.dtype)                     # t-1-i
        logits = -lag[..., None, None] * self.log_decay.exp() + k.unsqueeze(0)  # [t, i, B, D]
        diag = torch.eye(T, dtype=torch.bool, device=k.device)[..., None, None]
        logits = torch.where(diag, self.bonus + k.unsqueeze(0), logits)
        logits = logits.masked_fill((t[None, :] > t[:, None])[..., None, None], float("-inf"))
        return (torch.softmax(logits, dim=1) * v.unsqueeze(0)).sum(1)

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        # the recurrence: per step and channel, two decays and two weighted adds (num, den) = 4 MACs
        return float(inputs[0].numel() * 4), 0.0


class TokenShiftLinear(CountedOp):
    """``W (mu * h[t] + (1 - mu) * h[t-1])`` as ``(W diag mu) h[t] + (W diag(1-mu)) h[t-1]``.

    ``forward(h, h_prev)``; the cost is that of two Linear layers on ``h`` and ``h_prev`` (accumulates
    per non-zero input when both are spikes, dense MACs otherwise)."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(dim_out, dim_in))
        nn.init.kaiming_uniform_(self.weight, a=5 ** 0.5)  # nn.Linear's default
        self.mix = nn.Parameter(torch.full((dim_in,), 0.5))

    def forward(self, h: Tensor, h_prev: Tensor) -> Tensor:
        return F.linear(h, self.weight * self.mix) + F.linear(h_prev, self.weight * (1 - self.mix))

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        h, hp = inputs[0].detach(), inputs[1].detach()
        fan_out = self.weight.shape[0]
        if is_event_like(h) and is_event_like(hp):
            return 0.0, float((h != 0).sum() + (hp != 0).sum()) * fan_out
        return float(h.numel() + hp.numel()) * fan_out, 0.0


class RWKVBlock(nn.Module):
    """Time mixing (token shift, WKV, receptance gate) then channel mixing; ``[T, B, D] -> [T, B, D]``."""

    def __init__(self, dim: int, ffn_hidden: int, spiking: bool, tau_mem: float = 2.0) -> None:
        super().__init__()
        self.spiking = spiking
        self.norm1, self.norm2 = SeqBatchNorm(dim), SeqBatchNorm(dim)
        self.key, self.value, self.receptance = (TokenShiftLinear(dim, dim) for _ in range(3))
        self.wkv = WKV(dim)
        self.output = nn.Linear(dim, dim, bias=False)
        self.ffn_key = TokenShiftLinear(dim, ffn_hidden)
        self.ffn_norm = SeqBatchNorm(ffn_hidden)  # keeps the channel mixer's LIF near threshold (both forms)
        self.ffn_value = nn.Linear(ffn_hidden, dim, bias=False)
        self.ffn_receptance = TokenShiftLinear(dim, dim)
        if spiking:
            self.in1, self.in2, self.ffn_act = neuron(True, tau_mem), neuron(True, tau_mem), neuron(True, tau_mem)

    @staticmethod
    def _shift(x: Tensor) -> Tensor:
        return torch.cat([torch.zeros_like(x[:1]), x[:-1]], 0)

    def _spike(self, name: str, x: Tensor) -> Tensor:
        return getattr(self, name)(x) if self.spiking else x

    def _ffn_act(self, x: Tensor) -> Tensor:
        return self.ffn_act(x) if self.spiking else torch.relu(x) ** 2

    def forward(self, x: Tensor) -> Tensor:
        h = self._spike("in1", self.norm1(x))
        hs = self._shift(h)
        r = torch.sigmoid(self.receptance(h, hs))
        x = x + self.output(r * self.wkv(self.key(h, hs), self.value(h, hs)))
        h = self._spike("in2", self.norm2(x))
        hs = self._shift(h)
        kk = self._ffn_act(self.ffn_norm(self.ffn_key(h, hs)))
        return x + torch.sigmoid(self.ffn_receptance(h, hs)) * self.ffn_value(kk)

    def step(self, x: Tensor, state: dict[str, Any] | None = None) -> tuple[Tensor, dict[str, Any]]:
        """One token ``x [B, D]``; ``state`` holds the previous (spiked) inputs, WKV sums and LIF membranes."""
        s = {} if state is None else dict(state)

        def spike(name: str, z: Tensor) -> Tensor:
            if not self.spiking:
                return z
            out, s[name] = getattr(self, name).step(z, s.get(name))
            return out

        h = spike("in1", _bn_step(self.norm1, x))
        hs = s.get("prev1", torch.zeros_like(h))
        s["prev1"] = h
        r = torch.sigmoid(self.receptance(h, hs))
        wkv, s["wkv"] = self.wkv.step(self.key(h, hs), self.value(h, hs), s.get("wkv"))
        x = x + self.output(r * wkv)
        h = spike("in2", _bn_step(self.norm2, x))
        hs = s.get("prev2", torch.zeros_like(h))
        s["prev2"] = h
        kk = _bn_step(self.ffn_norm, self.ffn_key(h, hs))
        kk = spike("ffn_act", kk) if self.spiking else torch.relu(kk) ** 2
        return x + torch.sigmoid(self.ffn_receptance(h, hs)) * self.ffn_value(kk), s


class RWKVNet(nn.Module):
    """Sequence classifier: ``Linear`` embedding, RWKV blocks, norm, (LIF), readout."""

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


class RWKVLanguageModel(nn.Module):
    """Token ids ``[T, B]`` -> next-token logits ``[T, B, vocab]``; ``spiking=True`` is SpikeGPT.

    ``Embedding -> RWKVBlock x depth -> norm -> Linear`` (the head reads the real-valued residual stream,
    as in SpikeGPT). ``step(tokens [B], state)`` streams one token at a time (eval mode)."""

    def __init__(self, vocab: int, spiking: bool, dim: int = 64, depth: int = 2, ffn_hidden: int = 128,
                 tau_mem: float = 2.0) -> None:
        super().__init__()
        self.vocab, self.spiking = check_int("vocab", vocab), spiking
        self.embed = nn.Embedding(vocab, dim)
        self.blocks = nn.ModuleList(RWKVBlock(dim, ffn_hidden, spiking, tau_mem) for _ in range(depth))
        self.out_norm = SeqBatchNorm(dim)
        self.head = nn.Linear(dim, vocab)

    def _check(self, tokens: Tensor) -> None:
        if tokens.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"tokens must be integer ids; got dtype {tokens.dtype}")
        if tokens.numel() and (int(tokens.min()) < 0 or int(tokens.max()) >= self.vocab):
            raise ValueError(f"tokens must lie in [0, vocab={self.vocab}); got [{int(tokens.min())}, "
                             f"{int(tokens.max())}]")

    def forward(self, tokens: Tensor) -> Tensor:
        self._check(tokens)
        z = self.embed(tokens)
        for block in self.blocks:
            z = block(z)
        return self.head(self.out_norm(z))

    def step(self, tokens: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        self._check(tokens)
        state = [None] * len(self.blocks) if state is None else state
        z, new = self.embed(tokens), []
        for block, s in zip(self.blocks, state):
            z, s = block.step(z, s)
            new.append(s)
        return self.head(_bn_step(self.out_norm, z)), new


@torch.no_grad()
def generate(model: RWKVLanguageModel, prompt: Sequence[int], n: int, temperature: float = 1.0,
             generator: torch.Generator | None = None) -> list[int]:
    """Feed ``prompt`` (token ids) through ``model.step`` and sample ``n`` more tokens; returns the new
    ids. ``temperature=0`` is greedy. The model is put in eval mode."""
    check_int("n", n, minimum=0)
    if not len(prompt):
        raise ValueError("prompt is empty; generate needs at least one token to condition on")
    if temperature < 0:
        raise ValueError(f"temperature={temperature} must be >= 0")
    model.eval()
    device = next(model.parameters()).device
    state, logits, out = None, None, []
    for tok in prompt:
        logits, state = model.step(torch.tensor([int(tok)], device=device), state)
    for _ in range(n):
        if temperature == 0:
            nxt = int(logits[0].argmax())
        else:
            probs = torch.softmax(logits[0] / temperature, -1)
            nxt = int(torch.multinomial(probs, 1, generator=generator))
        out.append(nxt)
        logits, state = model.step(torch.tensor([nxt], device=device), state)
    return out


@register("rwkv", twin="RWKV-4, the model SpikeGPT spikes: the same blocks without the input LIFs and with "
                       "squared ReLU; equal parameters")
def build_rwkv(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """``create("rwkv", spiking, in_features, num_classes, dim=32, depth=1, ffn_hidden=64)``;
    spiking = SpikeGPT-style."""
    return RWKVNet(in_features, num_classes, spiking, **config)
