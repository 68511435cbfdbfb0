"""Legendre Memory Unit (Voelker, Kajić & Eliasmith, NeurIPS 2019), its parallel form (Chilkuri &
Eliasmith, ICML 2021) and LMUFormer (Liu et al., ICLR 2024), each spiking or ANN.

The memory is a linear time-invariant system ``m[t] = Ad m[t-1] + Bd u[t]`` (``Ad, Bd``: zero-order-hold
discretisation of the Padé approximation of a delay of ``theta`` steps, ``order`` Legendre coefficients).
Its output is the causal convolution of ``u`` with the impulse response ``H[k] = Ad^k Bd``: training
runs it over the whole sequence at once (FFT for long sequences), streaming runs the recurrence; both
give the same memory. The closed form: ``u[t - r*theta] ~= sum_i m_i[t] P_i(2r - 1)`` (shifted Legendre
polynomials), see :meth:`LegendreMemory.decode_delay`.

With no hidden-to-memory feedback (the parallel LMU), the spiking layer is
``u = LIF(BN(W_u x))``, ``m = memory(u)``, ``h = LIF(BN(W_m LIF(BN(m)) + W_x x))``; its ANN twin is the
same with identity / ReLU in place of the LIF populations (identical parameter count). The BatchNorms
(as in LMUFormer) put every LIF's input current on the scale of its threshold: without them the encoder's
small initial currents and the memory's ``1/theta``-sized coefficients leave most neurons silent, and the
spiking LMU barely learns. In streaming (``step``) they use their running statistics, i.e. they act as
the per-feature affine maps they are at inference, so ``step`` equals the parallel form in ``eval()`` mode.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from ..analysis import CountedOp, is_event_like
from ..neurons import LIF
from ._common import SeqBatchNorm, check_input, check_int, neuron, readout
from .registry import register


def lmu_state_space(order: int, theta: float) -> tuple[np.ndarray, np.ndarray]:
    """Continuous ``(A [order, order], B [order])`` of the LMU (Voelker et al. 2019, eq. 2)."""
    check_int("order", order)
    if not (isinstance(theta, (int, float)) and math.isfinite(theta) and theta > 0):
        raise ValueError(f"theta={theta!r} must be a finite number of steps > 0")
    i = np.arange(order)[:, None]
    j = np.arange(order)[None, :]
    r = (2 * np.arange(order) + 1)[:, None] / theta
    A = np.where(i < j, -1.0, (-1.0) ** (i - j + 1)) * r
    B = ((2 * np.arange(order) + 1) * (-1.0) ** np.arange(order)) / theta
    return A, B


def discretize_zoh(A: np.ndarray, B: np.ndarray, dt: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Zero-order hold: ``Ad = expm(A dt)``, ``Bd = A^-1 (Ad - I) B`` (via the augmented matrix exponential)."""
    from scipy.linalg import expm

    n = A.shape[0]
    M = np.zeros((n + 1, n + 1))
    M[:n, :n], M[:n, n] = A * dt, B * dt
    E = expm(M)
    return E[:n, :n], E[:n, n]


def shifted_legendre(order: int, r: np.ndarray | float) -> np.ndarray:
    """``P_i(2r - 1)`` for ``i < order``: shape ``[order, *r.shape]`` (the LMU's decoding basis)."""
    from scipy.special import eval_legendre

    r = np.asarray(r, dtype=np.float64)
    return np.stack([eval_legendre(i, 2 * r - 1) for i in range(order)])


def causal_conv_time(u: Tensor, h: Tensor) -> Tensor:
    """``y[t, ..., c, k] = sum_{s<=t} h[s, k] u[t-s, ..., c]``: ``u [T, ..., C]``, ``h [T, K]`` -> ``[T, ..., C, K]``.

    Direct (Toeplitz) product for short sequences, FFT for long ones."""
    T = u.shape[0]
    if T <= 256:
        idx = torch.arange(T, device=u.device)
        lag = idx[:, None] - idx[None, :]  # [t, s] = t - s
        toe = h[lag.clamp(min=0)] * (lag >= 0).unsqueeze(-1).to(h.dtype)  # [T, T, K]
        return torch.einsum("tsk,s...c->t...ck", toe, u)
    n = 2 * T
    uf = torch.fft.rfft(u, n=n, dim=0)
    hf = torch.fft.rfft(h, n=n, dim=0)
    shape = (hf.shape[0],) + (1,) * (u.dim() - 1) + (h.shape[1],)
    y = torch.fft.irfft(uf.unsqueeze(-1) * hf.reshape(shape), n=n, dim=0)
    return y[:T]


