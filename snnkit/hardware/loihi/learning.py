"""Plasticity on the chip: Loihi 2's learning engine as Lava 0.10.0 simulates it, bit for bit.

Lava runs on-chip learning in ``LearningDense`` (``lava.proc.dense``) with a learning rule from
``lava.magma.core.learning`` (``Loihi2FLearningRule``, ``Loihi3FLearningRule``) or
``lava.proc.learning_rules`` (``STDPLoihi``, ``RewardModulatedSTDP``). A rule is a sum of products::

    dw = sum_k  m_k * 2^e_k * D_k * F_k1 * F_k2 ...

with a dependency ``D`` (``x0``: the pre neuron spiked in this epoch, ``y0``: the post neuron spiked,
``u0``: every epoch), factors (pre traces ``x1``, post traces ``y1``, ``y2`` (three-factor: sent by
the post neuron), the tag ``t``) and a scale ``m * 2^e`` with an integer mantissa ``-8 <= m <= 7`` and
``-7 <= e <= 8``. :class:`EngineRule` holds one as numbers; :func:`stdp_loihi_rule` and
:func:`reward_modulated_stdp_rule` build what Lava's ``STDPLoihi`` and ``RewardModulatedSTDP`` build;
:func:`pair_stdp_to_loihi` maps snnkit's :class:`~snnkit.plasticity.PairSTDP` to a rule, refusing what
the chip cannot express. :func:`simulate_learning` is snnkit's own model of
``LearningDense`` + rule under ``Loihi2SimCfg(select_tag="fixed_pt")`` (Lava's
``PyLearningDenseModelBitApproximate``: "bit-approximate" to the silicon, so this is exact against
Lava's model, not a claim about the chip). Per time step ``t`` (1-based) it does what Lava does:

- spiking phase: a pre spike records its within-epoch time ``tx`` (a second spike in the same epoch
  first adds the impulse to ``x1`` undecayed, rounding a fractional impulse up); a post spike records
  ``ty`` (likewise for ``y``); three-factor rules then take ``y1``, ``y2`` from the neuron;
- learning phase, when ``t % t_epoch == 0``: the traces are advanced through the epoch step by step,
  ``x <- stochastic_round(exp(-1/tau) * x)`` then ``+ impulse`` at the recorded spike time, clipped to
  ``[0, 127]`` (7 bits); each product reads the traces at the spike time of its dependency (``x0``:
  the pre spike time, ``y0``: the post spike time, ``u0``: end of epoch), so a pre and a post spike at
  the same step count both ways; the synaptic variable ``v`` (8-bit weight or tag) goes to a 15-bit
  accumulator ``v << 7``; each product is multiplied out in integers, right-shifted by
  ``max(0, sum of factor widths + 4 - 15)`` (widths: traces 7, ``t``/``w`` 9), shifted left by ``e + 7``
  and saturated; the sum is stochastically rounded to a multiple of ``2^7`` and shifted back, then
  clipped to the weight range of the sign mode (mixed ``[-256, 255]``, excitatory ``[0, 255]``,
  inhibitory ``[-255, 0]``; tags ``[-257, 255]``);
- stochastic rounding uses Lava's own generators: numpy ``default_rng(rng_seed)`` (x decay),
  ``rng_seed + 1`` (x impulse), ``+ 2``, ``+ 3`` (y), and ``default_rng(2)`` for the synaptic
  variables (Lava fixes that seed), advanced exactly when Lava advances them (twice per step for the
  traces, once per epoch for the synapses). So a run is bit-exact only with the same ``rng_seed``:
  Lava draws a random one when ``rng_seed`` is None.
- the initial weights are truncated once to ``num_weight_bits`` (mixed sign mode: one bit more), as
  Lava's first spiking phase does; learned weights are NOT truncated again, so they keep 8 bits whatever
  ``num_weight_bits`` says. ``weight_exp`` only scales the synaptic output, not learning.

Post spikes are given, or come from a fixed-point LIF driven by the learning synapse (a closed loop,
``simulate_learning(..., neuron=...)``). :func:`run_lava_learning` runs the same in the real Lava
runtime (a subprocess of ``.venv-lava``, as :func:`~snnkit.hardware.loihi.run_lava` does).

Precision limits (what separates the chip from snnkit's float :class:`~snnkit.plasticity.PairSTDP`):
scales are ``m * 2^e`` (relative error up to 1/9 where the wanted value falls between representable
ones, reported by :attr:`LoihiSTDPMapping.scale_error`); traces are 7-bit integers (an impulse of 16
gives 1/16 resolution, saturation at 127 = about 8 stacked impulses) rounded stochastically at every
decay step (unbiased, about one unit of noise); weights are integers, each epoch's change rounded
stochastically to one weight unit (unbiased); with ``t_epoch > 1`` only the last spike of a neuron in
an epoch is a dependency. :func:`precision_limits` turns these into the expected difference, its spread
and a worst case.
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from .lava_runner import run_script
from .layer import LoihiLayer
from .models import FixedPointModel, wrap_int32

TRACE_BITS = 7                      # traces are unsigned 7-bit: [0, 127]
TRACE_MAX = (1 << TRACE_BITS) - 1
IMPULSE_FRAC_BITS = 8               # an impulse has 8 fractional bits, added by stochastic rounding
ACC_BITS = 15                       # the learning accumulator is signed 16 bit (15 + sign)
SYN_BITS = 8                        # weights and tags: 8 bits + sign
ACC_SHIFT = ACC_BITS - SYN_BITS     # 7: a weight unit is 2^7 in the accumulator
MANT_BITS = 4                       # width of a scale's mantissa in the product
FACTOR_BITS = {"x1": TRACE_BITS, "y1": TRACE_BITS, "y2": TRACE_BITS, "y3": TRACE_BITS, "t": SYN_BITS + 1,
               "w": SYN_BITS + 1}
DEPENDENCIES = ("x0", "y0", "u0")
MANTISSA_MAX, EXP_MIN, EXP_MAX = 7, -7, 8
EPOCH_MAX = (1 << 6) - 1            # within-epoch spike times are 6-bit
THREE_FACTOR_TAU = np.iinfo(np.uint16).max   # Loihi3FLearningRule's y-trace "no decay"
SYN_SEED = 2                        # Lava's ConnVarRandom() default seed
SIGN_MODES = {1: "mixed", 2: "excitatory", 3: "inhibitory"}
_SCRIPT = Path(__file__).with_name("_lava_learning_script.py")


@dataclass(frozen=True)
class Product:
    """One term ``mantissa * 2^exponent * dependency * factors`` of a learning rule."""

    dependency: str
    factors: tuple[str, ...]
    mantissa: int
    exponent: int

    def __post_init__(self) -> None:
        if self.dependency not in DEPENDENCIES:
            raise ValueError(f"dependency={self.dependency!r}; allowed: {DEPENDENCIES}")
        for f in self.factors:
            if f not in FACTOR_BITS:
                raise ValueError(f"factor={f!r}; allowed: {tuple(FACTOR_BITS)}")
        if not (isinstance(self.mantissa, (int, np.integer)) and -MANTISSA_MAX - 1 <= self.mantissa <= MANTISSA_MAX):
            raise ValueError(f"mantissa={self.mantissa!r}; allowed: an integer in "
                             f"[-{MANTISSA_MAX + 1}, {MANTISSA_MAX}]")
        if not (isinstance(self.exponent, (int, np.integer)) and EXP_MIN <= self.exponent <= EXP_MAX):
            raise ValueError(f"exponent={self.exponent!r}; allowed: an integer in [{EXP_MIN}, {EXP_MAX}]")
        if self.mantissa == -MANTISSA_MAX - 1 and self.exponent < EXP_MAX:   # Lava would store -4 * 2^(e+1)
            raise ValueError(f"mantissa=-8 with exponent={self.exponent}; allowed: write it as "
                             f"-4 * 2^{self.exponent + 1} (Lava normalises it so; wide products round differently)")

    @property
    def scale(self) -> float:
        return self.mantissa * 2.0 ** self.exponent

    def lava_string(self) -> str:
        """Lava's product-series syntax, e.g. ``3 * 2^-4 * y0 * x1`` (sign written by :func:`_series`)."""
        return " * ".join([f"{abs(self.mantissa)} * 2^{self.exponent}", self.dependency, *self.factors])


