"""Neuron modules. Each owns its parameters (optionally learnable, shared or per neuron) and builds
the frozen parameter dataclass of :mod:`snnkit.functional` on every call."""
from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import Tensor, nn

from .. import _checks, kernels
from ..functional import (ALIFParameters, CubaLIFParameters, IzhikevichParameters, LIFParameters,
                          LIParameters, alif_multistep, alif_step, cuba_lif_multistep, cuba_lif_step,
                          izhikevich_multistep, izhikevich_step, li_multistep, li_step, lif_step)
from ..functional.discretize import Method
from ..functional.lif import ResetMode
from ..surrogate import get as get_surrogate

Shape = int | Sequence[int] | None


def _param_tensor(name: str, value: float, shape: Shape) -> Tensor:
    _checks.positive(name, value) if name.startswith("tau") else None
    size = () if shape is None else ((shape,) if isinstance(shape, int) else tuple(shape))
    return torch.full(size, float(value))


class SpikingLayer(nn.Module):
    """Base class: multi-step ``forward``, explicit-state ``step`` and ``run``."""

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x)[0]

    def run(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self, x: Tensor) -> None:
        _checks.time_major("x", x)


class _LeakyMixin:
    """Time constant and threshold as (optionally learnable) tensors; tau is learned as log(tau) so it
    stays positive."""

    def _init_tau(self, name: str, tau: float | None, shape: Shape, learn: bool) -> None:
        if tau is None:
            setattr(self, "_log_" + name, None)
            return
        t = _param_tensor(name, tau, shape).log()
        if learn:
            setattr(self, "_log_" + name, nn.Parameter(t))
        else:
            self.register_buffer("_log_" + name, t)  # type: ignore[attr-defined]

    def _tau(self, name: str) -> Tensor | None:
        t = getattr(self, "_log_" + name)
        return None if t is None else t.exp()

    def _init_threshold(self, v_th: float, shape: Shape, learn: bool) -> None:
        t = _param_tensor("v_th", v_th, shape)
        if learn:
            self.v_th = nn.Parameter(t)
        else:
            self.register_buffer("v_th", t)  # type: ignore[attr-defined]


class LIF(SpikingLayer, _LeakyMixin):
    """Leaky integrate-and-fire neurons (see :mod:`snnkit.functional.lif` for the equations).

    Args:
        tau_mem: membrane time constant in the unit of ``dt``; ``beta = exp(-dt / tau_mem)``.
        dt: time step.
        v_th, v_reset: threshold and reset potential.
        reset: ``"hard"``, ``"subtract"`` (soft) or ``"none"``.
        decay_input: scale the input by ``1 - beta`` (spikingjelly/norse style).
        surrogate, alpha: surrogate name (see :mod:`snnkit.surrogate`) and shape parameter.
        detach_reset: no gradient through the reset.
        learn_tau, learn_threshold: make ``tau_mem`` / ``v_th`` trainable (PLIF when ``learn_tau``).
        shape: feature shape for per-neuron parameters (e.g. ``512`` or ``(C, 1, 1)``); ``None`` = shared.
        method: ``"exp"`` or ``"euler"`` discretisation.
    """

    def __init__(self, tau_mem: float | None = 10.0, dt: float = 1.0, v_th: float = 1.0, v_reset: float = 0.0,
                 reset: ResetMode = "hard", decay_input: bool = False, surrogate: str = "atan",
                 alpha: float | None = None, detach_reset: bool = False, learn_tau: bool = False,
                 learn_threshold: bool = False, shape: Shape = None, method: Method = "exp") -> None:
        super().__init__()
        _checks.one_of("reset", reset, ("hard", "subtract", "none"))
        _checks.positive("dt", dt)
        self.dt, self.v_reset, self.reset, self.decay_input = dt, float(v_reset), reset, decay_input
        self.detach_reset, self.method = detach_reset, method
        self.surrogate = get_surrogate(surrogate, alpha)
        self._init_tau("tau_mem", tau_mem, shape, learn_tau)
        self._init_threshold(v_th, shape, learn_threshold)
        self.params()  # validate now, not at the first forward

    @property
    def tau_mem(self) -> Tensor | None:
        return self._tau("tau_mem")

    def params(self) -> LIFParameters:
        return LIFParameters(tau_mem=self.tau_mem, dt=self.dt, v_th=self.v_th, v_reset=self.v_reset,
                             reset=self.reset, decay_input=self.decay_input, method=self.method,
                             surrogate=self.surrogate, detach_reset=self.detach_reset)

    def run(self, x: Tensor, state: Tensor | None = None, record_membrane: bool = False) -> tuple[Tensor, Tensor]:
        """``(spikes [T, B, ...], last membrane)``, or ``(spikes, membranes [T, B, ...])`` when recording."""
        self._check(x)
        if state is not None:
            _checks.same_device_dtype("state", state, "x", x)
        return kernels.lif(x, state, self.params(), record_membrane)

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        v = torch.zeros_like(x) if state is None else state
        return lif_step(x, v, self.params())

    def extra_repr(self) -> str:
        tau = self.tau_mem
        return (f"tau_mem={None if tau is None else tau.flatten()[0].item():.4g}, dt={self.dt}, "
                f"reset={self.reset!r}, surrogate={self.surrogate.name!r}")