class LegendreMemory(CountedOp):
    """The LMU memory for ``channels`` independent inputs: ``[T, B, channels] -> [T, B, channels * order]``.

    Not trainable (as in the LMU paper). ``forward``/``run`` use the convolution form; ``step`` the recurrence.
    """

    def __init__(self, channels: int, order: int = 16, theta: float = 32.0) -> None:
        super().__init__()
        self.channels, self.order, self.theta = check_int("channels", channels), check_int("order", order), float(theta)
        A, B = lmu_state_space(order, theta)
        Ad, Bd = discretize_zoh(A, B)
        # Fixed matrices kept in float64 outside the module's buffers, so .to(dtype) cannot round them
        # before the powers Ad^k are taken; they are cast to the input's dtype at use.
        self.Ad, self.Bd = torch.from_numpy(Ad), torch.from_numpy(Bd)
        self._cache: dict[tuple[int, torch.device], tuple[Tensor, Tensor]] = {}

    def _responses(self, T: int, device: torch.device) -> tuple[Tensor, Tensor]:
        """``H[k] = Ad^k Bd`` ``[T, order]`` and ``P[k] = Ad^(k+1)`` ``[T, order, order]`` in float64."""
        key = (T, device)
        if key not in self._cache:
            H, P = [], []
            power = torch.eye(self.order, dtype=torch.float64)
            for _ in range(T):
                H.append(power @ self.Bd)
                power = self.Ad @ power
                P.append(power)
            self._cache = {key: (torch.stack(H).to(device), torch.stack(P).to(device))}
        return self._cache[key]

    def run(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Memory over a whole sequence ``u [T, B, C]`` from ``state`` ``[B, C, order]`` (zeros by default)."""
        T = u.shape[0]
        H, P = self._responses(T, u.device)
        m = causal_conv_time(u, H.to(u.dtype))  # [T, B, C, order]
        if state is not None:
            m = m + torch.einsum("tij,bcj->tbci", P.to(u.dtype), state)
        return m.flatten(-2), m[-1]

    def forward(self, u: Tensor, state: Tensor | None = None) -> Tensor:
        """Memory sequence ``[T, B, C*order]`` (through ``__call__``, so cost hooks see it)."""
        return self.run(u, state)[0]

    def step(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step of the recurrence: ``u [B, C]`` -> (``m [B, C*order]``, new state ``[B, C, order]``)."""
        Ad, Bd = self.Ad.to(u.device, u.dtype), self.Bd.to(u.device, u.dtype)
        m = u.unsqueeze(-1) * Bd if state is None else state @ Ad.T + u.unsqueeze(-1) * Bd
        return m.flatten(-2), m

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        """Cost of the recurrence it stands for: ``Ad m`` is dense (order^2 MACs per channel and step);
        ``Bd u`` is ``order`` ACs per input event, or MACs when ``u`` is real-valued."""
        u = inputs[0].detach()
        macs = u.numel() * self.order * self.order
        if is_event_like(u):
            return float(macs), float((u != 0).sum()) * self.order
        return float(macs + u.numel() * self.order), 0.0

    def decode_delay(self, m: Tensor, r: float | Tensor) -> Tensor:
        """Estimate ``u[t - r*theta]`` (``0 <= r <= 1``) from memory ``m [..., C*order]``: ``[..., C]``."""
        basis = torch.as_tensor(shifted_legendre(self.order, r.detach().cpu().numpy() if isinstance(r, Tensor) else r),
                                dtype=m.dtype, device=m.device)
        return m.unflatten(-1, (self.channels, self.order)) @ basis


def _affine(norm: SeqBatchNorm, x: Tensor) -> Tensor:
    """``norm`` with its running statistics (what it computes in eval mode), for one streaming step."""
    bn = norm.bn
    return nn.functional.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)