def _series(products: Sequence[Product]) -> str | None:
    if not products:
        return None
    out = ""
    for k, p in enumerate(products):
        sign = "-" if p.mantissa < 0 else "+"
        out += (("- " if sign == "-" else "") if k == 0 else f" {sign} ") + p.lava_string()
    return out


@dataclass(frozen=True)
class EngineRule:
    """A learning rule for Loihi 2's engine as numbers (``dw``: weights, ``dt``: the tag, an eligibility
    trace for three-factor rules). ``three_factor`` rules take ``y1``, ``y2`` from the post neuron
    (Lava's ``Loihi3FLearningRule``); two-factor rules compute ``y1`` from post spikes."""

    dw: tuple[Product, ...]
    dt: tuple[Product, ...] = ()
    x1_impulse: float = 16.0
    x1_tau: float = 20.0
    y1_impulse: float = 16.0
    y1_tau: float = 20.0
    t_epoch: int = 1
    rng_seed: int = 0
    three_factor: bool = False

    def __post_init__(self) -> None:
        if not self.dw:
            raise ValueError("dw must have at least one product")
        for name in ("x1_impulse", "y1_impulse"):
            v = getattr(self, name)
            if not (isinstance(v, numbers.Real) and 0 <= v <= TRACE_MAX):
                raise ValueError(f"{name}={v!r}; allowed: a number in [0, {TRACE_MAX}] (7-bit traces)")
        for name in ("x1_tau", "y1_tau"):
            v = getattr(self, name)
            if not (isinstance(v, numbers.Real) and v >= 0 and math.isfinite(v)):
                raise ValueError(f"{name}={v!r}; allowed: a finite number >= 0 (0: no decay term, trace = impulse)")
        if not (isinstance(self.t_epoch, (int, np.integer)) and 1 <= self.t_epoch <= EPOCH_MAX):
            raise ValueError(f"t_epoch={self.t_epoch!r}; allowed: an integer in [1, {EPOCH_MAX}] (6-bit spike times)")
        if not (isinstance(self.rng_seed, (int, np.integer)) and self.rng_seed >= 0):
            raise ValueError(f"rng_seed={self.rng_seed!r}; allowed: an integer >= 0 (bit-exactness needs a fixed seed)")
        traces = {f for p in (*self.dw, *self.dt) for f in p.factors if f[0] in "xy"}
        allowed = {"x1", "y1", "y2"} if self.three_factor else {"x1", "y1"}
        if not traces <= allowed:
            raise ValueError(f"traces {sorted(traces - allowed)} are not modelled; allowed: {sorted(allowed)}")

    @property
    def dw_string(self) -> str:
        return _series(self.dw)  # type: ignore[return-value]

    @property
    def dt_string(self) -> str | None:
        return _series(self.dt)

    def lava_kwargs(self) -> dict:
        """Keyword arguments of Lava's ``Loihi2FLearningRule`` (or ``Loihi3FLearningRule`` when
        ``three_factor``) that make the same rule."""
        kw = {"dw": self.dw_string, "x1_impulse": self.x1_impulse, "x1_tau": self.x1_tau,
              "t_epoch": self.t_epoch, "rng_seed": self.rng_seed}
        if self.dt:
            kw["dt"] = self.dt_string
        if not self.three_factor:
            kw.update(y1_impulse=self.y1_impulse, y1_tau=self.y1_tau)
        return kw


# ---- Lava's literals: what STDPLoihi / RewardModulatedSTDP make of their float parameters ------------
def lava_literal(value: float) -> tuple[int, int]:
    """``(mantissa, exponent)`` of Lava's ``float_to_literal(value)``: ``int(|v|)`` (at least 1) times a
    power of two rounded in log2 -- so below 1 only powers of two survive (0.3 -> 2^-2)."""
    if value == 0:
        return 0, 0
    sign, mag = (1 if value > 0 else -1), abs(float(value))
    mant = max(int(mag), 1)
    rem = mag / mant
    return (sign * mant, 0) if rem == 1 else (sign * mant, int(np.round(np.log2(rem))))


def combine_literals(name: str, *literals: tuple[int, int]) -> tuple[int, int]:
    """The scale of a product of literals, normalised as Lava's ``ProductSeries`` does (halve an even
    mantissa above 7), or ValueError if the chip cannot hold it."""
    m, e = 1, 0
    for lm, le in literals:
        m, e = m * lm, e + le
    while abs(m) > MANTISSA_MAX and m % 2 == 0 and e < EXP_MAX:
        m, e = m // 2, e + 1
    if m == 0:
        return 0, 0
    if not -MANTISSA_MAX - 1 <= m <= MANTISSA_MAX or not EXP_MIN <= e <= EXP_MAX:
        raise ValueError(f"{name}={m} * 2^{e} cannot be held by the learning engine; allowed: mantissa in "
                         f"[-{MANTISSA_MAX + 1}, {MANTISSA_MAX}], exponent in [{EXP_MIN}, {EXP_MAX}]")
    return m, e


