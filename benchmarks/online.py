"""Online training (SLTT, SLTT-K) against BPTT on workload W1, interleaved rounds, one process per case.

W1 (see ``benchmarks/core.py``): Bernoulli input [T, 32, 700], Linear 700->512, LIF, Linear 512->20, LIF.
One training step = zero grads, forward, loss (per-step spike sum, batch mean), backward: ``bptt`` through
the whole sequence, ``online`` = :func:`snnkit.training.online.backward` with ``method="sltt"``,
``sltt_k`` with ``k = T // 10``, ``ottt`` (the weight gradients reading presynaptic traces). Each runs at ``--T`` and ``--long-T``; ``peak_mb`` is the peak
resident memory of the step above the process's memory before it (inputs and weights made); the
memory summary uses ``live_peak_mb``, the same measure in one more process per case run with
``MALLOC_MMAP_THRESHOLD_=1048576`` (freed buffers go back to the system, see benchmarks/delays.py).

The online steps hand their output over chunk by chunk (``on_output``: the bench counts the spikes)
and keep none of it, as a user training on long sequences for flat memory would: the output
``[T, B, 20]`` grows with T by definition (2.6 MB at T = 1000), so keeping it would measure the output,
not the step. ``online_keep_output`` (memory only, not timed) is the same step keeping the output, as
:class:`snnkit.training.Trainer` does; its peaks are reported beside the others
(``online_keep_output_peak_T1000_vs_T100``). BPTT keeps its output (it needs it for backward anyway).

With ``--accuracy-epochs N`` (default 8; 0 skips it) it also trains the MNIST-1D MLP (snnkit's ``mlp``
model, LI readout, ``ce_mean_membrane``) with BPTT and with online SLTT through
:class:`snnkit.training.Trainer` (same seed, data, schedule, optimiser and learning rate; online then
uses ``readout="mean"``) for ``--accuracy-seeds`` seeds and reports both test accuracies (mean and per
seed).

Summary keys: ``online_vs_bptt`` (the worse of the two T), ``sltt_k_vs_bptt``, ``ottt_vs_bptt`` (likewise),
``online_peak_T1000_vs_T100`` (named after the default T values), per-round ratios, load average.
With ``--paired-steps N`` one more process per T times every method in turn, N times, and reports
the medians of those per-turn ratios (``paired_online_vs_bptt_T100``, ``paired_sltt_k_vs_bptt_T100``,
...): on a shared host, noise lasting longer than one turn then hits both sides of a ratio.
"""
from __future__ import annotations

import argparse
import json
import sys

from benchmarks import _interleave as il
from benchmarks._worker import threads

METHODS = ("bptt", "online", "sltt_k", "ottt")
# each online method's online.backward method ("online_keep_output": memory only, keeps the output)
_ONLINE = {"online": "sltt", "online_keep_output": "sltt", "sltt_k": "sltt_k", "ottt": "ottt"}


def _spike_mean(out, y):  # per-sample spike count, averaged over the batch
    return out.sum() / out.shape[1]


