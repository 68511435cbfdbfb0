"""Plasticity on the chip: snnkit's float pair STDP mapped to Loihi 2's learning engine.

Random Poisson pre and post spike trains drive one synapse matrix three ways: snnkit's float
``PairSTDP`` (and ``RewardModulatedSTDP`` with a random reward); snnkit's fixed-point model of the engine
(``simulate_learning``); and, with ``--lava``, the real Lava runtime (``LearningDense`` with
``Loihi2FLearningRule`` / ``Loihi3FLearningRule``). Prints the mapping, whether snnkit's model equals
Lava bit for bit at every step, and how far the chip's weights end from the float rule against the
documented precision limits (``precision_limits``: bias, sigma, worst case).

    PYTHONPATH=$PWD .venv/bin/python examples/deploy/loihi_stdp.py [--steps 400] [--lava]

The last line is one JSON object with the figures (docs/loihi.md quotes them with this command).
"""
from __future__ import annotations

import argparse
import json

import numpy as np
import torch

from snnkit.hardware.loihi import lava_available
from snnkit.hardware.loihi.learning import (LavaLearningTrial, pair_stdp_to_loihi, precision_limits,
                                            reward_stdp_to_loihi, run_lava_learning, simulate_learning)
from snnkit.plasticity import PairSTDP, RewardModulatedSTDP

