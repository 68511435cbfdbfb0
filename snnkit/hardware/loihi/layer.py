"""What a Loihi 2 layer is: the values Lava's processes receive, and the chip's limits on them.

Like Lava's own split (a process says *what*, process models say *how*), this module holds the
description: :class:`LoihiLayer` (a synapse -- Lava ``Dense``, ``DelayDense`` or ``Conv`` -- feeding a
population of ``LIF`` neurons) and its validation against the chip profile ``hardware/loihi2.toml``.
How a chain of layers runs, per numeric mode, is in :mod:`.models`.

The limits come from the profile through :mod:`snnkit.hardware.profiles` (a checkout's ``hardware/``
folder or ``$SNNKIT_HARDWARE_PATH``), falling back to the copy shipped inside the package
(``snnkit/hardware/loihi/profiles/``, a link to the same file in a checkout, a real file in a wheel).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import numpy as np
from torch import Tensor, nn

from ... import synapses
from ...synapses import DelayRangeReport
from .. import profiles

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]


def _int_key(lo: int, hi: int) -> profiles.Key:
    return profiles.Key((int,), profiles.REQUIRED, lambda v: lo <= v <= hi, f"an integer in [{lo}, {hi}]")


LOIHI_SCHEMA: dict[str, dict[str, profiles.Key]] = {
    "neuron": {"model": profiles.Key((str,), "LIF"), "decay_bits": _int_key(1, 24), "state_bits": _int_key(8, 32),
               "threshold_mantissa_bits": _int_key(1, 24), "threshold_shift": _int_key(0, 16),
               "activation_shift": _int_key(0, 16), "bias_mantissa_bits": _int_key(2, 24),
               "bias_exponent_max": _int_key(0, 16), "reset": profiles.Key((str,), "zero")},
    "synapse": {"weight_bits": _int_key(1, 16), "sign_modes": profiles.Key((list,), profiles.REQUIRED),
                "weight_exp_min": _int_key(-16, 0), "weight_exp_max": _int_key(0, 16),
                "delay_bits": _int_key(0, 16), "max_delay": _int_key(0, 1 << 16), "latency_steps": _int_key(0, 8),
                "conv_accumulator_bits": _int_key(8, 32)},
    "netx": {"bias_exp": _int_key(0, 16), "weight_exp": _int_key(-16, 16)},
}
profiles.register_schema("loihi", LOIHI_SCHEMA)


def load_profile(name: str = "loihi2") -> dict[str, Any]:
    """The validated chip profile ``<name>.toml``: searched like every hardware profile, then the copy
    shipped in the package. Raises :class:`~snnkit.hardware.profiles.ProfileError` (a ``ValueError``)."""
    try:
        return profiles.load(name)
    except profiles.ProfileError:
        packaged = resources.files(__package__).joinpath("profiles", f"{name}.toml")
        if not packaged.is_file():
            raise
        return profiles.validate(tomllib.loads(packaged.read_text()), source=f"snnkit package: {name}.toml")


PROFILE = load_profile("loihi2")
_N, _S = PROFILE["neuron"], PROFILE["synapse"]

DECAY_BITS = _N["decay_bits"]
DECAY_UNITY = 1 << DECAY_BITS                            # 4096
MAX_DECAY = DECAY_UNITY - 1                              # du, dv: unsigned 12 bit
MAX_VTH = (1 << _N["threshold_mantissa_bits"]) - 1       # threshold mantissa: unsigned 17 bit
VTH_SHIFT = _N["threshold_shift"]
ACT_SHIFT = _N["activation_shift"]
BIAS_MANT_MIN, BIAS_MANT_MAX = -(1 << (_N["bias_mantissa_bits"] - 1)), (1 << (_N["bias_mantissa_bits"] - 1)) - 1
BIAS_EXP_MAX = _N["bias_exponent_max"]
UV_HALF = 1 << (_N["state_bits"] - 1)                    # u, v: signed 24 bit
WEIGHT_BITS = _S["weight_bits"]
MAX_DELAY = _S["max_delay"]                              # lava-dl netx clamps to 62, so we refuse above it
WEIGHT_EXP_RANGE = (_S["weight_exp_min"], _S["weight_exp_max"])
CONV_ACC_BITS = _S["conv_accumulator_bits"]              # Lava's Conv wraps its output to signed 24 bit

SIGN_MODES = {"mixed": 1, "excitatory": 2, "inhibitory": 3}
SIGN_MODE_NAMES = {v: k for k, v in SIGN_MODES.items()}
SIGN_MODE_RANGES = {1: (-(1 << WEIGHT_BITS), (1 << WEIGHT_BITS) - 1), 2: (0, (1 << WEIGHT_BITS) - 1),
                    3: (-(1 << WEIGHT_BITS) + 1, 0)}


def check_delay_range(delays: Tensor | nn.Module, strict: bool = False) -> DelayRangeReport:
    """Integer delays -- a tensor, or a layer's ``integer_delays()`` (``snnkit.synapses.DelayedLinear``) --
    against Loihi 2's range ``0..MAX_DELAY`` from the chip profile; see
    :func:`snnkit.synapses.check_delay_range` (``strict``: raise ``ValueError`` instead of reporting)."""
    integer_delays = delays.integer_delays() if isinstance(delays, nn.Module) else delays
    if not isinstance(integer_delays, Tensor):
        raise TypeError(f"delays must be a tensor or a layer with integer_delays(); got {type(delays).__name__}")
    return synapses.check_delay_range(integer_delays, MAX_DELAY, strict)


def sign_mode_of(weights: np.ndarray) -> int:
    """Lava's automatic sign mode: 2 (excitatory) if all >= 0, 3 (inhibitory) if all <= 0, else 1."""
    if np.min(weights) >= 0:
        return SIGN_MODES["excitatory"]
    if np.max(weights) <= 0:
        return SIGN_MODES["inhibitory"]
    return SIGN_MODES["mixed"]