def _term(name: str, dependency: str, factors: tuple[str, ...], *literals: tuple[int, int]) -> list[Product]:
    m, e = combine_literals(name, *literals)
    return [Product(dependency, factors, m, e)] if m else []


def stdp_loihi_rule(learning_rate: float, A_plus: float, A_minus: float, tau_plus: float, tau_minus: float,
                    x1_impulse: float = 16.0, y1_impulse: float = 16.0, t_epoch: int = 1,
                    rng_seed: int = 0) -> EngineRule:
    """The rule Lava's ``STDPLoihi(...)`` builds: ``dw = lr * A_minus * x0 * y1 + lr * A_plus * y0 * x1``
    with each float turned into a literal by :func:`lava_literal` (``A_minus`` < 0 depresses)."""
    lr = lava_literal(learning_rate)
    dw = (_term("learning_rate * A_minus", "x0", ("y1",), lr, lava_literal(A_minus))
          + _term("learning_rate * A_plus", "y0", ("x1",), lr, lava_literal(A_plus)))
    return EngineRule(dw=tuple(dw), x1_impulse=x1_impulse, x1_tau=tau_plus, y1_impulse=y1_impulse,
                      y1_tau=tau_minus, t_epoch=t_epoch, rng_seed=rng_seed)


def reward_modulated_stdp_rule(learning_rate: float, A_plus: float, A_minus: float, pre_trace_decay_tau: float,
                               pre_trace_kernel_magnitude: float, eligibility_trace_decay_tau: float,
                               t_epoch: int = 1, rng_seed: int = 0) -> EngineRule:
    """The rule Lava's ``RewardModulatedSTDP(...)`` builds (a three-factor rule, Fremaux & Gerstner 2016)::

        dt = lr * A_minus * x0 * y1 + lr * A_plus * y0 * x1 - u0 * t * literal(eligibility_trace_decay_tau)
        dw = u0 * t * y2

    The tag ``t`` is the eligibility trace; ``y1`` (post trace) and ``y2`` (the reward) come from the
    post neuron every step. Lava's ``eligibility_trace_decay_tau`` is used as a decay RATE (the fraction
    of ``t`` removed per epoch), not a time constant. Its ``post_trace_*`` arguments are unused by Lava."""
    lr = lava_literal(learning_rate)
    dt = (_term("learning_rate * A_minus", "x0", ("y1",), lr, lava_literal(A_minus))
          + _term("learning_rate * A_plus", "y0", ("x1",), lr, lava_literal(A_plus))
          + _term("eligibility_trace_decay_tau", "u0", ("t",), (-1, 0), lava_literal(eligibility_trace_decay_tau)))
    return EngineRule(dw=(Product("u0", ("t", "y2"), 1, 0),), dt=tuple(dt), x1_impulse=pre_trace_kernel_magnitude,
                      x1_tau=pre_trace_decay_tau, y1_impulse=0.0, y1_tau=float(THREE_FACTOR_TAU),
                      t_epoch=t_epoch, rng_seed=rng_seed, three_factor=True)


# ---- snnkit's PairSTDP -> the engine ------------------------------------------------------------------
def nearest_scale(value: float) -> tuple[int, int]:
    """The representable scale ``m * 2^e`` (``|m| <= 7``, ``-7 <= e <= 8``) nearest to ``value``; of equal
    values the one with the largest mantissa (a product wider than 15 bits is shifted right BEFORE the
    scale's exponent applies, so a large mantissa keeps more of it)."""
    if value == 0:
        return 0, 0
    best = min(((m, e) for m in range(1, MANTISSA_MAX + 1) for e in range(EXP_MIN, EXP_MAX + 1)),
               key=lambda me: (abs(me[0] * 2.0 ** me[1] - abs(value)), -me[0]))
    return (best[0] if value > 0 else -best[0]), best[1]


@dataclass(frozen=True)
class LoihiSTDPMapping:
    """A :class:`~snnkit.plasticity.PairSTDP` as the engine runs it: ``rule``, and ``weight_scale`` (float
    weight of one integer weight unit: ``w_float = weight_scale * w_int``); ``wanted`` and ``scale_error``
    give the scales the float rule asks for and the relative error of the representable ones."""

    rule: EngineRule
    weight_scale: float
    wanted: dict[str, float] = field(default_factory=dict)
    scale_error: dict[str, float] = field(default_factory=dict)


def _refuse(name: str, value: object, allowed: str) -> None:
    raise ValueError(f"{name}={value!r} cannot run on Loihi 2's learning engine; allowed: {allowed}")


def _check_stdp_term(rule, name: str = "PairSTDP") -> tuple[dict[str, float], dict[str, float]]:
    """Refuse what the engine cannot run of a pair-STDP term; return Lava's trace taus and snnkit's gains."""
    # read by attribute, not imported: hardware/ sits below plasticity/ in snnkit's layers
    needed = ("pre_trace", "post_trace", "a_plus", "a_minus", "order", "weight_dependence", "pre_offset")
    if any(not hasattr(rule, attr) for attr in needed):
        raise TypeError(f"rule must be a snnkit.plasticity.{name}; got {type(rule).__name__}")
    if rule.weight_dependence != "additive":
        _refuse("weight_dependence", rule.weight_dependence, "'additive' (the engine has no soft bounds here)")
    for attr in ("a_plus", "a_minus"):
        if callable(getattr(rule, attr)):
            _refuse(attr, getattr(rule, attr), "a number (the engine's scales are constants)")
    if rule.order != "trace_first":
        _refuse("order", rule.order, "'trace_first' (the engine reads traces that include this step's spike)")
    if rule.pre_offset:
        _refuse("pre_offset", rule.pre_offset, "0")
    taus, gains = {}, {}
    for side, trace in (("pre", rule.pre_trace), ("post", rule.post_trace)):
        d = trace.decay
        if not 0 < d < 1:
            _refuse(f"tau_{side}", trace.tau, "a trace decay per step strictly between 0 and 1")
        # exp decay: Lava's tau is tau / dt exactly (snnkit's decay factor is a float32 of it)
        taus[side] = trace.tau / trace.dt if trace.method == "exp" else -1.0 / math.log(d)
        gains[side] = trace.gain
    return taus, gains


def _check_delivery(rule) -> None:
    if rule.update != "immediate":
        _refuse("update", rule.update, "'immediate' (the engine writes the weights every learning epoch)")
    for attr in ("w_min", "w_max"):
        if getattr(rule, attr) is not None:
            _refuse(attr, getattr(rule, attr), "None (the chip clips weights to its 8-bit range of the sign mode)")


