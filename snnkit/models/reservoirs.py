"""Spiking reservoirs whose readouts (and, for NALSM, recurrent synapses) learn with local rules.

* :class:`IzhikevichReservoir`: a heterogeneous Izhikevich network as in Izhikevich (2003): 80 %
  excitatory neurons with ``a=0.02, b=0.2, c=-65+15 r^2, d=8-6 r^2`` and 20 % inhibitory neurons with
  ``a=0.02+0.08 r, b=0.25-0.05 r, c=-65, d=2`` (``r ~ U(0, 1)`` per neuron: regular spiking to
  chattering, fast spiking to low-threshold spiking), sparse random recurrence (excitatory weights
  ``U(0, 0.5)``, inhibitory ``-U(0, 1)``, scaled by ``gain``), a thalamic noise drive, and a filtered
  spike trace as the readout's input. Pair it with :class:`~snnkit.plasticity.RecursiveLeastSquares`
  (FORCE) or :class:`~snnkit.plasticity.ErrorModulatedHebbian` (three-factor) readouts.
* :class:`ExcitatoryInhibitoryLSM`: the liquid of NALSM (Ivanov & Michmizos 2021): LIF neurons, 80 %
  excitatory / 20 % inhibitory with Dale's law, whose excitatory recurrent synapses can learn by
  astrocyte-gated STDP (:class:`~snnkit.plasticity.AstrocyteGatedSTDP`).
The dynamics come from :mod:`snnkit.functional`; these modules only own the wiring.
"""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .. import _checks
from ..functional import IzhikevichParameters, LIFParameters, izhikevich_step, lif_step


def _sparse_dale(n: int, n_exc: int, p: float, exc_scale: float, inh_scale: float,
                 g: torch.Generator) -> Tensor:
    """``W[post, pre]``: columns of excitatory neurons >= 0, of inhibitory neurons <= 0, no self-loops."""
    mask = (torch.rand(n, n, generator=g) < p) & ~torch.eye(n, dtype=torch.bool)
    w = torch.rand(n, n, generator=g)
    w[:, :n_exc] *= exc_scale
    w[:, n_exc:] *= -inh_scale
    return w * mask


