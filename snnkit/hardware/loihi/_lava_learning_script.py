"""Runs Lava's learning engine (``LearningDense`` with a Loihi learning rule) in the real Lava runtime.
Executed by ``snnkit.hardware.loihi.learning.run_lava_learning`` with the Lava environment's interpreter.

It must not import snnkit or torch: data comes in and goes out as ``.npz`` files.

    python _lava_learning_script.py IN.npz OUT.npz

IN holds ``n_trials`` and per trial ``k`` (prefix ``t{k}_``): ``pre`` ``[T, N_pre]`` and ``post``
``[T, N_post]`` spikes (0/1), ``weights`` ``[N_post, N_pre]`` (int), ``sign_mode`` (1, 2, 3),
``num_weight_bits``, ``weight_exp``, ``t_epoch``, ``rng_seed``, ``x1_impulse``, ``x1_tau``, and ``rule``:

- ``"loihi2f"``: ``Loihi2FLearningRule(dw=dw, dt=dt (if given), x1_*, y1_impulse, y1_tau, ...)``;
- ``"loihi3f"``: ``Loihi3FLearningRule(dw=dw, dt=dt, x1_*, ...)`` with ``y1``, ``y2`` given per step;
- ``"stdp_loihi"``: ``STDPLoihi(learning_rate, A_plus, A_minus, tau_plus, tau_minus, x1_impulse,
  y1_impulse, ...)`` from ``stdp`` = ``[learning_rate, A_plus, A_minus, tau_plus, tau_minus]``;
- ``"rstdp"``: ``RewardModulatedSTDP(...)`` from ``rstdp`` = ``[learning_rate, A_plus, A_minus,
  pre_trace_decay_tau, post_trace_decay_tau, pre_trace_kernel_magnitude, post_trace_kernel_magnitude,
  eligibility_trace_decay_tau]``, with the post-synaptic traces ``y1`` and ``y2`` (the reward) given
  per step as ``y1``, ``y2`` ``[T, N_post]`` (what a learning neuron would send on ``s_out_y1/y2``).

Pre spikes come from a ``RingBuffer`` into ``s_in``; post spikes from a second ``RingBuffer`` into
``s_in_bap`` (and ``y1``/``y2`` from two more into ``s_in_y1``/``s_in_y2``), or, when ``lif`` =
``[du, dv, vth, bias_exp]`` and ``bias_mant`` are given (``post`` is then ignored), from a fixed-point
``LIF`` driven by the ``LearningDense`` (``a_out -> a_in``, ``s_out -> s_in_bap``: a closed loop).
OUT holds per trial the weights, ``tag_1``, ``x1`` and ``y1`` after every step (``[T, ...]``, from
Monitors), ``post`` (the LIF's spikes, closed loop only) and the rule's ``dw``/``dt`` strings.
"""
from __future__ import annotations

import sys

import numpy as np


def _rule(data, p):
    from lava.magma.core.learning.learning_rule import Loihi2FLearningRule, Loihi3FLearningRule
    from lava.proc.learning_rules.r_stdp_learning_rule import RewardModulatedSTDP
    from lava.proc.learning_rules.stdp_learning_rule import STDPLoihi

    kind = str(data[p + "rule"])
    common = {"t_epoch": int(data[p + "t_epoch"]), "rng_seed": int(data[p + "rng_seed"])}
    if p + "dt" in data.files:
        common["dt"] = str(data[p + "dt"])
    if kind == "loihi2f":
        return Loihi2FLearningRule(dw=str(data[p + "dw"]), x1_impulse=float(data[p + "x1_impulse"]),
                                   x1_tau=float(data[p + "x1_tau"]), y1_impulse=float(data[p + "y1_impulse"]),
                                   y1_tau=float(data[p + "y1_tau"]), **common)
    if kind == "loihi3f":
        return Loihi3FLearningRule(dw=str(data[p + "dw"]), x1_impulse=float(data[p + "x1_impulse"]),
                                   x1_tau=float(data[p + "x1_tau"]), **common)
    if kind == "stdp_loihi":
        lr, a_plus, a_minus, tau_plus, tau_minus = (float(v) for v in data[p + "stdp"])
        return STDPLoihi(learning_rate=lr, A_plus=a_plus, A_minus=a_minus, tau_plus=tau_plus, tau_minus=tau_minus,
                         x1_impulse=float(data[p + "x1_impulse"]), y1_impulse=float(data[p + "y1_impulse"]),
                         **common)
    if kind == "rstdp":
        v = [float(x) for x in data[p + "rstdp"]]
        return RewardModulatedSTDP(learning_rate=v[0], A_plus=v[1], A_minus=v[2], pre_trace_decay_tau=v[3],
                                   post_trace_decay_tau=v[4], pre_trace_kernel_magnitude=v[5],
                                   post_trace_kernel_magnitude=v[6], eligibility_trace_decay_tau=v[7], **common)
    raise ValueError(f"unknown rule {kind!r}")