def _positive(name: str, value: float) -> None:
    if not (isinstance(value, numbers.Real) and value > 0 and math.isfinite(value)):
        raise ValueError(f"{name}={value!r}; allowed: a finite number > 0")


def _quantise(name: str, value: float, cap: float, what: str, scales: dict, errors: dict) -> None:
    """Round an engine scale to the nearest ``m * 2^e``, refusing it if that is more than ``cap`` off."""
    m, e = nearest_scale(value)
    got = m * 2.0 ** e
    err = abs(got - value) / abs(value) if value else 0.0
    if err > cap:
        _refuse(name, value, f"a value whose engine scale {value:.4g} (= {what}) is within {cap:.0%} of some "
                f"m * 2^e with |m| <= 7, e in [{EXP_MIN}, {EXP_MAX}] (got {got:.4g}); change the scales or impulses")
    scales[name], errors[name] = (m, e), err


def pair_stdp_to_loihi(rule, weight_scale: float, *, x1_impulse: float = 16.0, y1_impulse: float = 16.0,
                       t_epoch: int = 1, rng_seed: int = 0, max_scale_error: float = 0.125) -> LoihiSTDPMapping:
    """Map snnkit's float :class:`~snnkit.plasticity.PairSTDP` to the engine.

    With trace gain ``g`` (what one spike adds to snnkit's trace) and impulse ``I``, the engine's trace is
    ``I / g`` times snnkit's; a post spike then changes the integer weight by ``s+ * x1`` with
    ``s+ = lr * a_plus * g_pre / (weight_scale * I_pre)`` (depression likewise with ``-a_minus``), each
    rounded to the nearest ``m * 2^e``. Trace decay ``d`` (per step, from ``tau``, ``dt``, ``method``)
    becomes Lava's ``tau = -1 / ln(d)``. Refused (ValueError naming the parameter, value, allowed):
    weight-dependent or callable amplitudes, ``order="weight_first"``, ``update`` other than
    ``"immediate"``, ``pre_offset``, ``w_min``/``w_max`` (the chip clips to its own 8-bit range), and
    scales that round with a relative error above ``max_scale_error`` or fall outside the engine's range.
    """
    taus, gains = _check_stdp_term(rule)
    _check_delivery(rule)
    _positive("weight_scale", weight_scale)
    wanted = {"a_plus": rule.lr * rule.a_plus * gains["pre"] / (weight_scale * x1_impulse),
              "a_minus": -rule.lr * rule.a_minus * gains["post"] / (weight_scale * y1_impulse)}
    scales: dict = {}
    errors: dict = {}
    for name, v in wanted.items():
        _quantise(name, v, max_scale_error, f"lr * {name} * trace gain / (weight_scale * impulse)", scales, errors)
    dw = [Product("x0", ("y1",), *scales["a_minus"])] if scales["a_minus"][0] else []
    dw += [Product("y0", ("x1",), *scales["a_plus"])] if scales["a_plus"][0] else []
    if not dw:
        _refuse("a_plus", rule.a_plus, "a nonzero a_plus or a_minus")
    engine = EngineRule(dw=tuple(dw), x1_impulse=x1_impulse, x1_tau=taus["pre"], y1_impulse=y1_impulse,
                        y1_tau=taus["post"], t_epoch=t_epoch, rng_seed=rng_seed)
    return LoihiSTDPMapping(rule=engine, weight_scale=float(weight_scale), wanted=wanted, scale_error=errors)


@dataclass(frozen=True)
class LoihiRewardSTDPMapping:
    """A :class:`~snnkit.plasticity.RewardModulatedSTDP` as the engine runs it (a three-factor ``rule``),
    with the units of its integers: ``weight_scale`` (float weight per weight unit), ``tag_scale``
    (eligibility per tag unit), ``reward_scale`` (modulator per ``y2`` unit), and what the post neuron
    must send: ``y1`` built by :meth:`post_trace` (impulse ``y1_impulse``, decay time ``y1_tau``) and
    ``y2`` by :meth:`reward`."""

    rule: EngineRule
    weight_scale: float
    tag_scale: float
    reward_scale: float
    y1_impulse: float
    y1_tau: float
    wanted: dict[str, float] = field(default_factory=dict)
    scale_error: dict[str, float] = field(default_factory=dict)

    def post_trace(self, post: np.ndarray) -> np.ndarray:
        """The post trace ``y1`` ``[T, N_post]`` the neuron sends: ``round(I * sum_k d^k post[t-k])``, 7 bit."""
        post = _spikes("post", post)
        d, trace, out = math.exp(-1 / self.y1_tau), np.zeros(post.shape[1]), []
        for s in post:
            trace = d * trace + self.y1_impulse * s
            out.append(trace)
        return np.clip(np.rint(np.stack(out)), 0, TRACE_MAX).astype(np.int64)

    def reward(self, modulator: np.ndarray, n_post: int) -> np.ndarray:
        """``y2`` ``[T + 1, n_post]`` from snnkit's modulator ``[T]`` or ``[T, n_post]``: ``M / reward_scale``
        rounded, ONE STEP LATER (the engine's ``dw`` at step ``t`` reads the tag of step ``t - 1``, while
        snnkit's reads this step's eligibility), so run one extra step with no spikes."""
        m = np.asarray(modulator, float)
        m = np.broadcast_to(m[:, None] if m.ndim == 1 else m, (m.shape[0], n_post))
        y2 = np.rint(m / self.reward_scale)
        if y2.min() < 0 or y2.max() > TRACE_MAX:
            raise ValueError(f"modulator / reward_scale spans [{y2.min():g}, {y2.max():g}]; allowed: [0, {TRACE_MAX}] "
                             "(y2 is an unsigned 7-bit trace: rewards only, no punishment)")
        return np.concatenate([np.zeros((1, y2.shape[1])), y2]).astype(np.int64)


