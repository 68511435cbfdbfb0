"""How a chain of :class:`~snnkit.hardware.loihi.layer.LoihiLayer` s runs: one model per numeric mode of
Lava 0.10.0, each with a step path (Lava's order of operations, step by step) and a fast path (a whole
layer over all time steps at once), always equal to each other.

- :class:`FixedPointModel` reproduces ``Loihi2SimCfg(select_tag="fixed_pt")`` bit for bit;
- :class:`FloatModel` reproduces the ``floating_pt`` models.

Per Lava time step ``t`` (1-based):

- input spikes ``x[t]`` enter layer 0's synapse; the synapse output reaches the neurons one step later
  (Lava ``Dense`` and ``Conv`` have one step of latency; ``DelayDense`` adds ``delay`` more steps);
- Dense, fixed point: ``a = sum_j W_eff[i, j] s_j``, then ``a << weight_exp`` (or ``a >> -weight_exp``,
  flooring), with ``W_eff`` = the 8-bit clip of the weights for their sign mode followed by truncation to
  ``num_weight_bits`` (:func:`~snnkit.hardware.loihi.layer.effective_weights`);
- Conv, fixed point (``PyConvModelFixed``): ``a = conv(s, W)`` with the integer weights as given (the
  model ignores ``weight_exp`` and ``num_weight_bits``), then wrapped to signed 24 bit
  (``signed_clamp``); Lava's kernel is a true convolution over ``(W, H, C)``, which equals torch's
  correlation over ``(C, H, W)`` with the kernel flipped -- snnkit stores torch's kernel;
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

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from .layer import (ACT_SHIFT, BIAS_EXP_MAX, BIAS_MANT_MAX, CONV_ACC_BITS, DECAY_BITS, DECAY_UNITY, UV_HALF,
                    VTH_SHIFT, LoihiLayer, effective_weights, validate_network)

Result = dict[str, list[np.ndarray]]


def wrap_int32(x: np.ndarray) -> np.ndarray:
    """Wrap int64 values to int32 the way storing them in an int32 numpy array does."""
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


def _wrap_conv(x: np.ndarray) -> np.ndarray:
    """Lava Conv's ``signed_clamp(x, 24)``: a wrap into the signed 24-bit range (exact on float integers)."""
    half = float(1 << (CONV_ACC_BITS - 1))
    return np.mod(x + half, 2 * half) - half


def _trunc_decay(x: np.ndarray, keep: np.ndarray | int) -> np.ndarray:
    """``trunc(x * keep / 4096)`` on int64, rounding toward zero as Lava does."""
    prod = x * keep
    return np.sign(prod) * (np.abs(prod) >> DECAY_BITS)


def project(layer: LoihiLayer, w: np.ndarray, s: np.ndarray) -> np.ndarray:
    """Synaptic sums ``[..., n_out]`` (float64, exact for integers) of spikes ``s`` ``[..., n_in]``."""
    if layer.conv is None:
        return s @ w.T
    g = layer.conv
    lead = s.shape[:-1]
    x = torch.from_numpy(np.ascontiguousarray(s, dtype=np.float64).reshape(-1, *g.in_shape))
    y = F.conv2d(x, torch.from_numpy(np.asarray(w, np.float64)), stride=g.stride, padding=g.padding,
                 dilation=g.dilation, groups=g.groups)
    return y.numpy().reshape(*lead, -1)


def as_tbn(layers: list[LoihiLayer], spikes_in: np.ndarray) -> tuple[np.ndarray, bool]:
    """Input spikes as ``[T, B, N_in]`` (and whether a batch axis was added); refuses non-spike values."""
    x = np.asarray(spikes_in)
    if layers[0].num_message_bits:   # graded spikes: integers
        if not np.issubdtype(x.dtype, np.number) or not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
            raise ValueError("spikes_in must hold integers (graded spikes) for a synapse with num_message_bits > 0")
    elif x.dtype != bool:
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


