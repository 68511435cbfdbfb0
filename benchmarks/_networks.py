"""One network description, built by snnkit and by each peer library, for the core (W1) and conv (W2)
benchmarks: a list of stateless layers (``nn.Module``) and ``LIF`` markers. Every implementation runs
the same LIF, ``v[t] = BETA v[t-1] (1 - s[t-1]) + I[t]``, threshold 1, hard reset to 0, ATan surrogate,
so their spike counts agree; each uses its library's fast multi-step form for training and its
streaming form (one step at a time, state carried) for inference.
"""
from __future__ import annotations

from typing import Callable

BETA = 0.9
LIF = "LIF"
IMPLS = ["snnkit", "snnkit-fused", "hand-loop", "snntorch", "norse-lifbox", "spikingjelly"]
PEERS = ["snntorch", "norse-lifbox", "spikingjelly"]


def _fold(op, x, channels_last: bool = False):
    """Apply a per-sample layer to [T, B, ...] as one call on [T*B, ...] (``channels_last``: convolutions
    get channels-last input, the faster layout for oneDNN on the CPU)."""
    import torch

    T, B = x.shape[:2]
    x = x.reshape(T * B, *x.shape[2:])
    if channels_last and x.dim() == 4 and isinstance(op, torch.nn.Conv2d):
        x = x.contiguous(memory_format=torch.channels_last)
    y = op(x)
    return y.reshape(T, B, *y.shape[1:])


class Built:
    """``forward(x [T, B, ...]) -> spikes`` (training, multi-step) and
    ``stream(x_t [B, ...], state) -> (out, state)`` (inference, one step); ``state=None`` starts at rest."""

    def __init__(self, forward: Callable, stream: Callable) -> None:
        self.forward, self.stream = forward, stream


def build(impl: str, layers: list) -> Built:
    """The network ``layers`` (modules and :data:`LIF` markers) as implementation ``impl`` runs it."""
    import torch

    n_lif = sum(1 for m in layers if m == LIF)
    if impl in ("floor", "floor-nchw"):
        # the stateless layers alone: what any implementation must pay, in the fastest layout (convolutions
        # channels-last); "floor-nchw" keeps PyTorch's default layout, as the peers run it
        ops = [m for m in layers if m != LIF]

        def forward(x):
            for op in ops:
                x = _fold(op, x, channels_last=impl == "floor")
            return x
        return Built(forward, lambda x, s: (forward(x.unsqueeze(0))[0], s))

    if impl in ("snnkit", "snnkit-fused", "snnkit-unfused", "snnkit-events"):
        import snnkit
        from snnkit.functional import tau_from_decay

        snnkit.set_engine("fused" if impl == "snnkit-fused" else "auto")
        snnkit.kernels.set_event_driven(impl == "snnkit-events")  # opt-in: not what "snnkit" measures
        tau = float(tau_from_decay(BETA))
        unfused = impl == "snnkit-unfused"

        def wrap(m):  # "snnkit-unfused": a wrapped pooling is not fused with the LIF before it
            return torch.nn.Sequential(m) if unfused and isinstance(m, torch.nn.AvgPool2d) else m
        mods = [snnkit.neurons.LIF(tau_mem=tau) if m == LIF else snnkit.synapses.TimeDistributed(wrap(m))
                for m in layers]
        net = snnkit.neurons.Sequential(*mods)
        return Built(net, lambda x, s: net.step(x, s))

    # "<peer>-cl": the peer with its convolutions fed channels-last, as a user who knows the trick would
    # (not a default of any peer, so not counted as a "best peer"; reported to show what the layout is worth)
    channels_last = impl.endswith("-cl")
    neurons = _peer_neurons(impl.removesuffix("-cl"), n_lif)

    def forward(x):
        i = 0
        for m in layers:
            if m == LIF:
                x = neurons.multi(i, x)
                i += 1
            else:
                x = _fold(m, x, channels_last=channels_last)
        return x

    def stream(x, state):
        state = [None] * n_lif if state is None else state
        i = 0
        for m in layers:
            if m == LIF:
                x, state[i] = neurons.single(i, x, state[i])
                i += 1
            else:
                x = m(x)
        return x, state

    _ = torch
    return Built(forward, stream)


class _Neurons:
    """``single(i, current_t, state) -> (spikes_t, state)`` for LIF layer ``i``; ``multi(i, current)``
    runs a whole sequence (by default: ``single`` step by step from rest)."""

    def __init__(self, single: Callable, multi: Callable | None = None) -> None:
        self.single = single
        self.multi = multi or self._loop

    def _loop(self, i, cur):
        import torch

        state, out = None, []
        for c in cur.unbind(0):
            s, state = self.single(i, c, state)
            out.append(s)
        return torch.stack(out)