class IF(LIF):
    """Integrate-and-fire neurons (no leak); ``reset="subtract"`` by default, as ANN conversion wants."""

    def __init__(self, v_th: float = 1.0, v_reset: float = 0.0, reset: ResetMode = "subtract",
                 surrogate: str = "atan", alpha: float | None = None, detach_reset: bool = False,
                 learn_threshold: bool = False, shape: Shape = None) -> None:
        super().__init__(tau_mem=None, v_th=v_th, v_reset=v_reset, reset=reset, surrogate=surrogate,
                         alpha=alpha, detach_reset=detach_reset, learn_threshold=learn_threshold, shape=shape)


class CubaLIF(SpikingLayer, _LeakyMixin):
    """Current-based LIF: synaptic current with ``tau_syn`` feeding a LIF membrane with ``tau_mem``."""

    def __init__(self, tau_syn: float = 5.0, tau_mem: float = 10.0, dt: float = 1.0, v_th: float = 1.0,
                 v_reset: float = 0.0, reset: ResetMode = "hard", decay_input: bool = False,
                 surrogate: str = "atan", alpha: float | None = None, detach_reset: bool = False,
                 learn_tau: bool = False, learn_threshold: bool = False, shape: Shape = None,
                 method: Method = "exp") -> None:
        super().__init__()
        self.lif = LIF(tau_mem, dt, v_th, v_reset, reset, decay_input, surrogate, alpha, detach_reset,
                       learn_tau, learn_threshold, shape, method)
        self._init_tau("tau_syn", tau_syn, shape, learn_tau)

    @property
    def tau_syn(self) -> Tensor:
        return self._tau("tau_syn")  # type: ignore[return-value]

    def params(self) -> CubaLIFParameters:
        return CubaLIFParameters(tau_syn=self.tau_syn, lif=self.lif.params())

    def run(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        self._check(x)
        return cuba_lif_multistep(x, state, self.params())

    def step(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        state = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        return cuba_lif_step(x, state, self.params())


class ALIF(SpikingLayer, _LeakyMixin):
    """Adaptive-threshold LIF (LSNN): the threshold rises by ``beta_adapt`` per spike, decays with ``tau_adapt``."""

    def __init__(self, tau_mem: float = 20.0, tau_adapt: float = 200.0, beta_adapt: float = 1.8,
                 dt: float = 1.0, v_th: float = 1.0, reset: ResetMode = "subtract", surrogate: str = "atan",
                 alpha: float | None = None, detach_reset: bool = False, learn_tau: bool = False,
                 shape: Shape = None) -> None:
        super().__init__()
        self.lif = LIF(tau_mem, dt, v_th, reset=reset, surrogate=surrogate, alpha=alpha,
                       detach_reset=detach_reset, learn_tau=learn_tau, shape=shape)
        self._init_tau("tau_adapt", tau_adapt, shape, learn_tau)
        self.beta_adapt = float(beta_adapt)

    def params(self) -> ALIFParameters:
        return ALIFParameters(tau_adapt=self._tau("tau_adapt"), beta_adapt=self.beta_adapt,  # type: ignore[arg-type]
                              lif=self.lif.params())

    def run(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        self._check(x)
        return alif_multistep(x, state, self.params())

    def step(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        state = (torch.zeros_like(x), torch.zeros_like(x)) if state is None else state
        return alif_step(x, state, self.params())


class LI(SpikingLayer, _LeakyMixin):
    """Leaky integrator readout: outputs its membrane ``[T, B, ...]``; never spikes."""

    def __init__(self, tau_mem: float = 10.0, dt: float = 1.0, decay_input: bool = False,
                 learn_tau: bool = False, shape: Shape = None, method: Method = "exp") -> None:
        super().__init__()
        _checks.positive("dt", dt)
        self.dt, self.decay_input, self.method = dt, decay_input, method
        self._init_tau("tau_mem", tau_mem, shape, learn_tau)

    @property
    def tau_mem(self) -> Tensor:
        return self._tau("tau_mem")  # type: ignore[return-value]

    def params(self) -> LIParameters:
        return LIParameters(tau_mem=self.tau_mem, dt=self.dt, decay_input=self.decay_input, method=self.method)

    def run(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(x)
        vs = li_multistep(x, state, self.params())
        return vs, vs[-1]

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        v = li_step(x, torch.zeros_like(x) if state is None else state, self.params())
        return v, v


class Izhikevich(SpikingLayer):
    """Izhikevich neurons; ``preset`` names one of ``snnkit.functional.IZHIKEVICH_PRESETS``."""

    def __init__(self, preset: str | None = "regular_spiking", a: float | None = None, b: float | None = None,
                 c: float | None = None, d: float | None = None, input_scale: float = 1.0, dt: float = 0.5,
                 surrogate: str = "fast_sigmoid", alpha: float | None = 0.25) -> None:
        super().__init__()
        base = IzhikevichParameters.preset(preset) if preset else IzhikevichParameters()
        self.p = IzhikevichParameters(a=base.a if a is None else a, b=base.b if b is None else b,
                                      c=base.c if c is None else c, d=base.d if d is None else d,
                                      input_scale=input_scale, dt=dt, surrogate=get_surrogate(surrogate, alpha))

    def params(self) -> IzhikevichParameters:
        return self.p

    def run(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None, record_membrane: bool = False):
        self._check(x)
        return izhikevich_multistep(x, state, self.p, record_membrane)

    def step(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        return izhikevich_step(x, self.p.initial_state(x) if state is None else state, self.p)


_ = math
