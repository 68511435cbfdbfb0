"""Diagonal state-space layers (S4D, Gu et al. 2022: diagonal complex state, ZOH, S4D-Lin init or the
perturb-then-diagonalise init of :func:`snnkit.models.baselines.ptd_init` with ``init="ptd"``) with a
spiking form, and GRU / LSTM baselines (ANN only).

S4D's kernel ``K[k] = 2 Re(sum_n C_n (e^{dt L_n} - 1)/L_n e^{k dt L_n})`` makes the layer a causal
convolution (FFT) in training; ``step`` runs the same diagonal recurrence one step at a time.
Spiking form: the block input is spiked by a LIF population (the SSM is then driven by events) and the
GELU after the SSM becomes a LIF; the ANN twin keeps identity / GELU (same parameters). A BatchNorm
between the SSM and its activation (both forms) scales the SSM output to the LIF's threshold; without it
the spike-driven SSM's small output leaves that LIF nearly silent.
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from ..analysis import CountedOp, is_event_like
from ._common import SeqBatchNorm, check_input, neuron, readout
from .registry import register


class DiagonalSSM(CountedOp):
    """S4D layer, ``channels`` independent single-input single-output SSMs of ``state`` complex modes."""

    def __init__(self, channels: int, state: int = 16, dt_min: float = 1e-2, dt_max: float = 1e-1,
                 init: str = "lin") -> None:
        super().__init__()
        self.channels, self.state = channels, state
        log_dt = torch.rand(channels) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        C = torch.randn(channels, state, 2) * 0.5 ** 0.5
        if init == "lin":
            self.log_neg_real = nn.Parameter(torch.full((channels, state), math.log(0.5)))     # Re(L) = -0.5
            self.imag = nn.Parameter(math.pi * torch.arange(state).float().repeat(channels, 1))  # S4D-Lin
        elif init == "ptd":  # perturb-then-diagonalise HiPPO-LegS; V^-1 B folds into C (single input)
            from .baselines import ptd_init
            lam, vb, _ = ptd_init(state)
            self.log_neg_real = nn.Parameter(torch.log(torch.from_numpy(-lam.real).float().clamp(min=1e-4))
                                             .repeat(channels, 1))
            self.imag = nn.Parameter(torch.from_numpy(lam.imag).float().repeat(channels, 1))
            vb_t = torch.from_numpy(vb).to(torch.complex64)
            C = torch.view_as_real(torch.view_as_complex(C.contiguous()) * vb_t / vb_t.abs().mean())
        else:
            raise ValueError(f"init={init!r} must be 'lin' (S4D-Lin) or 'ptd' (perturb-then-diagonalise)")
        self.C = nn.Parameter(C.contiguous())
        self.D = nn.Parameter(torch.randn(channels))

    def modes(self) -> tuple[Tensor, Tensor, Tensor]:
        """The discretised diagonal system ``(dA, dB, C)``, each ``[H, N]`` complex (exporters read it)."""
        dt = self.log_dt.exp()[:, None]
        L = torch.complex(-self.log_neg_real.exp(), self.imag)               # [H, N]
        dA = torch.exp(L * dt)
        dB = (dA - 1) / L                                                     # ZOH input gain
        return dA, dB, torch.view_as_complex(self.C.contiguous())

    def kernel(self, T: int) -> Tensor:
        dA, dB, C = self.modes()
        k = torch.arange(T, device=dA.device)
        powers = torch.exp(torch.log(dA)[..., None] * k)                      # [H, N, T]
        return 2 * torch.einsum("hn,hnt->th", C * dB, powers).real            # [T, H]

    def forward(self, u: Tensor) -> Tensor:
        """``u [T, B, H] -> y [T, B, H]`` by FFT convolution with the SSM kernel, plus ``D u``."""
        T = u.shape[0]
        K = self.kernel(T)
        n = 2 * T
        y = torch.fft.irfft(torch.fft.rfft(u, n=n, dim=0) * torch.fft.rfft(K, n=n, dim=0).unsqueeze(1), n=n, dim=0)[:T]
        return y + u * self.D

    def step(self, u: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """One step of the recurrence ``x = dA x + dB u``, ``y = 2 Re(C x) + D u``; ``u [B, H]``."""
        dA, dB, C = self.modes()
        x = dB * u[..., None] if state is None else dA * state + dB * u[..., None]
        return 2 * (C * x).sum(-1).real + self.D * u, x

    def ops(self, inputs: tuple[Any, ...], output: Any) -> tuple[float, float]:
        # recurrent cost: a complex multiply-add per mode (4 real MACs) + readout; input gain per event
        u = inputs[0].detach()
        macs = u.numel() * self.state * 6
        return (float(macs), float((u != 0).sum()) * self.state * 2) if is_event_like(u) else \
            (float(macs + u.numel() * self.state * 2), 0.0)


class SSMNet(nn.Module):
    def __init__(self, in_features: int, num_classes: int, spiking: bool, hidden: int = 32, layers: int = 1,
                 state: int = 16, tau_mem: float = 2.0, tau_out: float = 10.0) -> None:
        super().__init__()
        self.in_features, self.spiking = in_features, spiking
        self.encoder = nn.Linear(in_features, hidden)
        self.blocks = nn.ModuleList(nn.ModuleDict({
            "norm": SeqBatchNorm(hidden), "ssm": DiagonalSSM(hidden, state), "ssm_norm": SeqBatchNorm(hidden),
            "act": neuron(spiking, tau_mem, activation="gelu"), "mix": nn.Linear(hidden, hidden),
            "in_act": neuron(True, tau_mem) if spiking else nn.Identity()}) for _ in range(layers))
        self.head = readout(spiking, hidden, num_classes, tau_out)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        z = self.encoder(x)
        for b in self.blocks:
            z = z + b["mix"](b["act"](b["ssm_norm"](b["ssm"](b["in_act"](b["norm"](z))))))
        return self.head(z)


class RNNClassifier(nn.Module):
    """GRU / LSTM baseline: ``[T, B, F] -> last hidden state -> logits [1, B, C]``."""

    def __init__(self, in_features: int, num_classes: int, cell: str = "gru", hidden: int = 64,
                 layers: int = 1) -> None:
        super().__init__()
        self.in_features = in_features
        self.rnn = (nn.GRU if cell == "gru" else nn.LSTM)(in_features, hidden, num_layers=layers)
        self.fc = nn.Linear(hidden, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        out, _ = self.rnn(x)
        return self.fc(out[-1]).unsqueeze(0)


@register("ssm", twin="the same S4D stack with identity / GELU for the LIFs (the S4D paper's model); equal parameters")
def build_ssm(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """``create("ssm", spiking, in_features, num_classes, hidden=32, layers=1, state=16)`` (S4D)."""
    return SSMNet(in_features, num_classes, spiking, **config)


@register("gru", forms=(False,))
def build_gru(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """GRU baseline (ANN only): ``hidden=64, layers=1``."""
    return RNNClassifier(in_features, num_classes, "gru", **config)


@register("lstm", forms=(False,))
def build_lstm(spiking: bool, in_features: int, num_classes: int, steps: int | None = None, **config: Any) -> nn.Module:
    """LSTM baseline (ANN only): ``hidden=64, layers=1``."""
    return RNNClassifier(in_features, num_classes, "lstm", **config)
