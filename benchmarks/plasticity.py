"""Pair STDP on a 1000x1000 synapse matrix, batch 32: snnkit against spikingjelly's ``STDPLearner``.

Both see the same Bernoulli spikes ``pre [T, 32, 1000]``, ``post [T, 32, 1000]`` (p = 0.05) and compute
the same thing: spikingjelly's multi-step learner (``step_mode="m"``, ``on_grad=True``, traces
``x <- x - x/tau + s``, ``f_pre = f_post = 1``) accumulates the weight change over ``T`` steps with fixed
weights; snnkit's :class:`~snnkit.plasticity.PairSTDP` with ``method="euler"``, ``increment="one"``,
``update="grad"`` does the same, either with ``run`` (all steps at once: two GEMMs over ``T*B`` rows)
or stepping (``snnkit-stepwise``: one ``step`` per time step, the online form). Each implementation
runs in its own process; the weight gradients are written to files and checked to be identical (to
float tolerance) before the ratio is reported. One JSON object per line, then the summary
``{"bench": "plasticity", "summary": true, "snnkit_vs_spikingjelly": ...}`` (< 1 means faster).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time

from benchmarks import _interleave as il
from benchmarks._worker import threads

IMPLS = ["snnkit", "snnkit-stepwise", "spikingjelly"]
TAU_PRE, TAU_POST = 4.0, 6.0


def _data(T: int, B: int, n: int):
    import torch

    g = torch.Generator().manual_seed(0)
    pre = (torch.rand(T, B, n, generator=g) < 0.05).float()
    post = (torch.rand(T, B, n, generator=g) < 0.05).float()
    fc = torch.nn.Linear(n, n, bias=False)
    return pre, post, fc


def _runner(impl: str, pre, post, fc):
    import torch

    if impl.startswith("snnkit"):
        from snnkit.plasticity import PairSTDP

        rule = PairSTDP(fc, tau_pre=TAU_PRE, tau_post=TAU_POST, a_plus=1.0, a_minus=1.0, method="euler",
                        increment="one", update="grad")

        def run():
            rule.reset()
            fc.weight.grad = None
            if impl == "snnkit":
                rule.run(pre, post)
            else:
                for p, q in zip(pre.unbind(0), post.unbind(0)):
                    rule.step(p, q)
        return run
    if impl == "spikingjelly":
        from spikingjelly.activation_based import learning

        class Replay(torch.nn.Module):
            def forward(self, x):
                return x

        sn = Replay()
        learner = learning.STDPLearner("m", fc, sn, tau_pre=TAU_PRE, tau_post=TAU_POST,
                                       f_pre=lambda w: 1.0, f_post=lambda w: 1.0)

        def run():
            learner.reset()
            fc.weight.grad = None
            with torch.no_grad():
                fc(pre)
                sn(post)
            learner.step(on_grad=True)
        return run
    raise ValueError(f"impl={impl!r} is unknown; allowed: {IMPLS}")


def _worker(impl: str, T: int, B: int, n: int, repeats: int, out_path: str) -> dict:
    import torch

    torch.set_num_threads(threads())
    pre, post, fc = _data(T, B, n)
    try:
        run = _runner(impl, pre, post, fc)
    except ImportError as err:
        return {"bench": "plasticity", "impl": impl, "error": f"not installed: {err}", "median_ms": None,
                "peak_mb": None}
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    run()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append((time.perf_counter() - t0) * 1e3)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base
    tmp = out_path + ".tmp"
    torch.save(fc.weight.grad.detach().clone(), tmp)
    os.replace(tmp, out_path)
    return {"bench": "plasticity", "impl": impl, "median_ms": round(statistics.median(times), 2),
            "peak_mb": round(peak, 1), "T": T, "batch": B, "synapses": f"{n}x{n}"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="snnkit bench plasticity", description=__doc__.splitlines()[0].replace("``", ""))
    parser.add_argument("--T", type=int, default=20, help="time steps (default 20)")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--n", type=int, default=1000, help="pre and post population size (n x n synapses)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per process (median)")
    parser.add_argument("--impl", nargs="*", default=IMPLS, help=f"subset of {IMPLS}")
    parser.add_argument("--json", action="store_true", help="JSON lines (the only output format)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (one process per impl each)")
    il.add_threads_option(parser)
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(_worker(args.worker, args.T, args.batch, args.n, args.repeats, args.out)), flush=True)
        return 0
    import torch

    il.apply_threads_option(args)
    grads = {}
    with tempfile.TemporaryDirectory() as tmp:
        cases = {impl: [impl, "--T", str(args.T), "--batch", str(args.batch), "--n", str(args.n), "--repeats",
                        str(args.repeats), "--out", os.path.join(tmp, f"{impl}.pt")] for impl in args.impl}
        rounds = il.Rounds("benchmarks.plasticity", "plasticity", cases, args.rounds)
        for impl, worker_args in cases.items():
            if os.path.exists(worker_args[-1]):
                grads[impl] = torch.load(worker_args[-1], weights_only=True)
    summary = il.summarise(rounds, {"snnkit_vs_spikingjelly": ("snnkit", "spikingjelly"),
                                    "snnkit_stepwise_vs_spikingjelly": ("snnkit-stepwise", "spikingjelly")},
                           extra={"T": args.T, "batch": args.batch, "synapses": f"{args.n}x{args.n}"})
    if "spikingjelly" in grads:
        ref = grads["spikingjelly"]
        scale = float(ref.abs().max()) or 1.0
        for impl, g in grads.items():
            if impl != "spikingjelly":
                summary[f"{impl}_identical_updates"] = bool(torch.allclose(g, ref, rtol=1e-5, atol=1e-5 * scale))
                summary[f"{impl}_max_abs_diff"] = float((g - ref).abs().max())
    print(json.dumps(summary), flush=True)
    identical = all(v for k, v in summary.items() if k.endswith("_identical_updates"))
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