def main(argv: list[str]) -> int:
    in_path, out_path = argv[0], argv[1]
    from lava.magma.core.run_conditions import RunSteps
    from lava.magma.core.run_configs import Loihi2SimCfg
    from lava.proc.dense.process import LearningDense
    from lava.proc.io.source import RingBuffer
    from lava.proc.monitor.process import Monitor
    from lava.utils.weightutils import SignMode

    data = np.load(in_path, allow_pickle=False)
    results: dict[str, np.ndarray] = {}
    for k in range(int(data["n_trials"])):
        p = f"t{k}_"
        pre, post = data[p + "pre"].astype(np.int32), data[p + "post"].astype(np.int32)
        steps = pre.shape[0]
        rule = _rule(data, p)
        syn = LearningDense(weights=data[p + "weights"].astype(np.int32), learning_rule=rule,
                            sign_mode=SignMode(int(data[p + "sign_mode"])),
                            num_weight_bits=int(data[p + "num_weight_bits"]),
                            weight_exp=int(data[p + "weight_exp"]), name=f"learning_dense{k}")
        src_pre = RingBuffer(data=pre.T)
        src_pre.s_out.connect(syn.s_in)
        lif = None
        if p + "lif" in data.files:
            from lava.proc.lif.process import LIF

            du, dv, vth, bias_exp = (int(v) for v in data[p + "lif"])
            n_post = post.shape[1]
            lif = LIF(shape=(n_post,), du=du, dv=dv, vth=vth, bias_mant=data[p + "bias_mant"].astype(np.int32),
                      bias_exp=np.full((n_post,), bias_exp, np.int32), name=f"lif{k}")
            syn.a_out.connect(lif.a_in)
            lif.s_out.connect(syn.s_in_bap)
        else:
            RingBuffer(data=post.T).s_out.connect(syn.s_in_bap)
        if str(data[p + "rule"]) in ("rstdp", "loihi3f"):
            for name in ("y1", "y2"):
                src = RingBuffer(data=data[p + name].astype(np.int32).T)
                src.s_out.connect(getattr(syn, "s_in_" + name))
        probes = []
        for name in ("weights", "tag_1", "x1", "y1"):
            mon = Monitor()   # Lava's Monitor model holds one probe
            mon.probe(getattr(syn, name), steps)
            probes.append((name, mon))
        if lif is not None:
            spike_mon = Monitor()
            spike_mon.probe(lif.s_out, steps)
        try:
            syn.run(condition=RunSteps(num_steps=steps), run_cfg=Loihi2SimCfg(select_tag="fixed_pt"))
            for name, mon in probes:
                var = getattr(syn, name)
                results[p + name] = np.asarray(mon.get_data()[syn.name][name]).reshape(steps, *var.shape)
            if lif is not None:
                results[p + "post"] = np.asarray(spike_mon.get_data()[lif.name]["s_out"]).reshape(steps, -1)
        finally:
            syn.stop()
        results[p + "dw"] = np.array(str(rule.dw_str))
        results[p + "dt"] = np.array(str(rule.dt_str))
        print(f"lava learning trial {k}: {steps} steps", flush=True)
    from _lava_script import save_results   # the sibling script (this folder is sys.path[0])
    save_results(out_path, results)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
