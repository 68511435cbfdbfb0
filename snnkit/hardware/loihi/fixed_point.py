"""Loihi 2 fixed point as Lava 0.10.0 computes it, and a vectorised bit-exact simulator of it.

The network is a chain of :class:`LoihiLayer` s. Each layer is a synapse (Lava ``Dense``, or
``DelayDense`` when it has per-synapse delays, plus an optional recurrent ``Dense`` from its own
spikes) feeding a population of Lava ``LIF`` neurons. Per Lava time step ``t`` (1-based):

- input spikes ``x[t]`` enter layer 0's synapse; the synapse output reaches the neurons one step later
  (Lava ``Dense`` has one step of latency; ``DelayDense`` adds ``delay`` more steps);
- synapse, fixed point: ``a = sum_j W_eff[i, j] s_j``, then ``a << weight_exp`` (or ``a >> -weight_exp``,
  flooring), with ``W_eff`` = the 8-bit clip of the weights for their sign mode followed by truncation to
  ``num_weight_bits`` (:func:`effective_weights`);
- LIF, fixed point (``PyLifModelBitAcc``)::

      u = trunc(u * (4096 - (du + 1)) / 4096) + (a_in << 6), then one 24-bit wrap
      v = clip(trunc(v * (4096 - dv) / 4096) + u + (bias_mant << bias_exp), -(2^23 - 1), 2^23 - 1)
      s = v > (vth << 6);  v[s] = 0

  ``trunc`` rounds toward zero. Lava stores ``a_in``, ``u`` and ``v`` in int32 arrays; we compute in
  int64 and wrap to int32 exactly where Lava's arrays would, so even overflowing inputs agree.
- floating point (``PyLifModelFloat``): ``u = u (1 - du) + a_in``, ``v = v (1 - dv) + u + bias_mant``
  (``bias_exp`` ignored), spike ``v > vth``, reset to 0; synapse ``a = W s`` (no clipping).

All states are ``[B, N]``; time is the only Python loop.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

# Bit widths of Loihi 2 as Lava models them.
DECAY_BITS = 12
DECAY_UNITY = 1 << DECAY_BITS           # 4096
MAX_DECAY = DECAY_UNITY - 1             # du, dv: unsigned 12 bit
MAX_VTH = (1 << 17) - 1                 # threshold mantissa: unsigned 17 bit
VTH_SHIFT = 6
ACT_SHIFT = 6
BIAS_MANT_MIN, BIAS_MANT_MAX = -(1 << 12), (1 << 12) - 1   # signed 13 bit
BIAS_EXP_MAX = 7                        # unsigned 3 bit
UV_HALF = 1 << 23                       # u, v: signed 24 bit
MAX_DELAY = 62                          # 6 delay bits; lava-dl netx clamps to 62, so we refuse above it
WEIGHT_EXP_RANGE = (-8, 7)

SIGN_MODES = {"mixed": 1, "excitatory": 2, "inhibitory": 3}
SIGN_MODE_NAMES = {v: k for k, v in SIGN_MODES.items()}


def load_profile(name: str = "loihi2") -> dict[str, Any]:
    """The chip profile ``hardware/<name>.toml`` of the repository (limits the simulator enforces)."""
    import tomllib
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "hardware" / f"{name}.toml"
    if not path.exists():
        raise ValueError(f"chip profile {name!r} not found at {path}")
    with open(path, "rb") as f:
        return tomllib.load(f)


def _i32(x: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 the way storing them in an int32 numpy array does."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


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
    w = np.clip(w, -(1 << 8) * mixed, (1 << 8) - 1)
    drop = 8 - int(num_weight_bits) + mixed
    if drop < 0:
        # Lava shifts by a negative amount here (9 bits on a one-signed matrix, as lava-dl netx can ask):
        # numpy defines that as 0, so every weight vanishes. We state it instead of relying on it.
        return np.zeros_like(w)
    w = (w >> drop) << drop  # arithmetic shift: floors negative weights, like Lava
    return -w if inhibitory else w


def _shift(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    return acc << weight_exp if weight_exp > 0 else acc >> -weight_exp


def _trunc_decay(x: np.ndarray, keep: np.ndarray | int) -> np.ndarray:
    """``trunc(x * keep / 4096)`` on int64, rounding toward zero as Lava does."""
    prod = x * keep
    return np.sign(prod) * (np.abs(prod) >> DECAY_BITS)


@dataclass
class LoihiLayer:
    """One synapse + LIF population in Loihi 2 fixed point (the values Lava's processes receive).

    ``weights`` ``[out, in]`` ints; ``delays`` ``[out, in]`` ints in 0..62 (``None``: plain Dense);
    ``recurrent_weights`` ``[out, out]`` (own spikes back to own input through a Dense with the same
    ``weight_exp``/``num_weight_bits``); ``du``, ``dv`` in 0..4095; ``vth`` in 0..2^17-1;
    ``bias_mant`` ``[out]`` signed 13 bit; ``bias_exp`` in 0..7. ``sign_mode`` ``None`` lets Lava
    infer it from the weights (1 mixed, 2 excitatory, 3 inhibitory).
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

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])

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
        if w.ndim != 2:
            raise ValueError(f"{where}: weights must be 2-D [out, in]; got shape {w.shape}")
        _int_range("num_weight_bits", self.num_weight_bits, 1, 9)  # 9: mixed sign keeping the LSB (netx sets it)
        for name, mat, mode in (("weights", w, self.sign_mode),
                                ("recurrent_weights", self.recurrent_weights, self.recurrent_sign_mode)):
            if mat is None:
                continue
            m = sign_mode_of(np.asarray(mat)) if mode is None else int(mode)
            if m not in SIGN_MODE_NAMES:
                raise ValueError(f"{where}: sign_mode={mode!r}; allowed: {sorted(SIGN_MODE_NAMES)} (1 mixed, 2 exc, 3 inh)")
            lo, hi = {1: (-256, 255), 2: (0, 255), 3: (-255, 0)}[m]
            _int_range(f"{name} ({SIGN_MODE_NAMES[m]} sign mode)", mat, lo, hi)
        if self.recurrent_weights is not None and np.shape(self.recurrent_weights) != (self.n_out, self.n_out):
            raise ValueError(f"{where}: recurrent_weights must be [{self.n_out}, {self.n_out}]; "
                             f"got {np.shape(self.recurrent_weights)}")
        _int_range("weight_exp", self.weight_exp, *WEIGHT_EXP_RANGE)
        _int_range("du", self.du, 0, MAX_DECAY)
        _int_range("dv", self.dv, 0, MAX_DECAY)
        _int_range("vth", self.vth, 0, MAX_VTH)
        _int_range("bias_exp", self.bias_exp, 0, BIAS_EXP_MAX)
        if self.bias_mant is not None:
            _int_range("bias_mant", self.bias_mant, BIAS_MANT_MIN, BIAS_MANT_MAX)
            if np.shape(self.bias_mant) != (self.n_out,):
                raise ValueError(f"{where}: bias_mant must have shape ({self.n_out},); got {np.shape(self.bias_mant)}")
        if self.delays is not None:
            if np.shape(self.delays) != w.shape:
                raise ValueError(f"{where}: delays must have the weights' shape {w.shape}; got {np.shape(self.delays)}")
            _int_range("delays", self.delays, 0, MAX_DELAY)
        return self