class _Synapse:
    """Ring buffer of a (Delay)Dense or Conv: slot k holds what reaches the neurons k steps from now."""

    def __init__(self, layer: LoihiLayer, w: np.ndarray, delays: np.ndarray | None, n_out: int, batch: int,
                 model: "_ChainModel") -> None:
        self.layer, self.model = layer, model
        if delays is None:
            self.delay_values, self.slots = [0], [w]
        else:
            self.delay_values = sorted(int(d) for d in np.unique(delays))
            self.slots = [np.where(delays == d, w, 0) for d in self.delay_values]
        self.buf = np.zeros((max(self.delay_values) + 1, batch, n_out), model.dtype)
        self.head = 0

    def emit(self) -> np.ndarray:
        """What reaches the neurons this step (Lava sends before it receives)."""
        out = self.buf[self.head].copy()
        self.buf[self.head] = 0
        self.head = (self.head + 1) % self.buf.shape[0]
        return out

    def accumulate(self, s_in: np.ndarray, recurrent: bool = False) -> None:
        """Add this step's presynaptic spikes; delay ``d`` lands ``d + 1`` steps later."""
        depth = self.buf.shape[0]
        s = s_in.astype(np.float64)
        for d, wt in zip(self.delay_values, self.slots):
            acc = self.model.synaptic_sum(self.layer, wt, s, recurrent)
            slot = (self.head + d) % depth
            self.buf[slot] = self.model.add(self.buf[slot], acc)


class _ChainModel:
    """The two paths over time; subclasses define the arithmetic of one numeric mode."""

    dtype: type = np.float64
    fixed = False

    # --- arithmetic of the mode
    def weights(self, layer: LoihiLayer, recurrent: bool = False) -> np.ndarray:
        raise NotImplementedError

    def synaptic_sum(self, layer: LoihiLayer, w: np.ndarray, s: np.ndarray, recurrent: bool) -> np.ndarray:
        raise NotImplementedError

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return a + b

    def neuron_constants(self, layer: LoihiLayer) -> tuple:
        raise NotImplementedError

    def neuron_step(self, u: np.ndarray, v: np.ndarray, a_in: np.ndarray, consts: tuple) -> tuple:
        raise NotImplementedError

    # --- the two paths
    def step(self, layers: list[LoihiLayer], spikes_in: np.ndarray, record: bool = True) -> Result:
        """Step by step in Lava's order (every int32 wrap of Lava's arrays in fixed point)."""
        x, squeeze = as_tbn(layers, spikes_in)
        T, B = x.shape[:2]
        syn, rec, state, consts = [], [], [], []
        for layer in layers:
            syn.append(_Synapse(layer, self.weights(layer), layer.delays, layer.n_out, B, self))
            rec.append(None if layer.recurrent_weights is None else
                       _Synapse(layer, self.weights(layer, recurrent=True), None, layer.n_out, B, self))
            if layer.neuron == "sigma_delta":
                state.append(SigmaDelta.initial(layer, B))
                consts.append(None)
            else:
                state.append((np.zeros((B, layer.n_out), self.dtype), np.zeros((B, layer.n_out), self.dtype)))
                consts.append(self.neuron_constants(layer))
        out: dict[str, list[list[np.ndarray]]] = {k: [[] for _ in layers] for k in ("spikes", "u", "v")}
        for t in range(T):
            s_prev_layer = x[t]
            for i in range(len(layers)):
                a_in = syn[i].emit()
                syn[i].accumulate(s_prev_layer)
                if rec[i] is not None:
                    a_in = a_in + rec[i].emit()
                if layers[i].neuron == "sigma_delta":
                    s, state[i] = SigmaDelta.step(layers[i], state[i], wrap_int32(a_in))
                    u, v = state[i][0], state[i][1]
                else:
                    u, v = self.neuron_step(*state[i], a_in, consts[i])
                    s = v > consts[i][-1]
                    v = np.where(s, 0, v)
                    state[i] = (u, v)
                if rec[i] is not None:
                    rec[i].accumulate(s, recurrent=True)
                out["spikes"][i].append(s)
                if record:
                    out["u"][i].append(u)
                    out["v"][i].append(v)
                s_prev_layer = s
        result: Result = {}
        for key, per_layer in out.items():
            if per_layer[0]:
                arrs = [np.stack(seq) for seq in per_layer]
                result[key] = [a[:, 0] for a in arrs] if squeeze else arrs
        return result

    def fast(self, layers: list[LoihiLayer], spikes_in: np.ndarray, record: bool = True) -> Result:
        """Layer by layer: all feed-forward synaptic input of a layer in one product over time, the neuron
        update on float64 arrays holding integers (exact below 2^53)."""
        x, squeeze = as_tbn(layers, spikes_in)
        T, B = x.shape[:2]
        s_in = x.astype(np.float64)
        out: Result = {"spikes": [], "u": [], "v": []}
        for layer in layers:
            if layer.neuron == "sigma_delta":
                spikes, us, vs = SigmaDelta.run(layer, self._feedforward_input(layer, s_in, T, B), record)
            else:
                spikes, us, vs = self._fast_layer(layer, s_in, T, B, record)
            out["spikes"].append(spikes)
            if record:
                out["u"].append(us)
                out["v"].append(vs)
            s_in = spikes.astype(np.float64)
        if not record:
            del out["u"], out["v"]
        return {k: [a[:, 0] for a in arrs] if squeeze else arrs for k, arrs in out.items()}

    def _feedforward_input(self, layer: LoihiLayer, s_in: np.ndarray, T: int, B: int) -> np.ndarray:
        """Synaptic input ``[T, B, n]`` of the feed-forward synapse: delay ``d`` lands ``1 + d`` later."""
        a = np.zeros((T, B, layer.n_out))
        w = self.weights(layer).astype(np.float64)
        delays = np.zeros(w.shape, np.int64) if layer.delays is None else np.asarray(layer.delays)
        for d in np.unique(delays):
            d = int(d)
            if d + 1 >= T:
                continue
            wd = np.where(delays == d, w, 0.0) if layer.delays is not None else w
            a[1 + d:] += self.synaptic_sum(layer, wd, s_in[: T - 1 - d], recurrent=False)
        return a

    def _fast_layer(self, layer: LoihiLayer, s_in: np.ndarray, T: int, B: int, record: bool) -> tuple:
        raise NotImplementedError