class IzhikevichReservoir(nn.Module):
    """Heterogeneous Izhikevich reservoir (see the module doc). ``forward(x [T, B, n_in])`` returns
    ``(spikes [T, B, n], trace [T, B, n])`` where ``trace`` is the spikes low-passed with ``tau_trace`` ms.

    Args:
        n_in, n: input channels and reservoir neurons; ``exc_fraction`` of them excitatory.
        p_connect: recurrent connection probability; ``gain`` scales the recurrent weights.
        input_scale: std of the random input weights (input current per unit of ``x``).
        noise: std of the thalamic noise current per step; ``dt`` in ms; ``seed`` fixes everything.
    """

    def __init__(self, n_in: int, n: int = 200, exc_fraction: float = 0.8, p_connect: float = 0.1,
                 gain: float = 10.0, input_scale: float = 10.0, noise: float = 3.0, tau_trace: float = 20.0,
                 dt: float = 0.5, seed: int = 0) -> None:
        super().__init__()
        for name, value in (("n_in", n_in), ("n", n)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}={value!r} must be an integer >= 1")
        if not 0 < exc_fraction <= 1:
            raise ValueError(f"exc_fraction={exc_fraction!r} must be in (0, 1]")
        _checks.positive("tau_trace", tau_trace)
        g = torch.Generator().manual_seed(seed)
        n_exc = int(round(exc_fraction * n))
        r = torch.rand(n, generator=g)
        exc = torch.arange(n) < n_exc
        self.register_buffer("a", torch.where(exc, torch.full_like(r, 0.02), 0.02 + 0.08 * r))
        self.register_buffer("b", torch.where(exc, torch.full_like(r, 0.2), 0.25 - 0.05 * r))
        self.register_buffer("c", torch.where(exc, -65 + 15 * r ** 2, torch.full_like(r, -65.0)))
        self.register_buffer("d", torch.where(exc, 8 - 6 * r ** 2, torch.full_like(r, 2.0)))
        self.register_buffer("w_rec", gain * _sparse_dale(n, n_exc, p_connect, 0.5, 1.0, g))
        self.register_buffer("w_in", input_scale * torch.randn(n, n_in, generator=g))
        self.n, self.n_exc, self.noise, self.dt, self.seed = n, n_exc, float(noise), float(dt), seed
        self.trace_decay = math.exp(-dt / tau_trace)

    def parameters_izhikevich(self) -> IzhikevichParameters:
        return IzhikevichParameters(a=self.a, b=self.b, c=self.c, d=self.d, dt=self.dt)

    def forward(self, x: Tensor, state: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        spikes, traces, _ = self.run(x, state, generator)
        return spikes, traces

    @torch.no_grad()
    def run(self, x: Tensor, state: tuple[Tensor, Tensor, Tensor, Tensor] | None = None,
            generator: torch.Generator | None = None) -> tuple[Tensor, Tensor, tuple[Tensor, ...]]:
        """As ``forward``, also returning the final state ``(v, u, spikes, trace)`` to continue from."""
        _checks.time_major("x", x, 3)
        params = self.parameters_izhikevich()
        batch = x.shape[1]
        if state is None:
            v, u = params.initial_state(x.new_zeros(batch, self.n))
            s, trace = x.new_zeros(batch, self.n), x.new_zeros(batch, self.n)
        else:
            v, u, s, trace = state
        g = generator if generator is not None else torch.Generator().manual_seed(self.seed + 1)
        spikes, traces = [], []
        drive_in = x @ self.w_in.t()
        for drive in drive_in.unbind(0):
            current = drive + s @ self.w_rec.t() + self.noise * torch.randn(s.shape, generator=g)
            s, (v, u) = izhikevich_step(current, (v, u), params)
            trace = trace * self.trace_decay + s
            spikes.append(s)
            traces.append(trace)
        return torch.stack(spikes), torch.stack(traces), (v, u, s, trace)


class ExcitatoryInhibitoryLSM(nn.Module):
    """LIF liquid with Dale's law (see the module doc): ``forward(x [T, B, n_in])`` -> spikes ``[T, B, n]``.

    ``w_rec`` is a buffer: plastic rules (e.g. astrocyte-gated STDP on the excitatory block) change it in
    place; ``plastic_mask`` marks the synapses allowed to learn (existing excitatory->any synapses).
    """

    def __init__(self, n_in: int, n: int = 400, exc_fraction: float = 0.8, p_connect: float = 0.1,
                 w_exc: float = 0.1, w_inh: float = 0.4, input_scale: float = 0.1, p_input: float = 0.2,
                 tau_mem: float = 20.0, seed: int = 0) -> None:
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        n_exc = int(round(exc_fraction * n))
        self.register_buffer("w_rec", _sparse_dale(n, n_exc, p_connect, w_exc, w_inh, g))
        mask_in = torch.rand(n, n_in, generator=g) < p_input
        self.register_buffer("w_in", input_scale * torch.rand(n, n_in, generator=g) * mask_in)
        plastic = self.w_rec != 0
        plastic[:, n_exc:] = False
        self.register_buffer("plastic_mask", plastic)
        self.params = LIFParameters(tau_mem=tau_mem, v_th=1.0, reset="subtract")
        self.n, self.n_exc = n, n_exc

    @torch.no_grad()
    def step(self, x: Tensor, state: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One step: ``x [B, n_in]``, ``state = (v, previous spikes)`` -> ``(spikes, state)``."""
        if state is None:
            v = x.new_zeros(x.shape[0], self.n)
            s = torch.zeros_like(v)
        else:
            v, s = state
        current = x @ self.w_in.t() + s @ self.w_rec.t()
        s, v = lif_step(current, v, self.params)
        return s, (v, s)

    @torch.no_grad()
    def forward(self, x: Tensor) -> Tensor:
        _checks.time_major("x", x, 3)
        state, out = None, []
        for x_t in x.unbind(0):
            s, state = self.step(x_t, state)
            out.append(s)
        return torch.stack(out)


__all__ = ["IzhikevichReservoir", "ExcitatoryInhibitoryLSM"]