def effective_weights(weights: np.ndarray, sign_mode: int | None = None, num_weight_bits: int = 8) -> np.ndarray:
    """The integer weights Lava's fixed-point Dense actually applies (clip to 8 bits, then truncate)."""
    mode = sign_mode_of(weights) if sign_mode is None else int(sign_mode)
    w = np.asarray(weights).astype(np.int64)
    inhibitory = mode == SIGN_MODES["inhibitory"]
    mixed = int(mode == SIGN_MODES["mixed"])
    if inhibitory:
        w = -w
    w = np.clip(w, -(1 << WEIGHT_BITS) * mixed, (1 << WEIGHT_BITS) - 1)
    drop = WEIGHT_BITS - int(num_weight_bits) + mixed
    if drop < 0:
        # Lava shifts by a negative amount here (9 bits on a one-signed matrix, as lava-dl netx can ask):
        # numpy defines that as 0, so every weight vanishes. We state it instead of relying on it.
        return np.zeros_like(w)
    w = (w >> drop) << drop  # arithmetic shift: floors negative weights, like Lava
    return -w if inhibitory else w


@dataclass(frozen=True)
class ConvGeometry:
    """Geometry of a convolutional synapse (Lava ``Conv``): input ``(C, H, W)`` and torch's conventions
    (``stride``, ``padding``, ``dilation`` as ``(H, W)``; weights ``[C_out, C_in / groups, kH, kW]``,
    correlation). Neurons are laid out ``(C, H, W)`` and flattened in that order."""

    in_shape: tuple[int, int, int]
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] = (0, 0)
    dilation: tuple[int, int] = (1, 1)
    groups: int = 1

    def __post_init__(self) -> None:  # plain ints, so that geometries compare equal whatever built them
        for name in ("in_shape", "stride", "padding", "dilation"):
            object.__setattr__(self, name, tuple(int(v) for v in getattr(self, name)))
        object.__setattr__(self, "groups", int(self.groups))

    def out_shape(self, weight_shape: tuple[int, ...]) -> tuple[int, int, int]:
        c_out, _, kh, kw = weight_shape
        _, h, w = self.in_shape
        size = [(n + 2 * p - d * (k - 1) - 1) // s + 1
                for n, p, d, k, s in zip((h, w), self.padding, self.dilation, (kh, kw), self.stride)]
        return int(c_out), int(size[0]), int(size[1])