def validate_network(layers: list[LoihiLayer]) -> list[LoihiLayer]:
    """Validate every layer and that consecutive layers' sizes chain."""
    if not layers:
        raise ValueError("layers must contain at least one LoihiLayer; got an empty list")
    for i, layer in enumerate(layers):
        layer.validate(i)
        if i and layer.n_in != layers[i - 1].n_out:
            raise ValueError(f"layer {i} expects {layer.n_in} inputs but layer {i - 1} has {layers[i - 1].n_out} neurons")
    return layers


class _Synapse:
    """Ring buffer of a (Delay)Dense: slot k holds what reaches the neurons k steps from now."""

    def __init__(self, w: np.ndarray, delays: np.ndarray | None, weight_exp: int, batch: int, fixed: bool) -> None:
        self.fixed, self.weight_exp = fixed, int(weight_exp)
        dtype = np.int64 if fixed else np.float64
        if delays is None:
            self.slots = [w.T.astype(dtype)]                         # one delay: 0
            self.delay_values = [0]
        else:
            self.delay_values = sorted(int(d) for d in np.unique(delays))
            self.slots = [np.where(delays == d, w, 0).T.astype(dtype) for d in self.delay_values]
        depth = (max(self.delay_values) + 1)
        self.buf = np.zeros((depth, batch, w.shape[0]), dtype)
        self.head = 0

    def emit(self) -> np.ndarray:
        """What reaches the neurons this step (Lava sends before it receives)."""
        out = self.buf[self.head].copy()
        self.buf[self.head] = 0
        self.head = (self.head + 1) % self.buf.shape[0]
        return out

    def accumulate(self, s_in: np.ndarray) -> None:
        """Add this step's presynaptic spikes; delay ``d`` lands ``d + 1`` steps later."""
        depth = self.buf.shape[0]
        s = s_in.astype(self.slots[0].dtype)
        for d, wt in zip(self.delay_values, self.slots):
            acc = s @ wt
            if self.fixed:
                acc = _i32(_shift(acc, self.weight_exp))
            slot = (self.head + d) % depth
            self.buf[slot] = _i32(self.buf[slot] + acc) if self.fixed else self.buf[slot] + acc