def _peer_neurons(impl: str, n: int) -> _Neurons:
    import torch

    if impl == "hand-loop":  # plain PyTorch autograd over a Python loop, snnkit's surrogate
        import snnkit

        def single(i, c, state):
            v, s = (torch.zeros_like(c), torch.zeros_like(c)) if state is None else state
            v = BETA * v * (1 - s) + c
            s = snnkit.surrogate.spike(v - 1.0, "atan")
            return s, (v, s)

        return _Neurons(single)

    if impl == "snntorch":
        import snntorch as snn
        from snntorch import surrogate

        cells = [snn.Leaky(beta=BETA, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan())
                 for _ in range(n)]

        def single(i, c, mem):
            return cells[i](c, cells[i].init_leaky() if mem is None else mem)

        return _Neurons(single)

    if impl == "norse-lifbox":
        import norse.torch as norse

        # norse integrates v += dt/tau (-v + i): dt/tau = 1 - BETA and input scaled by 1/(1 - BETA)
        p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1 - BETA), v_leak=torch.tensor(0.0),
                                   v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0), method="super",
                                   alpha=torch.tensor(100.0))
        cells = [norse.LIFBoxCell(p, dt=1.0) for _ in range(n)]

        def single(i, c, state):
            return cells[i](c / (1 - BETA), state)

        return _Neurons(single)

    if impl == "spikingjelly":
        from spikingjelly.activation_based import neuron, surrogate

        # v += -v / tau + x (decay_input=False); tau = 1 / (1 - BETA) gives v = BETA v + x
        def node(mode):
            return neuron.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_threshold=1.0, v_reset=0.0,
                                  surrogate_function=surrogate.ATan(), step_mode=mode)
        multi_nodes = [node("m") for _ in range(n)]
        single_nodes = [node("s") for _ in range(n)]

        def multi(i, cur):  # state lives in the module: reset before each sequence
            multi_nodes[i].reset()
            return multi_nodes[i](cur)

        def single(i, c, state):
            if state is None:
                single_nodes[i].reset()
            return single_nodes[i](c), True
        return _Neurons(single, multi)

    raise ValueError(f"impl={impl!r} is unknown; allowed: {IMPLS + ['snnkit-unfused', 'snnkit-events', 'floor', 'floor-nchw']} "
                     "(a peer with '-cl' appended: channels-last convolutions)")


def measure(bench: str, impl: str, layers: list, x, repeats: int, stream_steps: int = 0) -> dict:
    """Time one training step (zero grads, forward over T, loss = output sum, backward) of ``impl`` on
    ``x``, in this process; with ``stream_steps`` time streaming inference instead (batch 1, no grad,
    one step at a time, per-step latency)."""
    import torch

    from benchmarks import _interleave as il

    if impl.startswith("paired:"):  # "paired:floor,snnkit": see measure_paired (repeats: the turns)
        return measure_paired(bench, impl.removeprefix("paired:").split(","), layers, x, repeats)
    built = build(impl, layers)
    rec = {"bench": bench, "impl": impl, "T": int(x.shape[0]), "batch": int(x.shape[1])}
    if stream_steps:
        xs = x[:stream_steps, :1]

        @torch.no_grad()
        def run():
            state, total = None, 0.0
            for x_t in xs.unbind(0):
                out, state = built.stream(x_t, state)
                total += float(out.sum())
            return total
        spikes = run()
        ms, cpu = il.timed(run, repeats)
        return {**rec, "T": stream_steps, "batch": 1, "mode": "stream", "ms_per_step": round(ms / stream_steps, 4),
                "median_ms": round(ms / stream_steps, 4), "cpu_ms": round(cpu / stream_steps, 4),
                "spikes": None if impl == "floor" else spikes}

    step = training_step(built, layers)
    step(x[:2])                       # warm-up: imports, JIT build, allocator caches
    base = il.rss_mb()
    spikes = step(x)
    peak = il.peak_rss_above(base)
    ms, cpu = il.timed(lambda: step(x), repeats, warmup=0)
    return {**rec, "mode": "train", "median_ms": ms, "cpu_ms": cpu, "peak_mb": peak,
            "spikes": None if impl == "floor" else spikes}


def training_step(built: Built, layers: list) -> Callable:
    """One training step of ``built``: zero grads, forward over T, loss = output sum, backward; returns
    the output's sum."""
    params = [q for m in layers if m != LIF for q in m.parameters()]

    def step(inp):
        for q in params:
            q.grad = None
        out = built.forward(inp)
        out.sum().backward()
        return float(out.detach().sum())
    return step


def measure_paired(bench: str, impls: list[str], layers: list, x, turns: int) -> dict:
    """``impls`` (a floor first) in ONE process, one training step of each in turn, ``turns`` times:
    ``<impl>_vs_<floor>``, the median of the per-turn ratios (see ``_interleave.paired_ratios``)."""
    from benchmarks import _interleave as il

    steps = {}
    for impl in impls:
        step = training_step(build(impl, layers), layers)
        step(x[:2])
        steps[impl] = (lambda step=step: step(x))
    ratios = il.paired_ratios(steps, turns, impls[0])
    floor = impls[0].replace("-", "_")
    return {"bench": bench, "impl": "paired", "T": int(x.shape[0]), "batch": int(x.shape[1]), "turns": turns,
            **{f"{i.replace('-', '_')}_vs_{floor}": r for i, r in ratios.items()}}