@dataclass
class LoihiLayer:
    """One synapse + LIF population in Loihi 2 fixed point (the values Lava's processes receive).

    ``weights`` ``[out, in]`` ints (or ``[C_out, C_in / groups, kH, kW]`` with ``conv``); ``delays``
    ``[out, in]`` ints in 0..62 (``None``: plain Dense); ``recurrent_weights`` ``[out, out]`` (own spikes
    back to own input through a Dense with the same ``weight_exp``/``num_weight_bits``); ``du``, ``dv`` in
    0..4095; ``vth`` in 0..2^17-1; ``bias_mant`` ``[out]`` signed 13 bit; ``bias_exp`` in 0..7.
    ``sign_mode`` ``None`` lets Lava infer it from the weights (1 mixed, 2 excitatory, 3 inhibitory).
    ``neuron="sigma_delta"`` makes the population Lava ``SigmaDelta`` neurons (``lava.proc.sdn``, no
    cumulative error): ``vth`` is the delta threshold and ``bias_mant`` the bias, both scaled by
    ``2**(spike_exp + state_exp)`` as Lava's process does, ``act_mode`` ``"relu"`` or ``"unit"``; they send
    graded spikes, so the next layer's synapse needs ``num_message_bits > 0`` (graded input; also allowed
    on layer 0). ``du``, ``dv`` and ``bias_exp`` are unused there.
    ``conv`` makes the synapse a Lava ``Conv``: its fixed-point model applies the integer weights as they
    are (no sign mode, ``weight_exp`` or ``num_weight_bits``, so those must keep their defaults) and wraps
    the sum to signed 24 bit.
    """

    weights: np.ndarray
    du: int
    dv: int
    vth: int
    bias_mant: np.ndarray | None = None
    bias_exp: int = 0
    weight_exp: int = 0
    num_weight_bits: int = 8
    sign_mode: int | None = None
    delays: np.ndarray | None = None
    recurrent_weights: np.ndarray | None = None
    recurrent_sign_mode: int | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    conv: ConvGeometry | None = None
    neuron: str = "lif"
    num_message_bits: int = 0
    state_exp: int = 0
    spike_exp: int = 0
    act_mode: str = "relu"

    @property
    def in_shape(self) -> tuple[int, ...]:
        return tuple(self.conv.in_shape) if self.conv is not None else (int(self.weights.shape[1]),)

    @property
    def out_shape(self) -> tuple[int, ...]:
        return self.conv.out_shape(np.shape(self.weights)) if self.conv is not None else (int(self.weights.shape[0]),)

    @property
    def n_in(self) -> int:
        return int(np.prod(self.in_shape))

    @property
    def n_out(self) -> int:
        return int(np.prod(self.out_shape))

    def bias(self) -> np.ndarray:
        return np.zeros(self.n_out, np.int64) if self.bias_mant is None else np.asarray(self.bias_mant, np.int64)

    def max_delay(self) -> int:
        return 0 if self.delays is None else int(np.max(self.delays))

    def validate(self, index: int = 0) -> "LoihiLayer":
        """Refuse every value outside what Loihi 2 holds (Lava itself would saturate or wrap silently)."""
        where = f"layer {index}"

        def _int_range(name: str, value: Any, lo: int, hi: int) -> None:
            arr = np.asarray(value)
            if arr.size == 0:
                return
            if not np.issubdtype(arr.dtype, np.integer) and not np.all(arr == np.round(arr)):
                raise ValueError(f"{where}: {name} must be integers; got non-integer values like {arr.flat[0]!r}")
            mn, mx = int(arr.min()), int(arr.max())
            if mn < lo or mx > hi:
                raise ValueError(f"{where}: {name} must lie in [{lo}, {hi}] on Loihi 2; got values in [{mn}, {mx}]")

        w = np.asarray(self.weights)
        if self.neuron not in ("lif", "sigma_delta"):
            raise ValueError(f"{where}: neuron={self.neuron!r}; allowed: 'lif', 'sigma_delta'")
        if self.act_mode not in ("relu", "unit"):
            raise ValueError(f"{where}: act_mode={self.act_mode!r}; allowed: 'relu', 'unit'")
        _int_range("num_message_bits", self.num_message_bits, 0, 24)
        _int_range("state_exp", self.state_exp, 0, 7)      # Lava's SigmaDelta holds them in 3 bits
        _int_range("spike_exp", self.spike_exp, 0, 7)
        if self.neuron == "sigma_delta":
            _int_range("vth (sigma-delta threshold)", self.vth, 0, (1 << 23) - 1)
            if self.bias_mant is not None:
                _int_range("bias_mant (sigma-delta bias)", self.bias_mant, -(1 << 15), (1 << 15) - 1)
                if np.shape(self.bias_mant) != (self.n_out,):
                    raise ValueError(f"{where}: bias_mant must have shape ({self.n_out},)")
        if self.conv is not None:
            self._validate_conv(where, _int_range)
        elif w.ndim != 2:
            raise ValueError(f"{where}: weights must be 2-D [out, in]; got shape {w.shape}")
        _int_range("num_weight_bits", self.num_weight_bits, 1, WEIGHT_BITS + 1)  # 9: mixed keeping the LSB (netx)
        for name, mat, mode in (("weights", w, self.sign_mode),
                                ("recurrent_weights", self.recurrent_weights, self.recurrent_sign_mode)):
            if mat is None or (self.conv is not None and name == "weights"):
                continue
            m = sign_mode_of(np.asarray(mat)) if mode is None else int(mode)
            if m not in SIGN_MODE_NAMES:
                raise ValueError(f"{where}: sign_mode={mode!r}; allowed: {sorted(SIGN_MODE_NAMES)} (1 mixed, 2 exc, 3 inh)")
            _int_range(f"{name} ({SIGN_MODE_NAMES[m]} sign mode)", mat, *SIGN_MODE_RANGES[m])
        if self.recurrent_weights is not None and np.shape(self.recurrent_weights) != (self.n_out, self.n_out):
            raise ValueError(f"{where}: recurrent_weights must be [{self.n_out}, {self.n_out}]; "
                             f"got {np.shape(self.recurrent_weights)}")
        _int_range("weight_exp", self.weight_exp, *WEIGHT_EXP_RANGE)
        _int_range("du", self.du, 0, MAX_DECAY)
        _int_range("dv", self.dv, 0, MAX_DECAY)
        if self.neuron == "lif":
            _int_range("vth", self.vth, 0, MAX_VTH)
        _int_range("bias_exp", self.bias_exp, 0, BIAS_EXP_MAX)
        if self.bias_mant is not None and self.neuron == "lif":
            _int_range("bias_mant", self.bias_mant, BIAS_MANT_MIN, BIAS_MANT_MAX)
            if np.shape(self.bias_mant) != (self.n_out,):
                raise ValueError(f"{where}: bias_mant must have shape ({self.n_out},); got {np.shape(self.bias_mant)}")
        if self.delays is not None:
            if np.shape(self.delays) != w.shape:
                raise ValueError(f"{where}: delays must have the weights' shape {w.shape}; got {np.shape(self.delays)}")
            _int_range("delays", self.delays, 0, MAX_DELAY)
        return self

    def _validate_conv(self, where: str, int_range: Any) -> None:
        w, g = np.asarray(self.weights), self.conv
        if w.ndim != 4:
            raise ValueError(f"{where}: conv weights must be 4-D [C_out, C_in / groups, kH, kW]; got shape {w.shape}")
        int_range("conv weights", w, *SIGN_MODE_RANGES[1])
        c_in = g.in_shape[0]
        if len(g.in_shape) != 3 or g.groups < 1 or c_in % g.groups or w.shape[0] % g.groups \
                or w.shape[1] != c_in // g.groups:
            raise ValueError(f"{where}: conv weights {w.shape} do not fit input {g.in_shape} with groups={g.groups}")
        for name, pair, lo in (("stride", g.stride, 1), ("padding", g.padding, 0), ("dilation", g.dilation, 1)):
            int_range(f"conv {name}", pair, lo, 127)          # Lava's Conv model holds them as int8
        if min(self.out_shape[1:]) < 1:
            raise ValueError(f"{where}: conv output {self.out_shape} is empty for input {g.in_shape}")
        fixed = {"sign_mode": (self.sign_mode, None), "weight_exp": (self.weight_exp, 0),
                 "num_weight_bits": (self.num_weight_bits, 8), "delays": (self.delays, None),
                 "recurrent_weights": (self.recurrent_weights, None)}
        for name, (value, default) in fixed.items():
            if value is not default and not (default is not None and value == default):
                raise ValueError(f"{where}: {name}={value!r} on a conv layer; Lava's Conv model has no {name} "
                                 f"(allowed: {default!r})")


def validate_network(layers: list[LoihiLayer]) -> list[LoihiLayer]:
    """Validate every layer and that consecutive layers' sizes chain."""
    if not layers:
        raise ValueError("layers must contain at least one LoihiLayer; got an empty list")
    for i, layer in enumerate(layers):
        layer.validate(i)
        if i and layer.n_in != layers[i - 1].n_out:
            raise ValueError(f"layer {i} expects {layer.n_in} inputs but layer {i - 1} has {layers[i - 1].n_out} neurons")
        if i and layers[i - 1].neuron == "sigma_delta" and not layer.num_message_bits:
            raise ValueError(f"layer {i} reads graded spikes of sigma-delta layer {i - 1}: set num_message_bits > 0")
    return layers