def simulate(layers: list[LoihiLayer], spikes_in: np.ndarray, mode: str = "fixed",
             record: bool = True, engine: str = "auto") -> dict[str, list[np.ndarray]]:
    """Run the layer chain on input spikes ``[T, N_in]`` or ``[T, B, N_in]`` exactly as Lava would.

    ``mode="fixed"`` reproduces ``Loihi2SimCfg(select_tag="fixed_pt")`` bit for bit (int64 arithmetic
    with Lava's int32 wraps); ``mode="float"`` reproduces the ``floating_pt`` models (then the layers'
    ``du``, ``dv``, ``vth``, ``bias_mant`` and weights may be floats: ``du`` is the fraction ``1 - alpha``).
    Returns ``{"spikes": [...], "u": [...], "v": [...]}``, one ``[T, (B,) N]`` array per layer
    (``u``/``v`` only with ``record=True``); the batch axis is dropped again when the input had none.

    ``engine``: ``"fast"`` runs layer by layer, all synaptic input of a feed-forward synapse in one matrix
    product over time and the neuron update on float64 arrays holding integers (exact below 2^53); it is
    used by ``"auto"`` whenever no int32 wrap can occur (worst-case input bounded); ``"step"`` is the
    step-by-step int64 path with every int32 wrap of Lava's arrays.
    """
    if mode not in ("fixed", "float"):
        raise ValueError(f"mode={mode!r}; allowed: 'fixed', 'float'")
    if engine not in ("auto", "fast", "step"):
        raise ValueError(f"engine={engine!r}; allowed: 'auto', 'fast', 'step'")
    fixed = mode == "fixed"
    if fixed:
        validate_network(layers)
    if engine == "fast" or (engine == "auto" and (not fixed or _no_int32_wrap(layers))):
        return _simulate_fast(layers, spikes_in, fixed, record)
    x, squeeze = _as_tbn(layers, spikes_in)
    T, B = x.shape[:2]
    dtype = np.int64 if fixed else np.float64
    syn, rec, state = [], [], []
    for layer in layers:
        w = effective_weights(layer.weights, layer.sign_mode, layer.num_weight_bits) if fixed else np.asarray(layer.weights, float)
        syn.append(_Synapse(w, layer.delays, layer.weight_exp, B, fixed))
        if layer.recurrent_weights is not None:
            wr = (effective_weights(layer.recurrent_weights, layer.recurrent_sign_mode, layer.num_weight_bits)
                  if fixed else np.asarray(layer.recurrent_weights, float))
            rec.append(_Synapse(wr, None, layer.weight_exp, B, fixed))
        else:
            rec.append(None)
        state.append([np.zeros((B, layer.n_out), dtype), np.zeros((B, layer.n_out), dtype),
                      np.zeros((B, layer.n_out), bool)])
    out: dict[str, list[list[np.ndarray]]] = {"spikes": [[] for _ in layers], "u": [[] for _ in layers],
                                               "v": [[] for _ in layers]}
    consts = []
    for layer in layers:
        if fixed:
            bias = np.asarray(layer.bias(), np.int64)
            bexp = np.asarray(layer.bias_exp, np.int64)
            eff_bias = _i32(np.where(bexp >= 0, bias << np.maximum(bexp, 0), bias >> np.maximum(-bexp, 0)))
            consts.append((DECAY_UNITY - (int(layer.du) + 1), DECAY_UNITY - int(layer.dv), eff_bias,
                           int(layer.vth) << VTH_SHIFT))
        else:
            bias = np.zeros(layer.n_out) if layer.bias_mant is None else np.asarray(layer.bias_mant, float)
            consts.append((1 - float(layer.du), 1 - float(layer.dv), bias, float(layer.vth)))
    for t in range(T):
        s_prev_layer = x[t]
        for i, layer in enumerate(layers):
            u, v, _ = state[i]
            a_in = syn[i].emit()
            syn[i].accumulate(s_prev_layer)
            if rec[i] is not None:
                a_in = a_in + rec[i].emit()
            keep_u, keep_v, bias, vth = consts[i]
            if fixed:
                a_in = _i32(a_in)
                u = _i32(_i32(_trunc_decay(u, keep_u)) + _i32(a_in << ACT_SHIFT))
                u = np.where(u > UV_HALF, u - 2 * UV_HALF, u)
                u = np.where(u <= -UV_HALF, u + 2 * UV_HALF, u)
                v = _i32(_i32(_trunc_decay(v, keep_v)) + u + bias)
                v = np.clip(v, -UV_HALF + 1, UV_HALF - 1)
            else:
                u = u * keep_u + a_in
                v = v * keep_v + u + bias
            s = v > vth
            v = np.where(s, 0, v)
            if rec[i] is not None:
                rec[i].accumulate(s)
            state[i] = [u, v, s]
            out["spikes"][i].append(s)
            if record:
                out["u"][i].append(u)
                out["v"][i].append(v)
            s_prev_layer = s
    result: dict[str, list[np.ndarray]] = {}
    for key, per_layer in out.items():
        if not per_layer[0]:
            continue
        arrs = [np.stack(seq) for seq in per_layer]
        result[key] = [a[:, 0] for a in arrs] if squeeze else arrs
    return result