WEIGHT_SCALE = 2 ** -7          # float weight of one integer weight unit (weights in [-2, 2))


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=400)
    ap.add_argument("--pre", type=int, default=20)
    ap.add_argument("--post", type=int, default=10)
    ap.add_argument("--rate", type=float, default=0.05, help="spike probability per step")
    ap.add_argument("--a-plus", type=float, default=0.02)
    ap.add_argument("--a-minus", type=float, default=0.01)
    ap.add_argument("--tau-pre", type=float, default=10.0)
    ap.add_argument("--tau-post", type=float, default=10.0)
    ap.add_argument("--impulse", type=float, default=32.0, help="trace impulse of one spike (7-bit traces)")
    ap.add_argument("--lava", action="store_true", help="also run the real Lava runtime (.venv-lava)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    rng = np.random.default_rng(args.seed)
    T = args.steps
    pre = (rng.random((T, args.pre)) < args.rate).astype(np.int64)
    post = (rng.random((T, args.post)) < args.rate).astype(np.int64)
    w0 = rng.integers(-40, 40, (args.post, args.pre)) * 2      # even: representable in mixed sign mode

    # float rule, and its mapping onto the engine
    w_float = torch.tensor(w0 * WEIGHT_SCALE, dtype=torch.float64)
    rule = PairSTDP(w_float, tau_pre=args.tau_pre, tau_post=args.tau_post, a_plus=args.a_plus, a_minus=args.a_minus)
    mapping = pair_stdp_to_loihi(rule, WEIGHT_SCALE, x1_impulse=args.impulse, y1_impulse=args.impulse, rng_seed=1)
    rule.run(torch.tensor(pre, dtype=torch.float64)[:, None], torch.tensor(post, dtype=torch.float64)[:, None])
    chip = simulate_learning(mapping.rule, w0, pre, post)
    print(f"Lava rule: dw = {mapping.rule.dw_string}; x1_tau={mapping.rule.x1_tau:g}, "
          f"y1_tau={mapping.rule.y1_tau:g}, impulses {mapping.rule.x1_impulse:g}")
    for name, wanted in mapping.wanted.items():
        print(f"  {name}: engine scale wanted {wanted:+.5f}, held with relative error {mapping.scale_error[name]:.1%}")

    # float against fixed point
    start, wf, wc = w0 * WEIGHT_SCALE, w_float.numpy(), chip["weights"][-1] * WEIGHT_SCALE
    limits = precision_limits(mapping, pre, post)
    diff = wc - wf
    z = (diff - limits["bias"]) / limits["sigma"]
    corr = float(np.corrcoef((wf - start).ravel(), (wc - start).ravel())[0, 1])
    figures = {"steps": T, "synapses": int(w0.size), "dw": mapping.rule.dw_string,
               "scale_error": {k: round(v, 4) for k, v in mapping.scale_error.items()},
               "max_trace": int(max(chip["x1"].max(), chip["y1"].max())),   # 127: saturated, limits invalid
               "rms_float_change": float(np.sqrt(np.mean((wf - start) ** 2))),
               "rms_chip_minus_float": float(np.sqrt(np.mean(diff ** 2))),
               "max_abs_chip_minus_float": float(np.abs(diff).max()),
               "median_sigma": float(np.median(limits["sigma"])), "rms_z": float(np.sqrt(np.mean(z ** 2))),
               "within_worst_case": bool(np.all(np.abs(diff) <= limits["worst"])), "corr_of_changes": corr,
               "weight_lsb": WEIGHT_SCALE}
    print(f"float vs chip after {T} steps, {w0.size} synapses: rms change {figures['rms_float_change']:.4f}, "
          f"rms difference {figures['rms_chip_minus_float']:.4f} (one weight unit = {WEIGHT_SCALE:.4f}), "
          f"correlation of changes {corr:.3f}; sigma bound {figures['median_sigma']:.4f} (median), "
          f"rms z {figures['rms_z']:.2f}, all within the worst case: {figures['within_worst_case']}")

    # reward-modulated STDP (eligibility tau 10): float rule against the mapped three-factor engine rule
    modulator = np.where(rng.random(T) < 0.3, rng.integers(1, 8, T), 0) * 0.25
    w_r = torch.tensor(w0 * WEIGHT_SCALE, dtype=torch.float64)
    rstdp = RewardModulatedSTDP(w_r, tau_pre=10.0, tau_post=10.0, a_plus=0.3, a_minus=0.18, tau_eligibility=10.0,
                                eligibility_increment="one", lr=0.02)
    r_map = reward_stdp_to_loihi(rstdp, WEIGHT_SCALE, reward_scale=0.025, tag_scale=2 ** -6, rng_seed=5)
    rstdp.run(torch.tensor(pre, dtype=torch.float64)[:, None], torch.tensor(post, dtype=torch.float64)[:, None],
              torch.tensor(modulator))
    y1, y2 = r_map.post_trace(post), r_map.reward(modulator, args.post)   # the reward lands one step later
    pad = lambda x: np.concatenate([x, np.zeros_like(x[:1])])  # noqa: E731
    pre_r, post_r, y1_r = pad(pre), pad(post), np.concatenate([y1, y1[-1:]])
    chip_r = simulate_learning(r_map.rule, w0, pre_r, post_r, y1=y1_r, y2=y2)
    change_f, change_c = w_r.numpy() - start, (chip_r["weights"][-1] - w0) * WEIGHT_SCALE
    figures["rstdp"] = {"dw": r_map.rule.dw_string, "dt": r_map.rule.dt_string,
                        "rms_float_change": float(np.sqrt(np.mean(change_f ** 2))),
                        "rms_chip_minus_float": float(np.sqrt(np.mean((change_c - change_f) ** 2))),
                        "corr_of_changes": float(np.corrcoef(change_f.ravel(), change_c.ravel())[0, 1]),
                        "max_tag": int(np.abs(chip_r["tag_1"]).max())}
    print(f"reward-modulated STDP: dw = {r_map.rule.dw_string}; dt = {r_map.rule.dt_string}; rms change "
          f"{figures['rstdp']['rms_float_change']:.4f}, rms difference {figures['rstdp']['rms_chip_minus_float']:.4f}, "
          f"correlation {figures['rstdp']['corr_of_changes']:.3f}")

    if args.lava:
        if not lava_available():
            raise SystemExit("--lava needs the Lava environment: bash .ci/install_lava.sh")
        lava = run_lava_learning([LavaLearningTrial(mapping.rule, w0, pre, post),
                                  LavaLearningTrial(r_map.rule, w0, pre_r, post_r, y1=y1_r, y2=y2)])
        figures["lava_pair_stdp_bit_exact"] = bool(all(np.array_equal(chip[k], lava[0][k])
                                                       for k in ("weights", "x1", "y1")))
        figures["lava_rstdp_bit_exact"] = bool(all(np.array_equal(chip_r[k], lava[1][k])
                                                   for k in ("weights", "tag_1", "x1")))
        print(f"real Lava: pair STDP weights and traces equal at all {T} steps: "
              f"{figures['lava_pair_stdp_bit_exact']}; RewardModulatedSTDP weights, tags and traces equal: "
              f"{figures['lava_rstdp_bit_exact']}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    main()