def reward_stdp_to_loihi(rule, weight_scale: float, reward_scale: float, *, tag_scale: float | None = None,
                         x1_impulse: float = 16.0, y1_impulse: float = 16.0, rng_seed: int = 0,
                         max_scale_error: float = 0.125) -> LoihiRewardSTDPMapping:
    """Map snnkit's float :class:`~snnkit.plasticity.RewardModulatedSTDP` to a three-factor engine rule
    (Lava's ``Loihi3FLearningRule``; the shape of Lava's ``RewardModulatedSTDP`` with free scales)::

        dt = s- * x0 * y1 + s+ * y0 * x1 - r * u0 * t         (the tag t is the eligibility e)
        dw = c * u0 * t * y2                                  (y2: the reward, from the post neuron)

    ``s+ = g_e * a_plus * g_pre / (tag_scale * I_pre)`` (``g_e``: the eligibility gain, 1 without a
    filter), ``s-`` likewise with ``-a_minus``; ``r = 1 - decay_e`` (1 without a filter: ``e = zeta``);
    ``c = 32 * lr * reward_scale * tag_scale / weight_scale`` (the product ``t * y2`` is 20 bits wide, so
    the engine shifts it right by 5 BEFORE the scale applies: a floor that costs up to ``2^e`` weight units
    per rewarded step, always downward). Pick ``tag_scale`` and ``reward_scale`` so that tags and ``y2``
    use their ranges (up to 255 and 127) and ``c`` lands near ``4..7 * 2^-7``. Each scale rounds to the
    nearest ``m * 2^e``. Refused besides what :func:`pair_stdp_to_loihi` refuses: ``per_sample``.
    The post neuron must send ``y1`` (:meth:`LoihiRewardSTDPMapping.post_trace`) and ``y2``
    (:meth:`LoihiRewardSTDPMapping.reward`, one step late, non-negative)."""
    if not hasattr(rule, "stdp") or not hasattr(rule, "eligibility_trace"):
        raise TypeError(f"rule must be a snnkit.plasticity.RewardModulatedSTDP; got {type(rule).__name__}")
    taus, gains = _check_stdp_term(rule.stdp, "RewardModulatedSTDP")
    _check_delivery(rule)
    if rule.per_sample:
        _refuse("per_sample", True, "False (one eligibility per synapse)")
    _positive("weight_scale", weight_scale)
    _positive("reward_scale", reward_scale)
    tag_scale = weight_scale if tag_scale is None else tag_scale
    _positive("tag_scale", tag_scale)
    p = rule.eligibility_trace
    gain_e, decay_e = (1.0, 0.0) if p is None else (p.gain, p.decay)
    stdp = rule.stdp
    wanted = {"a_plus": gain_e * stdp.a_plus * gains["pre"] / (tag_scale * x1_impulse),
              "a_minus": -gain_e * stdp.a_minus * gains["post"] / (tag_scale * y1_impulse),
              "eligibility_decay": -(1.0 - decay_e),
              "lr": 32 * rule.lr * reward_scale * tag_scale / weight_scale}
    scales: dict = {}
    errors: dict = {}
    what = {"a_plus": "eligibility gain * a_plus * trace gain / (tag_scale * impulse)",
            "a_minus": "eligibility gain * a_minus * trace gain / (tag_scale * impulse)",
            "eligibility_decay": "1 - eligibility decay per step",
            "lr": "32 * lr * reward_scale * tag_scale / weight_scale"}
    for name, v in wanted.items():
        _quantise(name, v, max_scale_error, what[name], scales, errors)
    dt = [Product("x0", ("y1",), *scales["a_minus"])] if scales["a_minus"][0] else []
    dt += [Product("y0", ("x1",), *scales["a_plus"])] if scales["a_plus"][0] else []
    dt += [Product("u0", ("t",), *scales["eligibility_decay"])]
    engine = EngineRule(dw=(Product("u0", ("t", "y2"), *scales["lr"]),), dt=tuple(dt), x1_impulse=x1_impulse,
                        x1_tau=taus["pre"], y1_impulse=0.0, y1_tau=float(THREE_FACTOR_TAU), rng_seed=rng_seed,
                        three_factor=True)
    return LoihiRewardSTDPMapping(rule=engine, weight_scale=float(weight_scale), tag_scale=float(tag_scale),
                                  reward_scale=float(reward_scale), y1_impulse=y1_impulse, y1_tau=taus["post"],
                                  wanted=wanted, scale_error=errors)


# ---- the engine -----------------------------------------------------------------------------------
class _TraceRandom:
    """Lava's ``TraceRandom``: one float for decay rounding, one integer in [0, 128) for impulse rounding,
    both redrawn by :meth:`advance` (one numpy call each, as Lava makes them)."""

    def __init__(self, seed: int) -> None:
        self._decay, self._impulse = np.random.default_rng(seed), np.random.default_rng(seed + 1)
        self.advance()

    def advance(self) -> None:
        self.decay = self._decay.random(1)[0]
        self.impulse = self._impulse.integers(0, 2 ** TRACE_BITS, size=1, dtype=int)[0]


def _stochastic_round(values: np.ndarray, random, probability) -> np.ndarray:
    return (values + np.asarray(random < probability).astype(int)).astype(int)


def _split_impulse(impulse: float) -> tuple[int, int]:
    whole = math.floor(impulse)
    return int(whole), int(np.round((impulse - whole) * 2 ** IMPULSE_FRAC_BITS))


def _add_impulse(trace: np.ndarray, random, impulse: tuple[int, int]) -> np.ndarray:
    return np.clip(_stochastic_round(trace + impulse[0], random, impulse[1]), 0, TRACE_MAX)


def _decay(trace: np.ndarray, tau: float, random: float) -> np.ndarray:
    if tau == 0:               # Lava leaves such a trace at 0 between impulses
        return np.zeros_like(trace)
    scaled = np.exp(-1 / np.array([[float(tau)]])) * trace   # the same float64 ops as Lava's _decay_trace
    return _stochastic_round(np.floor(scaled), random, scaled % 1)[0]


def _truncate(w: np.ndarray, sign_mode: int, num_weight_bits: int) -> np.ndarray:
    n = SYN_BITS - num_weight_bits + int(sign_mode == 1)
    w = -w if sign_mode == 3 else w
    w = (w >> n) << n
    return -w if sign_mode == 3 else w


def _clip_weights(w: np.ndarray, sign_mode: int) -> np.ndarray:
    lo, hi = {1: (-(1 << SYN_BITS), (1 << SYN_BITS) - 1), 2: (0, (1 << SYN_BITS) - 1),
              3: (-(1 << SYN_BITS) + 1, 0)}[sign_mode]
    return np.clip(w, lo, hi)