def with_float_params(layer: LoihiLayer, **changes: Any) -> LoihiLayer:
    """A copy of ``layer`` with some fields replaced (e.g. float ``du`` for ``mode="float"``)."""
    return replace(layer, **changes)


def _as_tbn(layers: list[LoihiLayer], spikes_in: np.ndarray) -> tuple[np.ndarray, bool]:
    x = np.asarray(spikes_in)
    if x.dtype != bool:
        if not np.issubdtype(x.dtype, np.number) or not np.all((x == 0) | (x == 1)):
            bad = x[(x != 0) & (x != 1)] if np.issubdtype(x.dtype, np.number) else x.dtype
            raise ValueError(f"spikes_in must hold spikes, 0 or 1 (bool or numbers); got values like "
                             f"{np.ravel(bad)[:3]!r}. Loihi's unary spikes carry no magnitude: encode graded "
                             "inputs as spike trains first")
    squeeze = x.ndim == 2
    if squeeze:
        x = x[:, None, :]
    if x.ndim != 3 or x.shape[2] != layers[0].n_in:
        raise ValueError(f"spikes_in must be [T, N_in] or [T, B, N_in] with N_in={layers[0].n_in}; got {x.shape}")
    return x, squeeze


def _row_bound(w: np.ndarray | None, layer: LoihiLayer, mode: int | None) -> int:
    if w is None:
        return 0
    eff = effective_weights(w, mode, layer.num_weight_bits)
    return int(np.abs(eff).sum(axis=1).max()) << max(int(layer.weight_exp), 0)


def _no_int32_wrap(layers: list[LoihiLayer]) -> bool:
    """True when no synaptic sum, ``a_in << 6`` or ``u``/``v`` update can leave int32 (then the fast engine
    is exact)."""
    for layer in layers:
        bound = _row_bound(layer.weights, layer, layer.sign_mode) + \
            _row_bound(layer.recurrent_weights, layer, layer.recurrent_sign_mode)
        if (bound << ACT_SHIFT) + 2 * UV_HALF + (BIAS_MANT_MAX << BIAS_EXP_MAX) >= (1 << 31):
            return False
    return True


