"""Neuron modules. Each owns its parameters (optionally learnable, shared or per neuron) and builds
the frozen parameter dataclass of :mod:`snnkit.functional` on every call.

Parameter values are checked when they are set (constructor, attribute assignment, ``load_state_dict``),
never per call: reading a tensor's values is a device sync on CUDA and a graph break for
``torch.compile``. :func:`snnkit.set_debug` adds per-call checks (NaN/inf inputs, parameter ranges)."""
from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import Tensor, nn

from .. import _checks, kernels
from ..functional import (ALIFParameters, CubaLIFParameters, IzhikevichParameters, LIFParameters,
                          LIParameters, alif_step, cuba_lif_step, izhikevich_step, li_step)
from ..functional.discretize import Method, check_tau
from ..functional.lif import ResetMode
from ..surrogate import get as get_surrogate

Shape = int | Sequence[int] | None


def _param_tensor(name: str, value: float, shape: Shape) -> Tensor:
    _checks.positive(name, value) if name.startswith("tau") else None
    size = () if shape is None else ((shape,) if isinstance(shape, int) else tuple(shape))
    return torch.full(size, float(value))


def _validate_after_load(module: nn.Module, incompatible_keys: Any) -> None:
    module.validate()  # type: ignore[operator]


class SpikingLayer(nn.Module):
    """Base class: multi-step ``forward``, explicit-state ``step`` and ``run``.

    Subclasses list in ``_checked`` the attributes whose assignment re-runs :meth:`validate`."""

    _checked: tuple[str, ...] = ()

    def __init__(self) -> None:
        super().__init__()
        self.register_load_state_dict_post_hook(_validate_after_load)

    def __setattr__(self, name: str, value: Any) -> None:
        super().__setattr__(name, value)
        if name in self._checked and getattr(self, "_ready", False):
            self.validate()

    def validate(self) -> None:
        """Check the current parameter values (one host read per tensor; called when they are set)."""

    def forward(self, x: Tensor) -> Tensor:
        return self.run(x)[0]

    def run(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def step(self, x: Tensor, state: Any = None) -> tuple[Tensor, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self, x: Tensor) -> None:
        """Multi-step input: a floating tensor ``[T, B, ...]`` with T >= 1 (NaN scan in debug mode)."""
        if isinstance(x, Tensor) and x.dim() == 2:
            raise ValueError(
                f"x has shape {tuple(x.shape)}, but {type(self).__name__}(x) is multi-step and needs time-major "
                "input [T, B, features...] (rank >= 3); for one time step of shape [B, features] call "
                f"{type(self).__name__.lower()}.step(x, state), or add a time dim with x.unsqueeze(0)")
        _checks.time_major("x", x, min_rank=3)
        if x.shape[0] == 0:
            raise ValueError(f"x has shape {tuple(x.shape)}: T=0 time steps; allowed: T >= 1")

    def _check_step(self, x: Tensor) -> None:
        """Single-step input: a floating tensor ``[B, ...]`` (NaN scan in debug mode)."""
        _checks.time_major("x", x, min_rank=1)


class _LeakyMixin:
    """Time constant and threshold as (optionally learnable) tensors; tau is learned as log(tau) so it
    stays positive."""

    def _init_tau(self, name: str, tau: float | None, shape: Shape, learn: bool) -> None:
        if tau is None:
            setattr(self, "_log_" + name, None)
            return
        _checks.param_finite(name, tau)
        t = _param_tensor(name, tau, shape).log()
        if learn:
            setattr(self, "_log_" + name, nn.Parameter(t))
        else:
            self.register_buffer("_log_" + name, t)  # type: ignore[attr-defined]

    def _tau(self, name: str) -> Tensor | None:
        t = getattr(self, "_log_" + name)
        return None if t is None else t.exp()

    def _check_tau(self, name: str, dt: float, method: Method) -> None:
        t = getattr(self, "_log_" + name, None)
        if t is not None:
            _checks.all_finite("log " + name, t)  # log(tau) finite <=> 0 < tau < inf
            if method == "euler" and _checks.readable(t):
                check_tau(float(t.detach().exp().min()), dt, method, name)

    def _init_threshold(self, v_th: float, shape: Shape, learn: bool) -> None:
        _checks.param_finite("v_th", v_th)
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

    _checked = ("_log_tau_mem", "v_th", "dt", "method")

    def __init__(self, tau_mem: float | None = 10.0, dt: float = 1.0, v_th: float = 1.0, v_reset: float = 0.0,
                 reset: ResetMode = "hard", decay_input: bool = False, surrogate: str = "atan",
                 alpha: float | None = None, detach_reset: bool = False, learn_tau: bool = False,
                 learn_threshold: bool = False, shape: Shape = None, method: Method = "exp") -> None:
        super().__init__()
        _checks.one_of("reset", reset, ("hard", "subtract", "none"))
        _checks.positive("dt", dt)
        _checks.param_finite("v_reset", v_reset)
        if tau_mem is not None:
            check_tau(tau_mem, dt, method, "tau_mem")
        self.dt, self.v_reset, self.reset, self.decay_input = dt, float(v_reset), reset, decay_input
        self.detach_reset, self.method = detach_reset, method
        self.surrogate = get_surrogate(surrogate, alpha)
        self._init_tau("tau_mem", tau_mem, shape, learn_tau)
        self._init_threshold(v_th, shape, learn_threshold)
        self._ready = True
        self.validate()

    def validate(self) -> None:
        self._check_tau("tau_mem", self.dt, self.method)
        _checks.all_finite("v_th", self.v_th)

    @property
    def tau_mem(self) -> Tensor | None:
        return self._tau("tau_mem")

    def params(self) -> LIFParameters:
        return LIFParameters(tau_mem=self.tau_mem, dt=self.dt, v_th=self.v_th, v_reset=self.v_reset,
                             reset=self.reset, decay_input=self.decay_input, method=self.method,
                             surrogate=self.surrogate, detach_reset=self.detach_reset)

    def run(self, x: Tensor, state: Tensor | None = None, record_membrane: bool = False) -> tuple[Tensor, Tensor]:
        """``(spikes [T, B, ...], last membrane)``, or ``(spikes, membranes [T, B, ...])`` when recording."""
        self._check_run(x, state)
        return kernels.lif(x, state, self.params(), record_membrane)

    def _check_run(self, x: Tensor, state: Tensor | None) -> None:
        self._check(x)
        if state is not None and not (state.dtype == torch.float32 and x.dtype in (torch.float16, torch.bfloat16)):
            _checks.same_device_dtype("state", state, "x", x)   # (float32 state with half inputs: mixed precision)

    def run_avgpool(self, x: Tensor, state: Tensor | None, k: int) -> tuple[Tensor, Tensor] | None:
        """``run`` followed by ``nn.AvgPool2d(k)`` (stride k) on ``[T, B, C, H, W]``, as one engine pass
        (``(pooled spikes, last membrane)``) where the engine has one, else ``None``
        (:func:`snnkit.kernels.lif_avgpool`). :class:`Sequential` calls it for such a pair of layers."""
        self._check_run(x, state)
        return kernels.lif_avgpool(x, state, self.params(), k)

    def run_linear(self, x: Tensor, state: Tensor | None, linear: nn.Linear) -> tuple[Tensor, Tensor] | None:
        """``linear`` on ``x [T, B, ..., in]`` followed by ``run``, as one engine call each way where the
        engine has one, else ``None`` (:func:`snnkit.kernels.linear_lif`). :class:`Sequential` calls it
        for such a pair of layers."""
        self._check_run(x, state)
        return kernels.linear_lif(x, linear.weight, linear.bias, state, self.params())

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_step(x)
        v = torch.zeros_like(x) if state is None else state
        return kernels.lif_step(x, v, *self._step_params(x))

    def _step_params(self, x: Tensor) -> tuple[LIFParameters, tuple[Tensor, Tensor]]:
        """``(params, (beta, threshold))`` for single steps on ``x`` (streaming, SLTT-K's chosen steps).
        Streaming calls ``step`` once per time step, and rebuilding these took most of it (about 75 of
        110 us per layer): they are kept while nothing they come from changes (the attributes, the tau
        and threshold tensors and their in-place versions, x's dtype and device) and they carry no graph
        (not while tau or the threshold are being trained; nor for a subclass with its own ``params``,
        whose inputs are not known here)."""
        tensors = [t for t in (self._log_tau_mem, self.v_th) if isinstance(t, Tensor)]
        if (torch.is_grad_enabled() and any(t.requires_grad for t in tensors)) or type(self).params is not LIF.params:
            p = self.params()
            return p, (p.beta(x), p.threshold(x))
        key = (x.dtype, x.device, self.dt, self.v_reset, self.reset, self.decay_input, self.method,
               self.detach_reset, self.surrogate, *((id(t), t._version) for t in tensors))
        kept = self.__dict__.get("_step_kept")
        if kept is None or kept[0] != key:
            p = self.params()
            with torch.no_grad():
                constants = (p.beta(x), p.threshold(x))
            # the tensors are held with the key, so their ids cannot be reused by new tensors meanwhile
            kept = (key, tensors, p, constants)
            self.__dict__["_step_kept"] = kept  # not an nn.Module attribute: no buffer, no validate()
        return kept[2], kept[3]

    def extra_repr(self) -> str:
        tau = self.tau_mem
        shown = "None" if tau is None else (f"{tau.flatten()[0].item():.4g}" if _checks.readable(tau) else "?")
        return (f"tau_mem={shown}, dt={self.dt}, "
                f"reset={self.reset!r}, surrogate={self.surrogate.name!r}")


class IF(LIF):
    """Integrate-and-fire neurons (no leak); ``reset="subtract"`` by default, as ANN conversion wants."""

    def __init__(self, v_th: float = 1.0, v_reset: float = 0.0, reset: ResetMode = "subtract",
                 surrogate: str = "atan", alpha: float | None = None, detach_reset: bool = False,
                 learn_threshold: bool = False, shape: Shape = None) -> None:
        super().__init__(tau_mem=None, v_th=v_th, v_reset=v_reset, reset=reset, surrogate=surrogate,
                         alpha=alpha, detach_reset=detach_reset, learn_threshold=learn_threshold, shape=shape)


class _NamedStateLayer(SpikingLayer):
    """A layer whose state is a named tuple of tensors (``None``: at rest): ``run`` goes through the engine
    dispatcher ``_engine``, ``step`` through the functional ``_step``; subclasses give both and ``params()``."""

    _engine: Any
    _step: Any

    def params(self) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def run(self, x: Tensor, state: tuple[Tensor, ...] | None = None) -> tuple[Tensor, Any]:
        self._check(x)
        return self._engine(x, state, self.params())

    def step(self, x: Tensor, state: tuple[Tensor, ...] | None = None) -> tuple[Tensor, Any]:
        self._check_step(x)
        return self._step(x, state, self.params())


class CubaLIF(_NamedStateLayer, _LeakyMixin):
    """Current-based LIF: synaptic current with ``tau_syn`` feeding a LIF membrane with ``tau_mem``."""

    _engine, _step = staticmethod(kernels.cuba_lif), staticmethod(cuba_lif_step)  # state: CubaLIFState(i, v)

    def __init__(self, tau_syn: float = 5.0, tau_mem: float = 10.0, dt: float = 1.0, v_th: float = 1.0,
                 v_reset: float = 0.0, reset: ResetMode = "hard", decay_input: bool = False,
                 surrogate: str = "atan", alpha: float | None = None, detach_reset: bool = False,
                 learn_tau: bool = False, learn_threshold: bool = False, shape: Shape = None,
                 method: Method = "exp") -> None:
        super().__init__()
        self.lif = LIF(tau_mem, dt, v_th, v_reset, reset, decay_input, surrogate, alpha, detach_reset,
                       learn_tau, learn_threshold, shape, method)
        check_tau(tau_syn, dt, method, "tau_syn")
        self._init_tau("tau_syn", tau_syn, shape, learn_tau)
        self._ready = True
        self.validate()

    _checked = ("_log_tau_syn",)

    def validate(self) -> None:
        self._check_tau("tau_syn", self.lif.dt, self.lif.method)

    @property
    def tau_syn(self) -> Tensor:
        return self._tau("tau_syn")  # type: ignore[return-value]

    def params(self) -> CubaLIFParameters:
        return CubaLIFParameters(tau_syn=self.tau_syn, lif=self.lif.params())



class ALIF(_NamedStateLayer, _LeakyMixin):
    """Adaptive-threshold LIF (LSNN): the threshold rises by ``beta_adapt`` per spike, decays with ``tau_adapt``."""

    _engine, _step = staticmethod(kernels.alif), staticmethod(alif_step)  # state: ALIFState(v, a)

    def __init__(self, tau_mem: float = 20.0, tau_adapt: float = 200.0, beta_adapt: float = 1.8,
                 dt: float = 1.0, v_th: float = 1.0, reset: ResetMode = "subtract", surrogate: str = "atan",
                 alpha: float | None = None, detach_reset: bool = False, learn_tau: bool = False,
                 shape: Shape = None) -> None:
        super().__init__()
        self.lif = LIF(tau_mem, dt, v_th, reset=reset, surrogate=surrogate, alpha=alpha,
                       detach_reset=detach_reset, learn_tau=learn_tau, shape=shape)
        check_tau(tau_adapt, dt, "exp", "tau_adapt")
        _checks.param_finite("beta_adapt", beta_adapt)
        self._init_tau("tau_adapt", tau_adapt, shape, learn_tau)
        self.beta_adapt = float(beta_adapt)
        self._ready = True
        self.validate()

    _checked = ("_log_tau_adapt", "beta_adapt")

    def validate(self) -> None:
        self._check_tau("tau_adapt", self.lif.dt, self.lif.method)
        _checks.param_finite("beta_adapt", self.beta_adapt)

    def params(self) -> ALIFParameters:
        return ALIFParameters(tau_adapt=self._tau("tau_adapt"), beta_adapt=self.beta_adapt,  # type: ignore[arg-type]
                              lif=self.lif.params())



class LI(SpikingLayer, _LeakyMixin):
    """Leaky integrator readout: outputs its membrane ``[T, B, ...]``; never spikes."""

    def __init__(self, tau_mem: float = 10.0, dt: float = 1.0, decay_input: bool = False,
                 learn_tau: bool = False, shape: Shape = None, method: Method = "exp") -> None:
        super().__init__()
        check_tau(tau_mem, dt, method, "tau_mem")
        self.dt, self.decay_input, self.method = dt, decay_input, method
        self._init_tau("tau_mem", tau_mem, shape, learn_tau)
        self._ready = True
        self.validate()

    _checked = ("_log_tau_mem", "dt", "method")

    def validate(self) -> None:
        self._check_tau("tau_mem", self.dt, self.method)

    @property
    def tau_mem(self) -> Tensor:
        return self._tau("tau_mem")  # type: ignore[return-value]

    def params(self) -> LIParameters:
        return LIParameters(tau_mem=self.tau_mem, dt=self.dt, decay_input=self.decay_input, method=self.method)

    def run(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check(x)
        return kernels.li(x, state, self.params())

    def step(self, x: Tensor, state: Tensor | None = None) -> tuple[Tensor, Tensor]:
        self._check_step(x)
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
        return kernels.izhikevich(x, state, self.p, record_membrane)

    def step(self, x: Tensor, state: tuple[Tensor, Tensor] | None = None):
        self._check_step(x)
        return izhikevich_step(x, self.p.initial_state(x) if state is None else state, self.p)
