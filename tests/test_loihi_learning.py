"""Plasticity on the chip: snnkit's model of Loihi 2's learning engine against the REAL Lava runtime
(lava-nc 0.10.0, ``LearningDense`` under ``Loihi2SimCfg(select_tag="fixed_pt")``), and snnkit's float
``PairSTDP`` against the fixed-point engine within the documented precision limits.

All Lava trials run in one subprocess (module fixture, about 15 s); weights, tags and traces must be equal
after EVERY step."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest
import torch

from snnkit.hardware.loihi import LoihiLayer, lava_available
from snnkit.hardware.loihi.learning import (EngineRule, LavaLearningTrial, LearningEngine, Product, combine_literals,
                                            lava_literal, precision_limits, pair_stdp_to_loihi,
                                            reward_modulated_stdp_rule, reward_stdp_to_loihi, run_lava_learning,
                                            simulate_learning, stdp_loihi_rule)
from snnkit.plasticity import PairSTDP, RewardModulatedSTDP

_REQUIRED = os.environ.get("SNNKIT_REQUIRE_LAVA") == "1"
skip_without_lava = pytest.mark.skipif(not lava_available() and not _REQUIRED,
                                       reason="Lava environment missing: run .ci/install_lava.sh")


def _spikes(rng, T, n, p):
    return (rng.random((T, n)) < p).astype(np.int64)


def _cases():
    """(name, Lava trial, snnkit rule, simulate_learning kwargs)."""
    rng = np.random.default_rng(17)
    cases = []
    # Lava's own STDPLoihi class, mixed sign mode, one learning epoch per step
    pre, post = _spikes(rng, 120, 6, 0.2), _spikes(rng, 120, 4, 0.2)
    w = rng.integers(-120, 120, (4, 6))
    lava_stdp = ("stdp_loihi", [2, 0.25, -0.125, 10, 8], 16.0, 16.0, 1, 3)
    cases.append(("STDPLoihi", LavaLearningTrial(lava_stdp, w, pre, post),
                  stdp_loihi_rule(2, 0.25, -0.125, 10, 8, rng_seed=3), {}))
    # snnkit's PairSTDP mapped (float tau from euler decay, fractional impulses), excitatory, 6 weight bits
    pre, post = _spikes(rng, 150, 7, 0.15), _spikes(rng, 150, 5, 0.15)
    w = rng.integers(0, 200, (5, 7))
    mapped = pair_stdp_to_loihi(PairSTDP(torch.zeros(5, 7), tau_pre=12.0, tau_post=7.0, a_plus=0.01, a_minus=0.012,
                                         method="euler"), 2 ** -7, x1_impulse=20.5, y1_impulse=12.25, rng_seed=11).rule
    cases.append(("PairSTDP mapped", LavaLearningTrial(mapped, w, pre, post, sign_mode=2, num_weight_bits=6), mapped,
                  {"sign_mode": 2, "num_weight_bits": 6}))
    # learning epochs of 4 steps (several spikes per epoch), inhibitory weights, traces near saturation
    pre, post = _spikes(rng, 120, 5, 0.5), _spikes(rng, 120, 4, 0.4)
    w = rng.integers(-250, 0, (4, 5))
    epoch = EngineRule(dw=(Product("y0", ("x1",), -7, -3), Product("x0", ("y1",), 3, -3)), x1_impulse=30,
                       x1_tau=25, y1_impulse=40, y1_tau=6, t_epoch=4, rng_seed=5)
    cases.append(("t_epoch=4", LavaLearningTrial(epoch, w, pre, post, sign_mode=3), epoch, {"sign_mode": 3}))
    # large scales: weights run into the 8-bit clip
    pre, post = _spikes(rng, 80, 4, 0.3), _spikes(rng, 80, 3, 0.3)
    w = rng.integers(-250, 250, (3, 4))
    clip = EngineRule(dw=(Product("y0", ("x1",), 7, 2), Product("x0", ("y1",), -5, 1)), x1_tau=4, y1_tau=3,
                      rng_seed=1)
    cases.append(("clipping", LavaLearningTrial(clip, w, pre, post), clip, {}))
    # general products: three factors (right shift of the product), the weight as a factor, u0, t_epoch=3
    pre, post = _spikes(rng, 90, 5, 0.3), _spikes(rng, 90, 4, 0.3)
    w = rng.integers(-200, 200, (4, 5))
    general = EngineRule(dw=(Product("y0", ("x1", "y1"), 3, 2), Product("x0", ("y1", "w"), -5, 4),
                             Product("u0", ("x1",), -1, -5), Product("y0", ("w",), -3, -2)),
                         x1_impulse=25.75, x1_tau=6.5, y1_impulse=18, y1_tau=11, t_epoch=3, rng_seed=21)
    cases.append(("general products", LavaLearningTrial(general, w, pre, post), general, {}))
    # closed loop: post spikes from a fixed-point LIF driven by the learning synapse (its learned weights)
    for vth, weight_exp in ((10000, 0), (20000, 2)):
        pre = _spikes(rng, 150, 8, 0.3)
        w = rng.integers(0, 120, (4, 8)) * 2
        neuron = LoihiLayer(weights=w, du=400, dv=300, vth=vth, weight_exp=weight_exp,
                            bias_mant=rng.integers(0, 50, 4), bias_exp=2)
        loop = EngineRule(dw=(Product("y0", ("x1",), 3, -3), Product("x0", ("y1",), -5, -4)), x1_tau=8, y1_tau=12,
                          rng_seed=vth)
        cases.append((f"LIF loop weight_exp={weight_exp}", LavaLearningTrial(loop, w, pre, None, neuron=neuron), loop,
                      {"neuron": neuron}))
    # reward-modulated STDP (three-factor): y1 (post trace) and y2 (reward) as a learning neuron would send
    for params, t_epoch in (([1, 0.5, -0.5, 10, 10, 16, 16, 0.125], 1), ([2, 1, -0.25, 6, 6, 20, 20, 0.25], 2)):
        pre, post = _spikes(rng, 100, 5, 0.25), _spikes(rng, 100, 3, 0.25)
        y1 = rng.integers(0, 128, (100, 3))
        y2 = np.where(rng.random((100, 3)) < 0.2, rng.integers(0, 60, (100, 3)), 0)
        w = rng.integers(-80, 80, (3, 5))
        rule = reward_modulated_stdp_rule(params[0], params[1], params[2], params[3], params[5], params[7],
                                          t_epoch=t_epoch, rng_seed=4 + t_epoch)
        cases.append((f"RewardModulatedSTDP t_epoch={t_epoch}",
                      LavaLearningTrial(("rstdp", params, t_epoch, 4 + t_epoch), w, pre, post, y1=y1, y2=y2), rule,
                      {"y1": y1, "y2": y2}))
    # snnkit's RewardModulatedSTDP mapped (Loihi3FLearningRule from our strings), y1/y2 as the mapping makes them
    pre, post = _spikes(rng, 120, 6, 0.1), _spikes(rng, 120, 4, 0.1)
    modulator = np.where(rng.random(120) < 0.3, rng.integers(1, 8, 120), 0) * 0.25
    mapping = reward_stdp_to_loihi(RewardModulatedSTDP(torch.zeros(4, 6), tau_pre=10.0, tau_post=10.0, a_plus=0.3,
                                                       a_minus=0.18, tau_eligibility=10.0,
                                                       eligibility_increment="one", lr=0.02),
                                   2 ** -7, reward_scale=0.025, tag_scale=2 ** -6, rng_seed=6)
    y1, y2 = mapping.post_trace(post), mapping.reward(modulator, 4)[:120]
    w = rng.integers(-100, 100, (4, 6))
    cases.append(("RewardModulatedSTDP mapped", LavaLearningTrial(mapping.rule, w, pre, post, y1=y1, y2=y2),
                  mapping.rule, {"y1": y1, "y2": y2}))
    return cases


CASES = _cases()


@pytest.fixture(scope="module")
def lava_results():
    return run_lava_learning([trial for _, trial, _, _ in CASES], timeout=300)


@pytest.mark.lava
@pytest.mark.slow
@skip_without_lava
@pytest.mark.parametrize("k", range(len(CASES)), ids=[c[0] for c in CASES])
def test_engine_is_bit_exact_with_lava(k, lava_results):
    name, trial, rule, kwargs = CASES[k]
    lava = lava_results[k]
    ours = simulate_learning(rule, trial.weights, trial.pre, trial.post, **kwargs)
    for key in ("weights", "tag_1", "x1", "y1", "post"):
        if key == "post" and "post" not in lava:
            continue
        same = (ours[key] == lava[key]).reshape(len(trial.pre), -1).all(1)
        assert same.all(), f"{name}: {key} differs from Lava first at step {int(np.argmin(same)) + 1}"
    assert not np.array_equal(lava["weights"][-1], lava["weights"][0]), f"{name}: nothing learned, a void check"
    if rule.dt:
        assert np.abs(lava["tag_1"]).max() > 0


def test_lava_trials_exercise_what_they_claim():
    """The cases above really hit clipping, saturated traces and multi-spike epochs (else they prove less)."""
    by_name = {c[0]: c for c in CASES}
    _, trial, rule, kw = by_name["clipping"]
    w = simulate_learning(rule, trial.weights, trial.pre, trial.post, **kw)["weights"]
    assert w.max() == 255 and w.min() == -256
    _, trial, rule, kw = by_name["t_epoch=4"]
    assert (trial.pre.reshape(-1, 4, trial.pre.shape[1]).sum(1) > 1).any()
    assert simulate_learning(rule, trial.weights, trial.pre, trial.post, **kw)["x1"].max() == 127
    for name in ("LIF loop weight_exp=0", "LIF loop weight_exp=2"):      # the LIF fires, but not always
        _, trial, rule, kw = by_name[name]
        assert 0.05 < simulate_learning(rule, trial.weights, trial.pre, trial.post, **kw)["post"].mean() < 0.5


# ---- float PairSTDP against the fixed-point engine ----------------------------------------------------
def _float_and_chip(a_plus, a_minus, tau_pre, tau_post, impulse, T=300, n_pre=20, n_post=10, rate=0.05, seed=2):
    rng = np.random.default_rng(seed)
    scale = 2 ** -7
    pre, post = _spikes(rng, T, n_pre, rate), _spikes(rng, T, n_post, rate)
    w0 = rng.integers(-40, 40, (n_post, n_pre)) * 2          # even: mixed-mode truncation leaves them alone
    w = torch.tensor(w0 * scale, dtype=torch.float64)
    rule = PairSTDP(w, tau_pre=tau_pre, tau_post=tau_post, a_plus=a_plus, a_minus=a_minus)
    mapping = pair_stdp_to_loihi(rule, scale, x1_impulse=impulse, y1_impulse=impulse, rng_seed=7)
    rule.run(torch.tensor(pre, dtype=torch.float64)[:, None], torch.tensor(post, dtype=torch.float64)[:, None])
    chip = simulate_learning(mapping.rule, w0, pre, post)
    return mapping, pre, post, w0 * scale, w.numpy(), chip


@pytest.mark.parametrize("params, strong", [((3 * 2 ** -9, 5 * 2 ** -10, 10.0, 8.0, 16), False),  # exact scales
                                            ((0.004, 0.0045, 15.0, 20.0, 16), False),  # scales rounded by 2 % and 9 %
                                            ((0.05, 0.02, 5.0, 5.0, 32), True)])       # changes of many weight units
def test_float_pair_stdp_within_documented_tolerance(params, strong):
    mapping, pre, post, w_start, w_float, chip = _float_and_chip(*params)
    assert chip["x1"].max() < 127 and chip["y1"].max() < 127 and np.abs(chip["weights"]).max() < 255
    w_chip = chip["weights"][-1] * mapping.weight_scale
    limits = precision_limits(mapping, pre, post)
    diff = w_chip - w_float
    assert np.all(np.abs(diff) <= limits["worst"])
    z = (diff - limits["bias"]) / limits["sigma"]          # zero-mean rounding noise, in units of its sigma bound
    assert np.sqrt(np.mean(z ** 2)) < 1.0 and np.abs(z).max() < 4.5
    assert abs(z.mean()) < 0.5                              # unbiased (synapses share random numbers: loose)
    if strong:   # then the rounding noise is small against what is learned
        assert np.median(limits["sigma"]) < 0.3 * np.median(np.abs(w_float - w_start))


def test_engine_traces_round_stochastically_without_bias():
    """Each trace value is within 1 / (1 - decay) of the exact float trace, and averaged over seeds the
    stochastic rounding is unbiased (mean error far below one unit)."""
    rng = np.random.default_rng(0)
    T, tau = 200, 9.0
    pre, post = _spikes(rng, T, 30, 0.08), _spikes(rng, T, 2, 0.08)
    decay = math.exp(-1 / tau)
    exact, acc = np.zeros(30), []
    for s in pre:
        exact = decay * exact + 16 * s
        acc.append(exact)
    exact = np.stack(acc)
    errors = []
    for seed in range(20):
        rule = EngineRule(dw=(Product("y0", ("x1",), 1, -7),), x1_tau=tau, y1_tau=tau, rng_seed=seed)
        x1 = simulate_learning(rule, np.zeros((2, 30), np.int64), pre, post)["x1"]
        assert np.all(np.abs(x1 - exact) < 1 / (1 - decay))
        errors.append(x1 - exact)
    mean_error = np.mean(errors, axis=0)
    assert np.abs(mean_error).mean() < 0.25 and abs(mean_error.mean()) < 0.05


@pytest.mark.parametrize("tau_e, a_plus, tag_scale, reward_scale, lr", [
    (None, 0.03, 2 ** -10, 2 ** -6, 0.5),      # Florian's MSTDP: no eligibility filter (tag reset every step)
    (10.0, 0.3, 2 ** -6, 0.025, 0.02),         # Izhikevich-style eligibility (increment one)
    (25.0, 0.2, 2 ** -6, 0.025, 0.02)])
def test_float_reward_stdp_follows_the_engine(tau_e, a_plus, tag_scale, reward_scale, lr):
    """snnkit's float RewardModulatedSTDP against the mapped three-factor engine rule: the weight changes
    agree to the measured precision (docs/loihi.md: correlation 0.94-0.95, rms difference 25-30 % of the
    rms change); nothing saturates, so the difference is rounding and scale quantisation only."""
    rng = np.random.default_rng(3)
    T, n_pre, n_post, scale = 300, 20, 10, 2 ** -7
    pre, post = _spikes(rng, T, n_pre, 0.05), _spikes(rng, T, n_post, 0.05)
    modulator = np.where(rng.random(T) < 0.3, rng.integers(1, 8, T), 0) * 0.25
    w0 = rng.integers(-40, 40, (n_post, n_pre)) * 2
    w = torch.tensor(w0 * scale, dtype=torch.float64)
    rule = RewardModulatedSTDP(w, tau_pre=10.0, tau_post=10.0, a_plus=a_plus, a_minus=0.6 * a_plus,
                               tau_eligibility=tau_e, eligibility_increment="one" if tau_e else "dt_over_tau", lr=lr)
    mapping = reward_stdp_to_loihi(rule, scale, reward_scale, tag_scale=tag_scale, rng_seed=5)
    rule.run(torch.tensor(pre, dtype=torch.float64)[:, None], torch.tensor(post, dtype=torch.float64)[:, None],
             torch.tensor(modulator))
    y1, y2 = mapping.post_trace(post), mapping.reward(modulator, n_post)
    pad = lambda x: np.concatenate([x, np.zeros_like(x[:1])])  # noqa: E731  (the reward lands one step later)
    chip = simulate_learning(mapping.rule, w0, pad(pre), pad(post), y1=np.concatenate([y1, y1[-1:]]), y2=y2)
    assert np.abs(chip["tag_1"]).max() < 255 and np.abs(chip["weights"]).max() < 255 and y1.max() < 127
    change_float = w.numpy() - w0 * scale
    change_chip = (chip["weights"][-1] - w0) * scale
    assert np.corrcoef(change_float.ravel(), change_chip.ravel())[0, 1] > 0.85
    assert np.sqrt(np.mean((change_chip - change_float) ** 2)) < 0.45 * np.sqrt(np.mean(change_float ** 2))


def test_reward_mapping_refuses_what_the_engine_cannot_do():
    with pytest.raises(ValueError, match="per_sample=True.*allowed"):
        reward_stdp_to_loihi(RewardModulatedSTDP(torch.zeros(3, 4), per_sample=True), 2 ** -7, 0.1)
    mapping = reward_stdp_to_loihi(RewardModulatedSTDP(torch.zeros(3, 4), a_plus=0.3, a_minus=0.3, lr=0.02),
                                   2 ** -7, 0.025, tag_scale=2 ** -6)
    with pytest.raises(ValueError, match=r"allowed: \[0, 127\]"):
        mapping.reward(np.array([0.5, -0.25]), 3)            # y2 is unsigned: no punishment
    with pytest.raises(ValueError, match="reward_scale"):
        reward_stdp_to_loihi(RewardModulatedSTDP(torch.zeros(3, 4)), 2 ** -7, 0.0)


# ---- what the chip cannot express is refused, by name -------------------------------------------------
@pytest.mark.parametrize("kwargs, name", [
    ({"order": "weight_first"}, "order"),
    ({"weight_dependence": "multiplicative", "w_min": -1.0, "w_max": 1.0}, "weight_dependence"),
    ({"a_plus": lambda w: 0.01 * w}, "a_plus"),
    ({"update": "grad"}, "update"),
    ({"w_max": 1.0}, "w_max"),
    ({"pre_offset": 0.1}, "pre_offset"),
    ({"a_minus": 5e-6}, "a_minus"),              # below the smallest scale 2^-7
    ({"a_plus": 0.043 / 8}, "a_plus"),           # scale 0.043: 8 % from the nearest m * 2^e, above the cap
])
def test_unexpressible_pair_stdp_is_refused(kwargs, name):
    rule = PairSTDP(torch.zeros(3, 4), **{"a_plus": 0.004, "a_minus": 0.004, **kwargs})
    with pytest.raises(ValueError, match=f"{name}=.*allowed"):
        pair_stdp_to_loihi(rule, 2 ** -7, max_scale_error=0.02 if name == "a_plus" else 0.125)


@pytest.mark.parametrize("bad, field", [
    ({"x1_impulse": 200}, "x1_impulse"), ({"t_epoch": 64}, "t_epoch"), ({"y1_tau": -1}, "y1_tau"),
    ({"rng_seed": None}, "rng_seed"), ({"dw": (Product("u0", ("y2",), 1, 0),)}, "traces"),
])
def test_engine_rule_validation(bad, field):
    with pytest.raises(ValueError, match=field):
        EngineRule(**{"dw": (Product("y0", ("x1",), 1, 0),), **bad})


def test_product_and_literal_limits():
    with pytest.raises(ValueError, match="mantissa"):
        Product("y0", ("x1",), 9, 0)
    with pytest.raises(ValueError, match="exponent"):
        Product("y0", ("x1",), 1, -8)
    with pytest.raises(ValueError, match=r"-4 \* 2\^-2"):
        Product("y0", ("x1",), -8, -3)                           # Lava would store -4 * 2^-2
    with pytest.raises(ValueError, match="cannot be held"):
        combine_literals("A", lava_literal(9.0))                   # odd mantissa above 7
    # Lava's float_to_literal: below 1 only powers of two survive, above 1 the integer part
    assert lava_literal(0.3) == (1, -2) and lava_literal(-0.125) == (-1, -3) and lava_literal(3.5) == (3, 0)
    assert combine_literals("A", lava_literal(12.0)) == (6, 1)            # 12 -> 6 * 2^1
    with pytest.raises(ValueError, match="sign_mode"):
        LearningEngine(EngineRule(dw=(Product("y0", ("x1",), 1, 0),)), np.zeros((2, 2), np.int64), sign_mode=0)
    with pytest.raises(ValueError, match="do not fit"):
        LearningEngine(EngineRule(dw=(Product("y0", ("x1",), 1, 0),)), -np.ones((2, 2), np.int64), sign_mode=2)


def test_example_prints_consistent_figures(capsys):
    """examples/deploy/loihi_stdp.py (without Lava): its figures agree with the limits it quotes."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "examples" / "deploy" / "loihi_stdp.py"
    spec = importlib.util.spec_from_file_location("loihi_stdp_example", path)
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    figures = example.main(["--steps", "150", "--pre", "8", "--post", "6"])
    assert figures["within_worst_case"] and figures["max_trace"] < 127
    assert figures["rms_chip_minus_float"] < figures["rms_float_change"]
    assert '"corr_of_changes"' in capsys.readouterr().out