def bench_main(argv: list[str] | None, *, module: str, bench: str, description: str, worker, T: int,
               batch: int, stream_steps: int, floors: tuple[str, ...] = ("floor",),
               default_impls: tuple[str, ...] = tuple(IMPLS)) -> int:
    """The command line shared by the core and conv benchmarks: interleaved rounds of training steps
    for every implementation and the floor, then streaming inference, then the summary."""
    import argparse
    import json

    from benchmarks import _interleave as il

    ap = argparse.ArgumentParser(prog=f"snnkit bench {module.split('.')[-1]}", description=description)
    ap.add_argument("--json", action="store_true", help="print JSON lines (the default output format)")
    ap.add_argument("--T", type=int, default=T, help=f"time steps per sample (default {T})")
    ap.add_argument("--batch", type=int, default=batch, help=f"batch size (default {batch})")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds (each runs every implementation once, in its own process)")
    ap.add_argument("--repeats", type=int, default=3, help="timed calls per process (median)")
    ap.add_argument("--impls", default=",".join(default_impls),
                    help=f"comma-separated implementations (default: {','.join(default_impls)})")
    ap.add_argument("--stream-steps", type=int, default=stream_steps, help="streaming inference steps (0: skip)")
    ap.add_argument("--paired-steps", type=int, default=0,
                    help="also time snnkit and the floor in one process, one step of each in turn, this many "
                         "times (keys paired_snnkit_vs_*; default 0: skip)")
    il.add_threads_option(ap)
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--mode", default="train", choices=["train", "stream"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.worker:
        rec = worker(args.worker, args.T, args.batch, args.repeats, args.stream_steps if args.mode == "stream" else 0)
        print(json.dumps(rec), flush=True)
        return 0
    il.apply_threads_option(args)
    impls = [i for i in args.impls.split(",") if i]
    common = ["--T", str(args.T), "--batch", str(args.batch), "--repeats", str(args.repeats),
              "--stream-steps", str(args.stream_steps)]
    cases = {i: [i, *common] for i in [*floors, *impls]}
    streamed = [i for i in impls if i == "snnkit" or i in PEERS] if args.stream_steps else []
    cases.update({f"stream:{i}": [i, "--mode", "stream", *common] for i in streamed})
    rounds = il.Rounds(module, bench, cases, args.rounds)
    peers = [i for i in impls if i in PEERS]
    pairs = {"snnkit_vs_best_peer": ("snnkit", peers), "snnkit_vs_floor": ("snnkit", "floor"),
             "stream_snnkit_vs_best_peer": ("stream:snnkit", [f"stream:{p}" for p in peers])}
    for p in [i for i in impls if i.removesuffix("-cl") in PEERS]:
        pairs[f"snnkit_vs_{p}"] = ("snnkit", p)
    for f in floors[1:]:
        pairs[f"snnkit_vs_{f.replace('-', '_')}"] = ("snnkit", f)
    if "snnkit-unfused" in impls:
        pairs["snnkit_unfused_vs_floor"] = ("snnkit-unfused", "floor")
        pairs["snnkit_vs_snnkit_unfused"] = ("snnkit", "snnkit-unfused")
    if "snnkit-events" in impls:  # event-driven synapses (opt-in): against snnkit's default and the peers
        pairs["snnkit_events_vs_snnkit"] = ("snnkit-events", "snnkit")
        pairs["snnkit_events_vs_best_peer"] = ("snnkit-events", peers)
    ok_peers = [p for p in peers if rounds.ok(p)]
    best = min(ok_peers, key=lambda p: sorted(rounds.values(p))[len(rounds.values(p)) // 2]) if ok_peers else None

    def same_spikes(names):
        counts = {r["spikes"] for n in names if rounds.ok(n) for r in rounds.records[n]}
        return len(counts) == 1 if counts else None
    extra = {"T": args.T, "batch": args.batch, "best_peer": best,
             "median_ms": {n: sorted(rounds.values(n))[len(rounds.values(n)) // 2] for n in cases if rounds.ok(n)},
             # event-driven sums are not the BLAS GEMM's: a spike at the threshold may differ, reported apart
             "identical_spike_counts": same_spikes([i for i in impls if i != "snnkit-events"]),
             "snnkit_events_same_spike_count": same_spikes(["snnkit", "snnkit-events"]) if "snnkit-events" in impls else None,
             "identical_stream_spike_counts": same_spikes([f"stream:{i}" for i in streamed]) if streamed else None,
             "failed": {n: rounds.records[n][0].get("error") for n in cases if not rounds.ok(n)}}
    if args.paired_steps:
        paired_args = [f"paired:{floors[0]},snnkit", *common]
        paired_args[paired_args.index("--repeats") + 1] = str(args.paired_steps)
        rec = il.run_worker(module, paired_args, {"error_in": "paired"})
        extra[f"paired_snnkit_vs_{floors[0]}"] = rec.get(f"snnkit_vs_{floors[0]}")
        extra["paired_turns"] = args.paired_steps
    il.emit(il.summarise(rounds, pairs, extra=extra))
    return 0