def _shift_float(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    return acc * float(1 << weight_exp) if weight_exp >= 0 else np.floor(acc / float(1 << -weight_exp))


def _simulate_fast(layers: list[LoihiLayer], spikes_in: np.ndarray, fixed: bool,
                   record: bool) -> dict[str, list[np.ndarray]]:
    """Layer-major engine (see :func:`simulate`): integers held exactly in float64."""
    x, squeeze = _as_tbn(layers, spikes_in)
    T, B = x.shape[:2]
    s_in = x.astype(np.float64)
    out: dict[str, list[np.ndarray]] = {"spikes": [], "u": [], "v": []}
    for layer in layers:
        n = layer.n_out
        if fixed:
            w = effective_weights(layer.weights, layer.sign_mode, layer.num_weight_bits).astype(np.float64)
        else:
            w = np.asarray(layer.weights, np.float64)
        # Synaptic input of the feed-forward (Delay)Dense for every step at once: delay d lands 1 + d later.
        a = np.zeros((T, B, n))
        delays = np.zeros(w.shape, np.int64) if layer.delays is None else np.asarray(layer.delays)
        for d in np.unique(delays):
            d = int(d)
            if d + 1 >= T:
                continue
            wd = np.where(delays == d, w, 0.0) if layer.delays is not None else w
            acc = s_in[: T - 1 - d] @ wd.T
            a[1 + d:] += _shift_float(acc, int(layer.weight_exp)) if fixed else acc
        rec = None
        if layer.recurrent_weights is not None:
            rec = (effective_weights(layer.recurrent_weights, layer.recurrent_sign_mode, layer.num_weight_bits)
                   if fixed else np.asarray(layer.recurrent_weights)).astype(np.float64).T
        if fixed:
            a *= float(1 << ACT_SHIFT)
            bias = (np.asarray(layer.bias(), np.int64) << np.asarray(layer.bias_exp, np.int64)).astype(np.float64)
            cu = (DECAY_UNITY - (int(layer.du) + 1)) / DECAY_UNITY
            cv = (DECAY_UNITY - int(layer.dv)) / DECAY_UNITY
            vth = float(int(layer.vth) << VTH_SHIFT)
        else:
            bias = np.zeros(n) if layer.bias_mant is None else np.asarray(layer.bias_mant, np.float64)
            cu, cv, vth = 1 - float(layer.du), 1 - float(layer.dv), float(layer.vth)
        u, v = np.zeros((B, n)), np.zeros((B, n))
        s_prev = np.zeros((B, n))
        spikes = np.empty((T, B, n), bool)
        us = np.empty((T, B, n)) if record else None
        vs = np.empty((T, B, n)) if record else None
        lo, hi, two_h = -float(UV_HALF - 1), float(UV_HALF - 1), float(2 * UV_HALF)
        # Static bounds: skip the u wrap / v clip when they provably cannot trigger (a large saving per step).
        a_max = float(np.abs(a).max()) if a.size else 0.0
        if rec is not None:
            a_max += float(np.abs(rec).sum(axis=0).max()) * (2.0 ** max(int(layer.weight_exp), 0)) * (1 << ACT_SHIFT)
        u_bound = a_max * (1.0 / (1.0 - cu) if cu < 1 else float("inf")) if fixed else float("inf")
        check_u = not (u_bound < UV_HALF)
        v_bound = (u_bound + float(np.abs(bias).max())) * (1.0 / (1.0 - cv) if cv < 1 else float("inf"))
        check_v = not (v_bound < UV_HALF - 1)
        for t in range(T):
            a_t = a[t]
            if rec is not None and t:
                r = s_prev @ rec
                a_t = a_t + (_shift_float(r, int(layer.weight_exp)) * float(1 << ACT_SHIFT) if fixed else r)
            if fixed:
                u *= cu
                np.trunc(u, out=u)
                u += a_t
                if check_u:
                    u -= (u > UV_HALF) * two_h
                    u += (u <= -UV_HALF) * two_h
                v *= cv
                np.trunc(v, out=v)
                v += u
                v += bias
                if check_v:
                    np.clip(v, lo, hi, out=v)
            else:
                u = u * cu + a_t
                v = v * cv + u + bias
            s = v > vth
            v[s] = 0.0
            spikes[t] = s
            if record:
                us[t], vs[t] = u, v
            s_prev = s
        out["spikes"].append(spikes)
        if record:
            out["u"].append(us.astype(np.int64) if fixed else us)
            out["v"].append(vs.astype(np.int64) if fixed else vs)
        s_in = spikes.astype(np.float64)
    if not record:
        del out["u"], out["v"]
    return {k: [a[:, 0] for a in arrs] if squeeze else arrs for k, arrs in out.items()}