class LearningEngine:
    """Loihi 2's learning engine on one ``LearningDense`` ``[N_post, N_pre]`` as Lava simulates it (see
    the module docstring). :meth:`step` takes one time step's spikes; ``weights``, ``tag``, ``x1``, ``y1``
    hold the state."""

    def __init__(self, rule: EngineRule, weights: np.ndarray, sign_mode: int = 1, num_weight_bits: int = 8) -> None:
        if not isinstance(rule, EngineRule):
            raise TypeError(f"rule must be an EngineRule; got {type(rule).__name__}")
        if sign_mode not in SIGN_MODES:
            raise ValueError(f"sign_mode={sign_mode!r}; allowed: {SIGN_MODES}")
        if not (isinstance(num_weight_bits, (int, np.integer)) and 1 <= num_weight_bits <= SYN_BITS):
            raise ValueError(f"num_weight_bits={num_weight_bits!r}; allowed: an integer in [1, {SYN_BITS}]")
        w = np.asarray(weights)
        if w.ndim != 2 or not np.issubdtype(w.dtype, np.integer):
            raise ValueError(f"weights must be a 2-D integer array [N_post, N_pre]; got shape {w.shape}, "
                             f"dtype {w.dtype}")
        if not np.array_equal(_clip_weights(w, sign_mode), w):
            lo, hi = _clip_weights(np.array([-10 ** 6, 10 ** 6]), sign_mode)
            raise ValueError(f"weights in [{w.min()}, {w.max()}] do not fit sign_mode={sign_mode} "
                             f"({SIGN_MODES[sign_mode]}); allowed: [{lo}, {hi}]")
        self.rule, self.sign_mode = rule, int(sign_mode)
        self.weights = _truncate(w.astype(np.int64), self.sign_mode, int(num_weight_bits))
        n_post, n_pre = w.shape
        self.tag = np.zeros_like(self.weights)
        self.x1 = np.zeros(n_pre, np.int64)
        self.y = np.zeros((3, n_post), np.int64)          # y1, y2, y3
        self.tx = np.zeros(n_pre, np.int64)
        self.ty = np.zeros(n_post, np.int64)
        self.time_step = 0
        self._x_imp = _split_impulse(rule.x1_impulse)
        y_imp = 0.0 if rule.three_factor else rule.y1_impulse
        whole, frac = _split_impulse(y_imp)                   # y2, y3 have no impulse
        self._y_imp = (np.array([[whole], [0], [0]]), np.array([[frac], [0], [0]]))
        self._y_taus = [float(THREE_FACTOR_TAU)] * 3 if rule.three_factor else [rule.y1_tau, 0.0, 0.0]
        seed = int(rule.rng_seed)
        self._x_random, self._y_random = _TraceRandom(seed), _TraceRandom(seed + 2)
        self._syn_random = np.random.default_rng(SYN_SEED)
        self._syn_draw = self._syn_random.random(1)[0]

    @property
    def y1(self) -> np.ndarray:
        return self.y[0]

    def step(self, pre: np.ndarray, post: np.ndarray, y1: np.ndarray | None = None,
             y2: np.ndarray | None = None) -> None:
        """One time step: ``pre`` ``[N_pre]`` and ``post`` ``[N_post]`` spikes (0/1); three-factor rules
        also take the post neuron's ``y1`` and ``y2`` (integers in [0, 127])."""
        self.time_step += 1
        t_epoch = self.rule.t_epoch
        within = self.time_step % t_epoch or t_epoch
        pre, post = np.asarray(pre).astype(bool), np.asarray(post).astype(bool)
        again = (self.tx > 0) & pre                     # a second pre spike in this epoch
        self.x1[again] = _add_impulse(self.x1[again], 0, self._x_imp)
        self.tx[pre] = within
        self._x_random.advance()
        self._y_random.advance()
        again = (self.ty > 0) & post
        self.y[:, again] = _add_impulse(self.y[:, again], self._y_random.impulse, self._y_imp)
        self.ty[post] = within
        if self.rule.three_factor:
            if y1 is None or y2 is None:
                raise ValueError("a three-factor rule needs y1 and y2 (from the post neuron) every step")
            self.y[0], self.y[1], self.y[2] = np.asarray(y1), np.asarray(y2), 0
        self._x_random.advance()
        self._y_random.advance()
        if self.time_step % t_epoch == 0:
            self._learn()

    def _histories(self) -> tuple[np.ndarray, np.ndarray]:
        T = self.rule.t_epoch
        xh = np.zeros((T + 1, self.x1.shape[0]), np.int64)
        yh = np.zeros((T + 1, *self.y.shape), np.int64)
        xh[0], yh[0] = self.x1, self.y
        xr, yr = self._x_random, self._y_random
        for t in range(1, T + 1):
            xh[t] = _decay(xh[t - 1], self.rule.x1_tau, xr.decay)
            for k, tau in enumerate(self._y_taus):
                yh[t, k] = _decay(yh[t - 1, k], tau, yr.decay)
            ids = np.where(self.tx == t)[0]
            xh[t, ids] = _add_impulse(xh[t, ids], xr.impulse, self._x_imp)
            ids = np.where(self.ty == t)[0]
            yh[t][:, ids] = _add_impulse(yh[t][:, ids], yr.impulse, self._y_imp)
        return xh, yh

    def _learn(self) -> None:
        self._syn_draw = self._syn_random.random(1)[0]
        xh, yh = self._histories()
        self.x1 = xh[-1].copy()
        if not self.rule.three_factor:
            self.y = yh[-1].copy()
        n_pre = self.x1.shape[0]
        # each trace as each dependency sees it: at the pre spike time (x0), post spike time (y0), epoch end (u0)
        values = {"x0": {"x1": xh[self.tx, np.arange(n_pre)][None, :]},
                  "y0": {"x1": xh[self.ty]}, "u0": {"x1": xh[-1][None, :]}}
        for k, name in enumerate(("y1", "y2", "y3")):
            values["x0"][name] = yh[self.tx, k].T
            values["y0"][name] = yh[self.ty, k, np.arange(self.ty.shape[0])][:, None]
            values["u0"][name] = yh[-1, k][:, None]
        deps = {"x0": (self.tx > 0)[None, :].astype(np.int64), "y0": (self.ty > 0)[:, None].astype(np.int64),
                "u0": np.int64(1)}
        old = {"w": self.weights, "t": self.tag}
        new_weights = self._apply(self.rule.dw, self.weights, deps, values, old, weights=True)
        if self.rule.dt:
            self.tag = self._apply(self.rule.dt, self.tag, deps, values, old, weights=False)
        self.weights = new_weights
        self.tx[:] = 0
        self.ty[:] = 0

    def _apply(self, products, var, deps, values, old, weights: bool) -> np.ndarray:
        lim = (1 << ACC_BITS) - 1
        acc = var << ACC_SHIFT
        for p in products:
            cur = np.ones(var.shape, np.int64) * deps[p.dependency]
            width = MANT_BITS
            for f in p.factors:
                v = old[f] if f in old else values[p.dependency][f]
                bits = FACTOR_BITS[f]
                cur = cur * np.clip(v, -(1 << bits), (1 << bits) - 1)
                width += bits
            cur = (cur * p.mantissa) >> max(0, width - ACC_BITS)
            cur = np.clip(cur << (p.exponent - EXP_MIN), -lim - 2, lim)
            acc = np.clip(acc + cur, -lim - 2, lim)
        if weights and self.sign_mode != 1:
            acc = np.maximum(acc, 0) if self.sign_mode == 2 else np.minimum(acc, 0)
        q = acc / float(1 << ACC_SHIFT)
        acc = (_stochastic_round(np.floor(q), self._syn_draw, q % 1) * (1 << ACC_SHIFT)) >> ACC_SHIFT
        if weights:
            return _clip_weights(acc, self.sign_mode)
        return np.clip(acc, -(1 << SYN_BITS) - 1, (1 << SYN_BITS) - 1)