class FixedPointModel(_ChainModel):
    """Lava's bit-accurate models (``fixed_pt``): ``PyLifModelBitAcc``, ``PyDenseModelBitAcc``,
    ``PyDelayDenseModelBitAcc``, ``PyConvModelFixed``."""

    dtype = np.int64
    fixed = True

    def weights(self, layer: LoihiLayer, recurrent: bool = False) -> np.ndarray:
        if recurrent:
            return effective_weights(layer.recurrent_weights, layer.recurrent_sign_mode, layer.num_weight_bits)
        if layer.conv is not None:
            return np.asarray(layer.weights, np.int64)
        return effective_weights(layer.weights, layer.sign_mode, layer.num_weight_bits)

    def synaptic_sum(self, layer: LoihiLayer, w: np.ndarray, s: np.ndarray, recurrent: bool) -> np.ndarray:
        acc = project(layer if not recurrent else _DENSE, w, s)
        if layer.conv is not None and not recurrent:
            return np.rint(_wrap_conv(acc)).astype(np.int64) if s.ndim == 2 else _wrap_conv(acc)
        if s.ndim == 2:  # step path: int64 with Lava's int32 wraps
            acc = np.rint(acc).astype(np.int64)
            e = int(layer.weight_exp)
            return wrap_int32(acc << e if e > 0 else acc >> -e)
        return _shift_float(acc, int(layer.weight_exp))

    def add(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return wrap_int32(a + b)

    def neuron_constants(self, layer: LoihiLayer) -> tuple:
        bias = np.asarray(layer.bias(), np.int64)
        bexp = np.asarray(layer.bias_exp, np.int64)
        eff_bias = wrap_int32(np.where(bexp >= 0, bias << np.maximum(bexp, 0), bias >> np.maximum(-bexp, 0)))
        return (DECAY_UNITY - (int(layer.du) + 1), DECAY_UNITY - int(layer.dv), eff_bias,
                int(layer.vth) << VTH_SHIFT)

    def neuron_step(self, u, v, a_in, consts):
        keep_u, keep_v, bias, _ = consts
        a_in = wrap_int32(a_in)
        u = wrap_int32(wrap_int32(_trunc_decay(u, keep_u)) + wrap_int32(a_in << ACT_SHIFT))
        u = np.where(u > UV_HALF, u - 2 * UV_HALF, u)
        u = np.where(u <= -UV_HALF, u + 2 * UV_HALF, u)
        v = wrap_int32(wrap_int32(_trunc_decay(v, keep_v)) + u + bias)
        return u, np.clip(v, -UV_HALF + 1, UV_HALF - 1)

    def can_run_fast(self, layers: list[LoihiLayer]) -> bool:
        """True when no synaptic sum, ``a_in << 6`` or ``u``/``v`` update can leave int32 (then the fast
        path is exact). Graded spikes (``num_message_bits > 0``) have no such bound: step path."""
        for layer in layers:
            if layer.num_message_bits or layer.neuron != "lif":
                return False
            bound = _row_bound(layer, layer.recurrent_weights is not None)
            if (bound << ACT_SHIFT) + 2 * UV_HALF + (BIAS_MANT_MAX << BIAS_EXP_MAX) >= (1 << 31):
                return False
        return True

    def _fast_layer(self, layer, s_in, T, B, record):
        n = layer.n_out
        a = self._feedforward_input(layer, s_in, T, B) * float(1 << ACT_SHIFT)
        rec = None if layer.recurrent_weights is None else self.weights(layer, recurrent=True).astype(np.float64).T
        bias = (np.asarray(layer.bias(), np.int64) << np.asarray(layer.bias_exp, np.int64)).astype(np.float64)
        cu = (DECAY_UNITY - (int(layer.du) + 1)) / DECAY_UNITY
        cv = (DECAY_UNITY - int(layer.dv)) / DECAY_UNITY
        vth = float(int(layer.vth) << VTH_SHIFT)
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
        u_bound = a_max * (1.0 / (1.0 - cu) if cu < 1 else float("inf"))
        check_u = not (u_bound < UV_HALF)
        v_bound = (u_bound + float(np.abs(bias).max())) * (1.0 / (1.0 - cv) if cv < 1 else float("inf"))
        check_v = not (v_bound < UV_HALF - 1)
        for t in range(T):
            a_t = a[t]
            if rec is not None and t:
                a_t = a_t + _shift_float(s_prev @ rec, int(layer.weight_exp)) * float(1 << ACT_SHIFT)
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
            s_prev = _fire(t, u, v, vth, spikes, us, vs)
        return spikes, (us.astype(np.int64) if record else None), (vs.astype(np.int64) if record else None)


def _fire(t: int, u: np.ndarray, v: np.ndarray, vth, spikes: np.ndarray, us: np.ndarray | None,
          vs: np.ndarray | None) -> np.ndarray:
    """Step ``t`` of a fast LIF layer: spike where ``v > vth``, reset those ``v`` to 0 (in place), store the
    spikes and, when recording (``us`` given), ``u`` and ``v``. Returns the spikes."""
    s = v > vth
    v[s] = 0.0
    spikes[t] = s
    if us is not None:
        us[t], vs[t] = u, v
    return s


class FloatModel(_ChainModel):
    """Lava's floating-point models (``floating_pt``): the layers' ``du``, ``dv``, ``vth``, ``bias_mant``
    and weights may be floats (``du`` is the fraction ``1 - alpha``)."""

    def weights(self, layer: LoihiLayer, recurrent: bool = False) -> np.ndarray:
        return np.asarray(layer.recurrent_weights if recurrent else layer.weights, np.float64)

    def synaptic_sum(self, layer: LoihiLayer, w: np.ndarray, s: np.ndarray, recurrent: bool) -> np.ndarray:
        return project(layer if not recurrent else _DENSE, w, s)

    def neuron_constants(self, layer: LoihiLayer) -> tuple:
        bias = np.zeros(layer.n_out) if layer.bias_mant is None else np.asarray(layer.bias_mant, float)
        return 1 - float(layer.du), 1 - float(layer.dv), bias, float(layer.vth)

    def neuron_step(self, u, v, a_in, consts):
        keep_u, keep_v, bias, _ = consts
        u = u * keep_u + a_in
        return u, v * keep_v + u + bias

    def _fast_layer(self, layer, s_in, T, B, record):
        n = layer.n_out
        a = self._feedforward_input(layer, s_in, T, B)
        rec = None if layer.recurrent_weights is None else self.weights(layer, recurrent=True).T
        keep_u, keep_v, bias, vth = self.neuron_constants(layer)
        u, v, s_prev = np.zeros((B, n)), np.zeros((B, n)), np.zeros((B, n))
        spikes = np.empty((T, B, n), bool)
        us, vs = (np.empty((T, B, n)), np.empty((T, B, n))) if record else (None, None)
        for t in range(T):
            a_t = a[t] if rec is None or not t else a[t] + s_prev @ rec
            u = u * keep_u + a_t
            v = v * keep_v + u + bias
            s_prev = _fire(t, u, v, vth, spikes, us, vs)
        return spikes, us, vs


class SigmaDelta:
    """Lava's ``SigmaDelta`` neuron, fixed point (``PySigmaDeltaModelFixed``, no cumulative error), per step::

        sigma += a_in;  act = relu(sigma + bias')  (or unit);  delta = act - act_prev + residue
        s' = delta where |delta| >= vth' else 0;  residue = delta - s';  out = s' >> state_exp

    with ``vth' = vth << (spike_exp + state_exp)`` and ``bias'`` likewise; Lava's arrays are int32.
    State: ``(sigma, act, residue)``; recorded as ``u`` = sigma, ``v`` = act, ``spikes`` = out (graded)."""

    @staticmethod
    def initial(layer: LoihiLayer, batch: int) -> tuple:
        return tuple(np.zeros((batch, layer.n_out), np.int64) for _ in range(3))

    @staticmethod
    def step(layer: LoihiLayer, state: tuple, a_in: np.ndarray) -> tuple[np.ndarray, tuple]:
        sigma, act_prev, residue = state
        shift = int(layer.spike_exp) + int(layer.state_exp)
        sigma = wrap_int32(sigma + a_in)
        act = wrap_int32(sigma + (layer.bias() << shift))
        if layer.act_mode == "relu":
            act = np.maximum(act, 0)
        delta = wrap_int32(act - act_prev + residue)
        s = np.where(np.abs(delta) >= (int(layer.vth) << shift), delta, 0)
        return s >> int(layer.state_exp), (sigma, act, wrap_int32(delta - s))

    @staticmethod
    def run(layer: LoihiLayer, a: np.ndarray, record: bool) -> tuple:
        """All steps of one layer from its synaptic input ``a`` ``[T, B, n]`` (float64 holding integers)."""
        a = np.rint(a).astype(np.int64)
        state = SigmaDelta.initial(layer, a.shape[1])
        outs, us, vs = [], [], []
        for t in range(a.shape[0]):
            s, state = SigmaDelta.step(layer, state, wrap_int32(a[t]))
            outs.append(s)
            us.append(state[0])
            vs.append(state[1])
        return np.stack(outs), (np.stack(us) if record else None), (np.stack(vs) if record else None)


class _DenseView:
    """Marks a recurrent (always Dense) projection inside a conv layer's model."""

    conv = None


_DENSE = _DenseView()


def _shift_float(acc: np.ndarray, weight_exp: int) -> np.ndarray:
    return acc * float(1 << weight_exp) if weight_exp >= 0 else np.floor(acc / float(1 << -weight_exp))


def _row_bound(layer: LoihiLayer, with_recurrent: bool) -> int:
    """Largest possible |synaptic sum| into one neuron (before ``<< 6``)."""
    if layer.conv is not None:
        per_channel = np.abs(np.asarray(layer.weights, np.int64)).reshape(layer.weights.shape[0], -1).sum(1)
        bound = min(int(per_channel.max()), 1 << (CONV_ACC_BITS - 1))
    else:
        eff = effective_weights(layer.weights, layer.sign_mode, layer.num_weight_bits)
        bound = int(np.abs(eff).sum(axis=1).max()) << max(int(layer.weight_exp), 0)
    if with_recurrent:
        eff = effective_weights(layer.recurrent_weights, layer.recurrent_sign_mode, layer.num_weight_bits)
        bound += int(np.abs(eff).sum(axis=1).max()) << max(int(layer.weight_exp), 0)
    return bound


MODELS: dict[str, _ChainModel] = {"fixed": FixedPointModel(), "float": FloatModel()}


def simulate(layers: list[LoihiLayer], spikes_in: np.ndarray, mode: str = "fixed",
             record: bool = True, engine: str = "auto") -> Result:
    """Run the layer chain on input spikes ``[T, N_in]`` or ``[T, B, N_in]`` exactly as Lava would.

    ``mode="fixed"`` reproduces ``Loihi2SimCfg(select_tag="fixed_pt")`` bit for bit (:class:`FixedPointModel`);
    ``mode="float"`` the ``floating_pt`` models (:class:`FloatModel`). Returns
    ``{"spikes": [...], "u": [...], "v": [...]}``, one ``[T, (B,) N]`` array per layer (``u``/``v`` only
    with ``record=True``); the batch axis is dropped again when the input had none. Conv layers' neurons
    are flattened in ``(C, H, W)`` order.

    ``engine``: ``"fast"`` (layer by layer), ``"step"`` (step by step, every int32 wrap of Lava's arrays),
    or ``"auto"``: fast whenever no int32 wrap can occur (worst-case input bounded).
    """
    if mode not in MODELS:
        raise ValueError(f"mode={mode!r}; allowed: 'fixed', 'float'")
    if engine not in ("auto", "fast", "step"):
        raise ValueError(f"engine={engine!r}; allowed: 'auto', 'fast', 'step'")
    model = MODELS[mode]
    if model.fixed:
        validate_network(layers)
    elif any(layer.neuron != "lif" for layer in layers):
        raise ValueError("sigma-delta layers run in fixed point only (mode='fixed')")
    if engine == "fast" or (engine == "auto" and (not model.fixed or model.can_run_fast(layers))):
        return model.fast(layers, spikes_in, record)
    return model.step(layers, spikes_in, record)


__all__ = ["FixedPointModel", "FloatModel", "SigmaDelta", "MODELS", "simulate", "project", "as_tbn"]