class LMULayer(nn.Module):
    """One parallel-LMU layer ``[T, B, F] -> [T, B, hidden]``, spiking or ANN (see module docstring)."""

    def __init__(self, in_features: int, hidden: int, memory_channels: int = 4, order: int = 16,
                 theta: float = 32.0, spiking: bool = True, tau_mem: float = 2.0) -> None:
        super().__init__()
        self.spiking = spiking
        self.encoder = nn.Linear(in_features, memory_channels)
        self.memory = LegendreMemory(memory_channels, order, theta)
        self.memory_to_hidden = nn.Linear(memory_channels * order, hidden)
        self.input_to_hidden = nn.Linear(in_features, hidden, bias=False)
        self.u_norm, self.m_norm = SeqBatchNorm(memory_channels), SeqBatchNorm(memory_channels * order)
        self.h_norm = SeqBatchNorm(hidden)
        if spiking:
            self.u_neurons = LIF(tau_mem=tau_mem, reset="subtract", detach_reset=True)
            self.m_neurons = LIF(tau_mem=tau_mem, reset="subtract", detach_reset=True)
            self.h_neurons = LIF(tau_mem=tau_mem, reset="subtract", detach_reset=True)
        else:
            self.h_act = nn.ReLU()

    def run(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        if not self.spiking:
            m = self.memory(self.u_norm(self.encoder(x)), None if state is None else state[0])
            return self._hidden_ann(self.m_norm(m), x), (self._last(m),)
        vu, mstate, vm, vh = (None,) * 4 if state is None else state
        u, vu = self.u_neurons.run(self.u_norm(self.encoder(x)), vu)
        m = self.memory(u, mstate)
        mstate = self._last(m)
        sm, vm = self.m_neurons.run(self.m_norm(m), vm)
        h, vh = self.h_neurons.run(self.h_norm(self.memory_to_hidden(sm) + self.input_to_hidden(x)), vh)
        return h, (vu, mstate, vm, vh)

    def _hidden_ann(self, m: Tensor, x: Tensor) -> Tensor:
        return self.h_act(self.h_norm(self.memory_to_hidden(m) + self.input_to_hidden(x)))

    def _last(self, m: Tensor) -> Tensor:
        return m[-1].unflatten(-1, (self.memory.channels, self.memory.order))

    def forward(self, x: Tensor) -> Tensor:
        """Whole sequence from rest; every sub-module is called (not ``run``), so hooks see them all."""
        if not self.spiking:
            return self.run(x)[0]
        m = self.memory(self.u_neurons(self.u_norm(self.encoder(x))))
        h = self.memory_to_hidden(self.m_neurons(self.m_norm(m))) + self.input_to_hidden(x)
        return self.h_neurons(self.h_norm(h))

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """Streaming: one time step ``x [B, F]`` with the memory recurrence (no convolution)."""
        if not self.spiking:
            m, ms = self.memory.step(_affine(self.u_norm, self.encoder(x)), None if state is None else state[0])
            h = self.memory_to_hidden(_affine(self.m_norm, m)) + self.input_to_hidden(x)
            return self.h_act(_affine(self.h_norm, h)), (ms,)
        vu, mstate, vm, vh = (None,) * 4 if state is None else state
        u, vu = self.u_neurons.step(_affine(self.u_norm, self.encoder(x)), vu)
        m, mstate = self.memory.step(u, mstate)
        sm, vm = self.m_neurons.step(_affine(self.m_norm, m), vm)
        h, vh = self.h_neurons.step(_affine(self.h_norm, self.memory_to_hidden(sm) + self.input_to_hidden(x)), vh)
        return h, (vu, mstate, vm, vh)


class LMUNet(nn.Module):
    """Stack of :class:`LMULayer` plus readout; ``forward`` is parallel, ``step`` streams (spiking form)."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 64, layers: int = 1,
                 memory_channels: int = 4, order: int = 16, theta: float = 32.0, spiking: bool = True,
                 tau_mem: float = 2.0, tau_out: float = 10.0) -> None:
        super().__init__()
        self.in_features, self.spiking = in_features, spiking
        widths = [in_features] + [hidden] * layers
        self.layers = nn.ModuleList(LMULayer(a, hidden, memory_channels, order, theta, spiking, tau_mem)
                                    for a in widths[:-1])
        self.head = readout(spiking, hidden, num_classes, tau_out)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        for layer in self.layers:
            x = layer(x)
        return self.head(x)

    def step(self, x: Tensor, state: list[Any] | None = None) -> tuple[Tensor, list[Any]]:
        """One streaming step ``x [B, F]`` -> (readout membrane ``[B, C]``, state); spiking form only.

        The BatchNorms use their running statistics here, so the steps equal ``forward`` in ``eval()`` mode."""
        if not self.spiking:
            raise ValueError("step() streams the spiking LMU (spiking=True); the ANN twin pools over time")
        state = [None] * (len(self.layers) + 1) if state is None else state
        new: list[Any] = []
        for layer, s in zip(self.layers, state):
            x, s = layer.step(x, s)
            new.append(s)
        v, vs = self.head.li.step(self.head.fc(x), state[-1])
        new.append(vs)
        return v, new


class LMUFormer(nn.Module):
    """LMUFormer: causal conv patch embedding, LMU token mixing, channel-mixer MLP (residuals, BN).

    ``[T, B, F] -> Conv1d(k=3, causal) -> BN -> act -> [x + LMU(x)] -> [x + MLP(x)] -> readout``.
    """

    def __init__(self, in_features: int, num_classes: int, dim: int = 64, blocks: int = 1,
                 memory_channels: int = 4, order: int = 16, theta: float = 32.0, mlp_ratio: int = 2,
                 spiking: bool = True, tau_mem: float = 2.0, tau_out: float = 10.0) -> None:
        super().__init__()
        self.in_features, self.spiking = in_features, spiking
        self.embed = nn.Conv1d(in_features, dim, kernel_size=3)
        self.embed_bn = SeqBatchNorm(dim)
        self.embed_act = neuron(spiking, tau_mem)
        self.token_mixers = nn.ModuleList(
            nn.Sequential(LMULayer(dim, dim, memory_channels, order, theta, spiking, tau_mem), SeqBatchNorm(dim))
            for _ in range(blocks))
        self.channel_mixers = nn.ModuleList(
            nn.Sequential(nn.Linear(dim, dim * mlp_ratio), SeqBatchNorm(dim * mlp_ratio), neuron(spiking, tau_mem),
                          nn.Linear(dim * mlp_ratio, dim), SeqBatchNorm(dim), neuron(spiking, tau_mem))
            for _ in range(blocks))
        self.head = readout(spiking, dim, num_classes, tau_out)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        z = nn.functional.pad(x.permute(1, 2, 0), (2, 0))  # causal: only past steps enter each token
        z = self.embed_act(self.embed_bn(self.embed(z).permute(2, 0, 1)))
        for tm, cm in zip(self.token_mixers, self.channel_mixers):
            z = z + tm(z)
            z = z + cm(z)
        return self.head(z)

    def step(self, x: Tensor, state: dict[str, Any] | None = None) -> tuple[Tensor, dict[str, Any]]:
        """Streaming: one time step ``x [B, F]`` -> (output for the prefix so far ``[B, C]``, state).

        Spiking form: the readout membrane at this step (``forward(x)[t]``). ANN form: the logits of the
        mean over the prefix (``forward(x[:t+1])[0]``). BatchNorms use their running statistics, so this
        equals the parallel form in ``eval()`` mode."""
        check_input(x.unsqueeze(0), self.in_features)
        s: dict[str, Any] = {} if state is None else dict(state)

        def act(module: nn.Module, key: str, z: Tensor) -> Tensor:
            if not self.spiking:
                return module(z)
            out, s[key] = module.step(z, s.get(key))
            return out

        window = s.get("window", torch.zeros(x.shape[0], self.in_features, 2, dtype=x.dtype, device=x.device))
        window = torch.cat([window, x.unsqueeze(-1)], -1)                    # the last 3 inputs
        s["window"] = window[..., 1:]
        z = act(self.embed_act, "embed", _affine(self.embed_bn, self.embed(window).squeeze(-1)))
        for i, (tm, cm) in enumerate(zip(self.token_mixers, self.channel_mixers)):
            y, s[f"lmu{i}"] = tm[0].step(z, s.get(f"lmu{i}"))
            z = z + _affine(tm[1], y)
            fc1, bn1, act1, fc2, bn2, act2 = cm
            y = act(act1, f"mlp{i}a", _affine(bn1, fc1(z)))
            z = z + act(act2, f"mlp{i}b", _affine(bn2, fc2(y)))
        if self.spiking:
            v, s["head"] = self.head.li.step(self.head.fc(z), s.get("head"))
            return v, s
        s["sum"], s["count"] = s.get("sum", 0) + z, s.get("count", 0) + 1
        return self.head.fc(s["sum"] / s["count"]), s


def _lmu_kwargs(config: dict[str, Any]) -> dict[str, Any]:
    steps = config.pop("steps", None)
    if "theta" not in config and steps is not None:
        config["theta"] = float(steps)
    return config


@register("lmu", twin="the same parallel LMU with each LIF replaced by identity / ReLU; equal parameters")
def build_lmu(spiking: bool, in_features: int, num_classes: int, **config: Any) -> nn.Module:
    """``create("lmu", spiking, in_features, num_classes, hidden=64, layers=1, memory_channels=4,
    order=16, theta=steps or 32)``; the ANN twin swaps LIF for identity/ReLU (same parameters)."""
    return LMUNet(in_features, num_classes, spiking=spiking, **_lmu_kwargs(config))


@register("lmuformer", twin="the same LMUFormer with each LIF replaced by ReLU / identity; equal parameters")
def build_lmuformer(spiking: bool, in_features: int, num_classes: int, **config: Any) -> nn.Module:
    """``create("lmuformer", spiking, in_features, num_classes, dim=64, blocks=1, order=16, theta=steps)``."""
    return LMUFormer(in_features, num_classes, spiking=spiking, **_lmu_kwargs(config))