def simulate_learning(rule: EngineRule, weights: np.ndarray, pre: np.ndarray, post: np.ndarray | None = None, *,
                      sign_mode: int = 1, num_weight_bits: int = 8, y1: np.ndarray | None = None,
                      y2: np.ndarray | None = None, neuron: LoihiLayer | None = None) -> dict[str, np.ndarray]:
    """Run the engine over ``pre`` ``[T, N_pre]`` and ``post`` ``[T, N_post]`` spikes (three-factor rules:
    also ``y1``, ``y2`` ``[T, N_post]``). Returns ``weights`` ``[T, N_post, N_pre]``, ``tag_1`` (same
    shape), ``x1`` ``[T, N_pre]``, ``y1`` and ``post`` ``[T, N_post]`` after every step, as Lava's
    Monitors see them.

    Closed loop: with ``neuron`` (a :class:`LoihiLayer` giving the LIF's ``du``, ``dv``, ``vth``, bias and
    the synapse's ``weight_exp``; its ``weights`` are ignored) and ``post=None``, the post spikes come from
    a fixed-point LIF driven by the learning synapse: its input at step ``t`` is ``W @ pre[t-1]`` (shifted
    by ``weight_exp``) with ``W`` the weights after learning at ``t - 1``, as Lava's ``LearningDense``
    sends it; the LIF's spikes at ``t`` are the post spikes of step ``t``."""
    pre = _spikes("pre", pre)
    if (post is None) == (neuron is None):
        raise ValueError("give exactly one of post (spikes) and neuron (a LoihiLayer: a LIF driven by the synapse)")
    w = np.asarray(weights)
    if post is not None:
        post = _spikes("post", post)
        if pre.shape[0] != post.shape[0]:
            raise ValueError(f"pre and post must have the same number of steps; got {pre.shape[0]} and {post.shape[0]}")
        if w.ndim != 2 or w.shape != (post.shape[1], pre.shape[1]):
            raise ValueError(f"weights must be [N_post, N_pre] = [{post.shape[1]}, {pre.shape[1]}]; got {w.shape}")
    engine = LearningEngine(rule, w, sign_mode, num_weight_bits)
    if neuron is not None:
        lif = FixedPointModel()
        consts = lif.neuron_constants(neuron)
        n_post = engine.weights.shape[0]
        u = v = np.zeros(n_post, np.int64)
        a_buff = np.zeros(n_post, np.int64)
        e = int(neuron.weight_exp)
    out = {k: [] for k in ("weights", "tag_1", "x1", "y1", "post")}
    for t in range(pre.shape[0]):
        if neuron is None:
            spikes = post[t]
        else:
            a_in, acc = a_buff, engine.weights @ pre[t]   # Lava sends last step's sum, then sums this step
            a_buff = wrap_int32(acc << e if e > 0 else acc >> -e)
            u, v = lif.neuron_step(u, v, a_in, consts)
            spikes = (v > consts[-1]).astype(np.int64)
            v = np.where(spikes > 0, 0, v)
        engine.step(pre[t], spikes, None if y1 is None else y1[t], None if y2 is None else y2[t])
        for k, val in (("weights", engine.weights), ("tag_1", engine.tag), ("x1", engine.x1), ("y1", engine.y1),
                       ("post", spikes)):
            out[k].append(np.array(val, copy=True))
    return {k: np.stack(val) for k, val in out.items()}


def _spikes(name: str, x: np.ndarray) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2 or not np.all((x == 0) | (x == 1)):
        raise ValueError(f"{name} must be a [T, N] array of 0/1 spikes; got shape {x.shape}")
    return x.astype(np.int64)


# ---- the real Lava runtime ----------------------------------------------------------------------------
@dataclass(frozen=True)
class LavaLearningTrial:
    """One run of Lava's ``LearningDense``: ``rule`` is an :class:`EngineRule` (sent as a
    ``Loihi2FLearningRule``), or ``("stdp_loihi", [lr, A_plus, A_minus, tau_plus, tau_minus], x1_impulse,
    y1_impulse, t_epoch, rng_seed)`` / ``("rstdp", [8 floats], t_epoch, rng_seed)`` to build Lava's own
    ``STDPLoihi`` / ``RewardModulatedSTDP``."""

    rule: EngineRule | tuple
    weights: np.ndarray
    pre: np.ndarray
    post: np.ndarray | None          # None: from ``neuron``, a LIF driven by the synapse (closed loop)
    sign_mode: int = 1
    num_weight_bits: int = 8
    weight_exp: int = 0
    y1: np.ndarray | None = None
    y2: np.ndarray | None = None
    neuron: LoihiLayer | None = None


