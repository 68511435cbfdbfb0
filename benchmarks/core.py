"""Workload W1 of REFERENCE.md section 1 for snnkit and each peer that imports, each in its own process.

Input Bernoulli spikes [T, 32, 700] (p = 0.05), Linear 700->512, LIF, Linear 512->20, LIF, with
v[t] = 0.9 v[t-1] (1 - s[t-1]) + I[t], threshold 1, hard reset to 0, float32, ATan surrogate. One step =
zero grads, forward over T, loss = sum of output spikes, backward. Linear weights are PyTorch's default
initialisation (seed 0) times GAIN so that both layers fire (about 8 % of neuron-steps).

Prints one JSON object per implementation and a summary line. ``peak_mb`` is the peak resident memory
of the worker process above its resident memory just before the first step (inputs and weights made).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

from benchmarks._worker import run_worker

GAIN = 6.0
BETA = 0.9
IMPLS = ["snnkit", "snnkit-fused", "hand-loop", "snntorch", "norse-lifbox", "spikingjelly"]


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def _data(T: int, B: int):
    import torch

    torch.manual_seed(0)
    l1, l2 = torch.nn.Linear(700, 512), torch.nn.Linear(512, 20)
    with torch.no_grad():
        l1.weight.mul_(GAIN)
        l2.weight.mul_(GAIN)
    x = (torch.rand(T, B, 700, generator=torch.Generator().manual_seed(1)) < 0.05).float()
    return x, l1, l2


def _step_fn(impl: str, l1, l2, online: bool = False):
    """Return ``step(x)``: one training step on input ``x``, returning the output spike count."""
    import torch

    params = list(l1.parameters()) + list(l2.parameters())

    def zero():
        for p in params:
            p.grad = None

    def two_layer_step(neuron1, neuron2):
        """One W1 step where ``neuron_k(current [T, B, N]) -> spikes`` runs layer k's neurons."""
        def step(x):
            zero()
            out = neuron2(l2(neuron1(l1(x))))
            out.sum().backward()
            return float(out.detach().sum())
        return step

    if impl in ("snnkit", "snnkit-fused"):
        import snnkit
        from snnkit.functional import tau_from_decay

        snnkit.set_engine("auto" if impl == "snnkit" else "fused")
        tau = float(tau_from_decay(BETA))
        net = snnkit.neurons.Sequential(l1, snnkit.neurons.LIF(tau_mem=tau), l2, snnkit.neurons.LIF(tau_mem=tau))
        if online:
            def step(x):
                zero()
                state, total = None, 0.0
                for xt in x.unbind(0):   # one step at a time, state detached: memory independent of T
                    out, state = net.run(xt.unsqueeze(0), state)
                    loss = out.sum()
                    loss.backward()
                    total += float(loss)
                    state = snnkit.neurons.detach_state(state)
                return total
            return step

        def step(x):
            zero()
            out = net(x)
            out.sum().backward()
            return float(out.detach().sum())
        return step

    if impl == "hand-loop":
        def lif_seq(cur):
            v = torch.zeros_like(cur[0])
            s = torch.zeros_like(cur[0])
            out = []
            for c in cur.unbind(0):
                v = BETA * v * (1 - s) + c
                s = _atan(v - 1.0)
                out.append(s)
            return torch.stack(out)

        return two_layer_step(lif_seq, lif_seq)

    if impl == "snntorch":
        import snntorch as snn
        from snntorch import surrogate

        n1 = snn.Leaky(beta=BETA, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan())
        n2 = snn.Leaky(beta=BETA, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan())

        def run(neuron, cur):
            mem, out = neuron.init_leaky(), []
            for c in cur.unbind(0):
                spk, mem = neuron(c, mem)
                out.append(spk)
            return torch.stack(out)

        return two_layer_step(lambda cur: run(n1, cur), lambda cur: run(n2, cur))

    if impl == "norse-lifbox":
        import norse.torch as norse

        # norse integrates v += dt/tau (-v + i): dt/tau = 0.1 and input scaled by 10 give v = 0.9 v + I
        p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1 - BETA), v_leak=torch.tensor(0.0),
                                   v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0), method="super", alpha=torch.tensor(100.0))
        c1, c2 = norse.LIFBoxCell(p, dt=1.0), norse.LIFBoxCell(p, dt=1.0)

        def run_cell(cell, cur):
            state, out = None, []
            for c in cur.unbind(0):
                z, state = cell(c / (1 - BETA), state)
                out.append(z)
            return torch.stack(out)

        return two_layer_step(lambda cur: run_cell(c1, cur), lambda cur: run_cell(c2, cur))

    if impl == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate

        # spikingjelly: v += -v / tau + x (decay_input=False); tau = 10 gives v = 0.9 v + x
        n1 = neuron.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_threshold=1.0, v_reset=0.0,
                            surrogate_function=surrogate.ATan(), step_mode="m")
        n2 = neuron.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_threshold=1.0, v_reset=0.0,
                            surrogate_function=surrogate.ATan(), step_mode="m")

        def fresh(node):  # spikingjelly keeps state in the module: reset it before each sequence
            def run(cur):
                node.reset()
                return node(cur)
            return run

        return two_layer_step(fresh(n1), fresh(n2))

    raise ValueError(f"impl={impl!r} is unknown; allowed: {IMPLS}")