def _training_step(method: str, T: int, B: int, chunk_steps: int | None = None):
    """W1's input and one training step of ``method`` on it: ``(x, step)``, ``step(xs)`` -> spike count."""
    import torch

    torch.set_num_threads(threads())
    import snnkit
    from benchmarks.core import BETA, _data
    from snnkit.functional import tau_from_decay
    from snnkit.training import online

    x, l1, l2 = _data(T, B)
    tau = float(tau_from_decay(BETA))
    net = snnkit.neurons.Sequential(l1, snnkit.neurons.LIF(tau_mem=tau), l2, snnkit.neurons.LIF(tau_mem=tau))
    y = torch.zeros(B, dtype=torch.long)
    gen = torch.Generator().manual_seed(0)

    def step(xs):
        net.zero_grad(set_to_none=True)
        if method == "bptt":
            out = net(xs)
            (online.step_loss_sum(_spike_mean, out, y) / xs.shape[0]).backward()
            return float(out.detach().sum())
        # the online step hands its output over chunk by chunk (spikes counted) and keeps none of it;
        # "online_keep_output" (memory only) keeps the [T, B, 20] output as the Trainer does
        keep = method == "online_keep_output"
        spikes: list[float] = []
        out, _ = online.backward(net, xs, y, _spike_mean, method=_ONLINE[method],
                                 k=max(1, xs.shape[0] // 10), generator=gen,
                                 chunk_steps=chunk_steps or online.DEFAULT_CHUNK_STEPS,
                                 on_output=None if keep else lambda o: spikes.append(float(o.sum())))
        return float(out.sum()) if keep else sum(spikes)
    return x, step


def worker(method: str, T: int, B: int, repeats: int, chunk_steps: int | None = None) -> dict:
    x, step = _training_step(method, T, B, chunk_steps)
    step(x[:2])
    base = il.rss_mb()
    spikes = step(x)
    peak = il.peak_rss_above(base)
    ms, cpu = il.timed(lambda: step(x), repeats, warmup=0)
    return {"bench": "online-W1", "impl": method, "T": T, "batch": B, "median_ms": ms, "cpu_ms": cpu, "peak_mb": peak,
            "spikes": spikes}


def paired(T: int, B: int, steps: int) -> dict:
    """Every method in ONE process, one step of each in turn, ``steps`` times: the medians of the
    per-turn ratios to BPTT (:func:`benchmarks._interleave.paired_ratios`), reported beside the rounds."""
    runs = {m: _training_step(m, T, B) for m in METHODS}
    for x, step in runs.values():
        step(x[:2])
    ratios = il.paired_ratios({m: (lambda x=x, step=step: step(x)) for m, (x, step) in runs.items()}, steps, "bptt")
    return {"bench": "online-W1", "impl": "paired", "T": T, "batch": B, "steps": steps,
            **{f"{m}_vs_bptt": ratios[m] for m in METHODS[1:]}}


def accuracy(epochs: int, seeds: int) -> dict:
    """MNIST-1D test accuracy of the same MLP trained with BPTT and with online SLTT, for seeds
    ``0 .. seeds - 1`` (each seed: the same initial weights, batch order and schedule for both)."""
    import torch

    torch.set_num_threads(threads())
    from snnkit import data, models, training

    splits = data.load("mnist1d", "train", steps=10), data.load("mnist1d", "test", steps=10)
    per_seed: dict[str, list[float]] = {"bptt": [], "online": []}
    for seed in range(seeds):
        for mode in ("bptt", "online"):
            training.seed_everything(seed)
            x, _ = splits[0][0]
            model = models.create("mlp", spiking=True, in_features=int(x.shape[-1]), num_classes=10, hidden=128)
            trainer = training.Trainer(model, {"epochs": epochs, "batch_size": 100, "lr": 5e-3, "progress": False,
                                               "schedule": "cosine", "mode": mode, "loss": "ce_mean_membrane"})
            trainer.fit(splits[0])
            per_seed[mode].append(round(trainer.evaluate(splits[1])["accuracy"], 4))
    result: dict = {f"accuracy_{mode}": round(sum(v) / len(v), 4) for mode, v in per_seed.items()}
    result.update({f"accuracy_{mode}_per_seed": v for mode, v in per_seed.items()})
    result["accuracy_gap_points"] = round(100 * (result["accuracy_bptt"] - result["accuracy_online"]), 2)
    result["accuracy_gap_points_per_seed"] = [round(100 * (b - o), 2)
                                              for b, o in zip(per_seed["bptt"], per_seed["online"])]
    return result


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="snnkit bench online", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON lines (the default output format)")
    ap.add_argument("--T", type=int, default=100, help="the short sequence length (default 100)")
    ap.add_argument("--long-T", type=int, default=1000, help="the long sequence length (default 1000)")
    ap.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (each runs every case once, in its own process)")
    ap.add_argument("--repeats", type=int, default=3, help="timed steps per process (median)")
    ap.add_argument("--accuracy-epochs", type=int, default=8, help="MNIST-1D epochs (0: skip the accuracy run)")
    ap.add_argument("--accuracy-seeds", type=int, default=2, help="MNIST-1D seeds (accuracies: their mean)")
    il.add_threads_option(ap)
    ap.add_argument("--paired-steps", type=int, default=0,
                    help="also time every method in one process, one step of each in turn, this many times "
                         "(keys paired_*; default 0: skip)")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--chunk-steps", type=int, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.accuracy_seeds < 1:
        ap.error(f"--accuracy-seeds={args.accuracy_seeds} must be >= 1")
    if args.worker:
        if args.worker == "accuracy":
            rec = accuracy(args.accuracy_epochs, args.accuracy_seeds)
        elif args.worker == "paired":
            rec = paired(args.T, args.batch, args.paired_steps)
        else:
            rec = worker(args.worker, args.T, args.batch, args.repeats, args.chunk_steps)
        print(json.dumps(rec), flush=True)
        return 0
    il.apply_threads_option(args)
    Ts = (args.T, args.long_T)
    cases = {f"{m}@T{T}": [m, "--T", str(T), "--batch", str(args.batch), "--repeats", str(args.repeats)]
             for T in Ts for m in METHODS}
    rounds = il.Rounds("benchmarks.online", "online-W1", cases, args.rounds)
    pairs = {}
    for T in Ts:
        pairs[f"online_vs_bptt_T{T}"] = (f"online@T{T}", f"bptt@T{T}")
        pairs[f"sltt_k_vs_bptt_T{T}"] = (f"sltt_k@T{T}", f"bptt@T{T}")
        pairs[f"ottt_vs_bptt_T{T}"] = (f"ottt@T{T}", f"bptt@T{T}")
    summary = il.summarise(rounds, pairs)
    for name in METHODS[1:]:
        for suffix in ("", "_cpu"):
            vals = [summary.get(f"{name}_vs_bptt_T{T}{suffix}") for T in Ts]
            summary[f"{name}_vs_bptt{suffix}"] = max(vals) if None not in vals else None
    # memory: one more process per case, large buffers returned to the system when freed
    # the default chunks differ in length between the two T (T = 100: 2 of 50; 1000: 16 of 63), and a
    # chunk's memory grows with its length; "online_same_chunk" runs both T in chunks of the same length
    same = max(1, Ts[0] // 2)
    memory_cases = {**cases, **{f"online_keep_output@T{T}": ["online_keep_output", *cases[f"online@T{T}"][1:]]
                                for T in Ts},
                    **{f"online_same_chunk@T{T}": ["online", "--chunk-steps", str(same), *cases[f"online@T{T}"][1:]]
                       for T in Ts}}  # (the last argument, --repeats, is replaced below)
    live = {name: il.live_peak_mb("benchmarks.online", [*worker_args[:-1], "1"])
            for name, worker_args in memory_cases.items()}
    il.emit({"bench": "online-W1", "live_peak_mb": live})
    on = [live.get(f"online@T{T}") for T in Ts]
    if None not in on:
        summary[f"online_peak_T{Ts[1]}_vs_T{Ts[0]}"] = round(on[1] / max(on[0], 1.0), 3)
    fixed = [live.get(f"online_same_chunk@T{T}") for T in Ts]
    if None not in fixed:
        summary[f"online_same_chunk_peak_T{Ts[1]}_vs_T{Ts[0]}"] = round(fixed[1] / max(fixed[0], 1.0), 3)
        summary["online_same_chunk_steps"] = same
    kept = [live.get(f"online_keep_output@T{T}") for T in Ts]
    if None not in kept:
        summary[f"online_keep_output_peak_T{Ts[1]}_vs_T{Ts[0]}"] = round(kept[1] / max(kept[0], 1.0), 3)
    summary["live_peak_mb"] = live
    spikes = {r["spikes"] for m in ("bptt", "online", "ottt") for r in rounds.records[f"{m}@T{Ts[0]}"] if "spikes" in r}
    summary["identical_spike_counts_bptt_online"] = len(spikes) == 1  # OTTT's forward is SLTT's
    if args.paired_steps:
        for T in Ts:
            rec = il.run_worker("benchmarks.online", ["paired", "--T", str(T), "--batch", str(args.batch),
                                                      "--paired-steps", str(args.paired_steps)], {"error_in": "paired"})
            for m in METHODS[1:]:
                summary[f"paired_{m}_vs_bptt_T{T}"] = rec.get(f"{m}_vs_bptt")
    if args.accuracy_epochs:
        acc = il.run_worker("benchmarks.online", ["accuracy", "--accuracy-epochs", str(args.accuracy_epochs),
                                                  "--accuracy-seeds", str(args.accuracy_seeds)],
                            {"error_in": "accuracy"})
        summary.update(acc)
    summary["targets"] = {"online_vs_bptt": "<= 1.1", "sltt_k_vs_bptt": "<= 0.6",
                          "online_peak_long_vs_short": "about 1 (flat)", "accuracy_gap_points": "<= 2"}
    summary["load_avg_end"] = il.load_average()
    il.emit(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