def run_lava_learning(trials: Sequence[LavaLearningTrial], timeout: float = 300.0) -> list[dict[str, np.ndarray]]:
    """Run each trial in the real Lava runtime (``.venv-lava``, one subprocess, fixed point) and return
    per trial the same dict as :func:`simulate_learning` plus Lava's ``dw``/``dt`` strings."""
    payload: dict[str, np.ndarray] = {"n_trials": np.array(len(trials))}
    for k, tr in enumerate(trials):
        p = f"t{k}_"
        post = np.zeros((len(tr.pre), np.shape(tr.weights)[0]), np.int64) if tr.post is None else tr.post
        payload.update({p + "pre": _spikes("pre", tr.pre), p + "post": _spikes("post", post),
                        p + "weights": np.asarray(tr.weights, np.int64), p + "sign_mode": np.array(tr.sign_mode),
                        p + "num_weight_bits": np.array(tr.num_weight_bits), p + "weight_exp": np.array(tr.weight_exp)})
        if tr.neuron is not None:
            n = tr.neuron
            payload[p + "lif"] = np.array([n.du, n.dv, n.vth, n.bias_exp], np.int64)
            payload[p + "bias_mant"] = np.asarray(n.bias(), np.int64)
            payload[p + "weight_exp"] = np.array(n.weight_exp)
        if isinstance(tr.rule, EngineRule):   # Loihi2F/3FLearningRule(**lava_kwargs()) on the Lava side
            payload[p + "rule"] = np.array("loihi3f" if tr.rule.three_factor else "loihi2f")
            payload.update({p + name: np.array(value) for name, value in tr.rule.lava_kwargs().items()})
            if tr.rule.three_factor:
                payload.update({p + "y1": np.asarray(tr.y1, np.int64), p + "y2": np.asarray(tr.y2, np.int64)})
        elif tr.rule[0] == "stdp_loihi":
            _, params, x_imp, y_imp, t_epoch, seed = tr.rule
            payload.update({p + "rule": np.array("stdp_loihi"), p + "stdp": np.asarray(params, float),
                            p + "x1_impulse": np.array(x_imp), p + "y1_impulse": np.array(y_imp),
                            p + "t_epoch": np.array(t_epoch), p + "rng_seed": np.array(seed)})
        elif tr.rule[0] == "rstdp":
            _, params, t_epoch, seed = tr.rule
            payload.update({p + "rule": np.array("rstdp"), p + "rstdp": np.asarray(params, float),
                            p + "t_epoch": np.array(t_epoch), p + "rng_seed": np.array(seed),
                            p + "y1": np.asarray(tr.y1, np.int64), p + "y2": np.asarray(tr.y2, np.int64)})
        else:
            raise ValueError(f"trial {k}: rule={tr.rule!r}; allowed: an EngineRule, ('stdp_loihi', ...), "
                             "('rstdp', ...)")
    out = run_script(payload, timeout, script=_SCRIPT)
    keys = ("weights", "tag_1", "x1", "y1")
    return [{**{key: out[f"t{k}_{key}"].astype(np.int64) for key in keys},
             **({"post": out[f"t{k}_post"].astype(np.int64)} if f"t{k}_post" in out else {}),
             "dw": str(out[f"t{k}_dw"]), "dt": str(out[f"t{k}_dt"])} for k in range(len(trials))]


def precision_limits(mapping: LoihiSTDPMapping, pre: np.ndarray, post: np.ndarray) -> dict[str, np.ndarray]:
    """How far the engine's weights may end from the float :class:`~snnkit.plasticity.PairSTDP` that
    ``mapping`` came from, after both ran ``pre`` ``[T, N_pre]`` / ``post`` ``[T, N_post]`` spikes; per
    synapse ``[N_post, N_pre]``, in float weight units (``t_epoch == 1``; valid while no trace reaches 127
    and no weight reaches the chip's weight range -- check those separately):

    - ``bias``: the exact expected difference, from rounding each scale to ``m * 2^e``
      (``(scale_chip - scale_wanted) * sum of exact traces at the pairing events``);
    - ``sigma``: an upper bound on the standard deviation of the rest, which is zero-mean: each decay step
      rounds a trace stochastically (variance <= 1/4; the error decays with the trace and enters every
      later pairing), and each step in which a synapse's pre or post neuron spiked rounds its weight
      stochastically (variance <= 1/4). Rounding errors are treated as independent.
    - ``worst``: a bound that holds whatever the random numbers: ``|bias|`` plus, per pairing, the scale
      times ``1 / (1 - decay)`` (the most a 7-bit trace can drift by rounding), plus one weight unit per
      active step. It is loose (often 10-30 times the typical error).
    """
    r = mapping.rule
    if r.t_epoch != 1:
        raise ValueError(f"t_epoch={r.t_epoch}; allowed: 1 (the limits assume one learning epoch per step)")
    pre, post = _spikes("pre", pre).astype(float), _spikes("post", post).astype(float)
    scale = {"x": 0.0, "y": 0.0}                       # chip scales: y0 * x1 (LTP), x0 * y1 (LTD)
    for p in r.dw:
        scale["x" if p.dependency == "y0" else "y"] += p.scale
    wanted = {"x": mapping.wanted.get("a_plus", scale["x"]), "y": mapping.wanted.get("a_minus", scale["y"])}
    decay = {"x": math.exp(-1 / r.x1_tau), "y": math.exp(-1 / r.y1_tau)}
    exact, live, reach = {}, {}, {}
    for key, spikes, events, impulse in (("x", pre, post, r.x1_impulse), ("y", post, pre, r.y1_impulse)):
        trace, traces, alive = np.zeros(spikes.shape[1]), [], []
        fractional = impulse != math.floor(impulse)
        for s in spikes:
            alive.append((trace > 0) | (fractional & (s > 0)))   # a rounding happens at this step
            trace = decay[key] * trace + impulse * s
            traces.append(trace)
        exact[key], live[key] = np.stack(traces), np.stack(alive).astype(float)
        # reach[k]: how much a unit trace error made at step k adds up over the later pairing events
        acc, out = np.zeros(events.shape[1]), []
        for e in events[::-1]:
            acc = e + decay[key] * acc
            out.append(acc)
        reach[key] = np.stack(out[::-1])
    bias = (scale["x"] - wanted["x"]) * (post.T @ exact["x"]) + (scale["y"] - wanted["y"]) * (exact["y"].T @ pre)
    active = np.minimum(1.0, post[:, :, None] + pre[:, None, :]).sum(0)
    var = (0.25 * scale["x"] ** 2 * (reach["x"] ** 2).T @ live["x"] + 0.25 * scale["y"] ** 2 * live["y"].T
           @ reach["y"] ** 2 + 0.25 * active)
    per_step = {k: 1 + (imp != math.floor(imp)) for k, imp in (("x", r.x1_impulse), ("y", r.y1_impulse))}
    drift = (abs(scale["x"]) * per_step["x"] / (1 - decay["x"]) * post.sum(0)[:, None]
             + abs(scale["y"]) * per_step["y"] / (1 - decay["y"]) * pre.sum(0)[None, :])
    ws = mapping.weight_scale
    return {"bias": bias * ws, "sigma": np.sqrt(var) * ws, "worst": (np.abs(bias) + drift + active) * ws * (1 + 1e-9)}


__all__ = ["EngineRule", "LavaLearningTrial", "LearningEngine", "LoihiRewardSTDPMapping", "LoihiSTDPMapping", "Product",
           "combine_literals", "lava_literal", "nearest_scale", "pair_stdp_to_loihi", "precision_limits",
           "reward_modulated_stdp_rule", "reward_stdp_to_loihi", "run_lava_learning", "simulate_learning",
           "stdp_loihi_rule"]