def _atan(x):
    import snnkit

    return snnkit.surrogate.spike(x, "atan")


def _floor_ms(T: int, B: int, repeats: int) -> float:
    """The GEMMs of one W1 step alone (forward, weight and input gradients), best median."""
    import torch

    torch.manual_seed(0)
    x = torch.rand(T * B, 700)
    w1, w2 = torch.rand(512, 700), torch.rand(20, 512)
    h = torch.rand(T * B, 512)
    g2 = torch.rand(T * B, 20)
    g1 = torch.rand(T * B, 512)

    def gemms():
        x @ w1.t()
        h @ w2.t()
        g2.t() @ h
        g2 @ w2
        g1.t() @ x

    return _median_ms(gemms, repeats)


def _median_ms(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def worker(impl: str, T: int, B: int, repeats: int, online: bool) -> dict:
    import torch

    torch.set_num_threads(2)
    if impl == "floor":
        return {"bench": "core-W1", "impl": "gemm-floor", "T": T, "batch": B, "median_ms": _floor_ms(T, B, repeats),
                "peak_mb": None, "spikes": None}
    x, l1, l2 = _data(T, B)
    step = _step_fn(impl, l1, l2, online)
    step(x[:2])                           # warm-up on 2 steps: imports, JIT build, allocator caches
    base = _rss_mb()
    spikes = step(x)                      # the measured step: large tensors are mmapped, so the
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - base   # peak RSS is the step's
    ms = _median_ms(lambda: step(x), repeats, warmup=1)
    name = impl + ("-online" if online else "")
    return {"bench": "core-W1", "impl": name, "T": T, "batch": B, "median_ms": round(ms, 2),
            "peak_mb": round(peak_mb, 1), "spikes": spikes}


def _spawn(impl: str, T: int, B: int, repeats: int, online: bool = False) -> dict:
    args = [impl, "--T", str(T), "--batch", str(B), "--repeats", str(repeats)] + (["--online"] if online else [])
    return run_worker("benchmarks.core", args, {"bench": "core-W1", "impl": impl, "T": T, "batch": B})


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="snnkit bench core", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON lines (the default output format)")
    ap.add_argument("--T", type=int, default=100)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--long-T", type=int, default=1000, help="T of the memory runs (0 to skip)")
    ap.add_argument("--impls", default=",".join(IMPLS))
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--online", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker, args.T, args.batch, args.repeats, args.online)), flush=True)
        return 0

    def emit(rec: dict) -> dict:
        print(json.dumps(rec), flush=True)
        return rec

    impls = [i for i in args.impls.split(",") if i]
    floor = emit(_spawn("floor", args.T, args.batch, args.repeats))
    short = {i: emit(_spawn(i, args.T, args.batch, args.repeats)) for i in impls}
    ok = {i: r for i, r in short.items() if "median_ms" in r}
    peers = {i: r for i, r in ok.items() if not i.startswith("snnkit") and i != "hand-loop"}
    ref_spikes = ok.get("snnkit", {}).get("spikes")
    summary: dict = {"bench": "core-W1", "summary": True, "T": args.T, "batch": args.batch,
                     "identical_spike_counts": all(r["spikes"] == ref_spikes for r in ok.values())}
    if "snnkit" in ok and peers:
        best = min(peers, key=lambda i: peers[i]["median_ms"])
        summary.update(best_peer=best, snnkit_vs_best_peer=round(ok["snnkit"]["median_ms"] / peers[best]["median_ms"], 3),
                       snnkit_vs_floor=round(ok["snnkit"]["median_ms"] / floor["median_ms"], 3))
        if args.long_T:
            reps = max(3, args.repeats // 5)
            long_sn = emit(_spawn("snnkit", args.long_T, args.batch, reps))
            long_peer = emit(_spawn(best, args.long_T, args.batch, reps))
            on_short = emit(_spawn("snnkit", args.T, args.batch, reps, online=True))
            on_long = emit(_spawn("snnkit", args.long_T, args.batch, reps, online=True))
            if "peak_mb" in long_sn and "peak_mb" in long_peer:
                summary["memory_T%d_vs_best_peer" % args.long_T] = round(long_sn["peak_mb"] / max(long_peer["peak_mb"], 1e-9), 3)
            if "peak_mb" in on_short and "peak_mb" in on_long:
                summary["online_peak_T%d_vs_T%d" % (args.long_T, args.T)] = round(
                    on_long["peak_mb"] / max(on_short["peak_mb"], 1e-9), 3)
    emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
