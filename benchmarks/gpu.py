"""GPU training-step benchmark of snnkit's engines against every peer backend that installs.

Workloads (float32, one step = forward over T, loss = sum of output spikes, backward):

- ``on``: the Open Neuromorphic benchmark (REFERENCE.md section 1): Linear 16384 -> 16384 + LIF,
  T = 500, batch 16, input Bernoulli spikes (p = 0.05);
- ``w1``: REFERENCE.md's W1: Linear 700 -> 512, LIF, Linear 512 -> 20, LIF, T = 100, batch 32;
- ``conv``: Conv 2 -> 32 (3x3) + LIF, Conv 32 -> 64 (3x3, stride 2) + LIF, Linear 16384 -> 10 + LIF,
  T = 32, batch 16, input 2 x 32 x 32 Bernoulli spikes.

Every neuron is ``v[t] = 0.9 v[t-1] (1 - s[t-1]) + I[t]``, threshold 1, hard reset to 0, ATan surrogate,
configured in each library so that all emit the same spikes; the output spike counts are compared.
Implementations run in one process, interleaved round by round (each round times one step of each),
so drifts of clock and temperature hit all alike. ``peak_mb`` is the peak CUDA memory of a step above
what was allocated before it (weights, inputs). Without CUDA it prints a JSON note and exits 0.

    snnkit bench gpu --json                     # everything (needs a GPU)
    snnkit bench gpu --workloads w1 --rounds 3

Before timing it checks on the GPU each model's Triton engine against the reference and that the
delay layer, a plasticity rule, Loihi QAT and the crossbar simulator run there (``--no-checks`` skips).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import time

BETA = 0.9
IMPLS = ["snnkit", "snnkit-fused", "snntorch", "norse", "norse-compile", "spikingjelly"]
WORKLOADS = {"on": dict(T=500, batch=16), "w1": dict(T=100, batch=32), "conv": dict(T=32, batch=16)}


def _loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# ---------------------------------------------------------------- networks (synapses shared by every implementation)


def _synapses(workload: str, device):
    """The workload's synapse layers (seed 0, PyTorch default initialisation) and its input spikes."""
    import torch
    from torch import nn

    torch.manual_seed(0)
    T, B = WORKLOADS[workload]["T"], WORKLOADS[workload]["batch"]
    g = torch.Generator(device="cpu").manual_seed(1)
    if workload == "on":
        layers, x = [nn.Linear(16384, 16384)], torch.rand(T, B, 16384, generator=g) < 0.05
    elif workload == "w1":
        layers, x = [nn.Linear(700, 512), nn.Linear(512, 20)], torch.rand(T, B, 700, generator=g) < 0.05
        with torch.no_grad():   # as in benchmarks/core.py: both layers fire
            for layer in layers:
                layer.weight.mul_(6.0)
    else:
        layers = [nn.Conv2d(2, 32, 3, padding=1), nn.Conv2d(32, 64, 3, stride=2, padding=1),
                  nn.Sequential(nn.Flatten(), nn.Linear(64 * 16 * 16, 10))]
        with torch.no_grad():
            for layer in layers:
                layer.weight.mul_(8.0) if isinstance(layer, nn.Conv2d) else layer[1].weight.mul_(8.0)
        x = torch.rand(T, B, 2, 32, 32, generator=g) < 0.2
    return [layer.to(device) for layer in layers], x.float().to(device)


def _neuron_factory(impl: str):
    """``make() -> run(current [T, B, ...]) -> spikes`` for one implementation (imports its library)."""
    import torch

    if impl.startswith("snnkit"):
        import snnkit
        from snnkit.functional import tau_from_decay

        tau = float(tau_from_decay(BETA))
        engine = "fused" if impl == "snnkit-fused" else "auto"

        def make():
            layer = snnkit.neurons.LIF(tau_mem=tau)

            def run(cur):
                with snnkit.use_engine(engine):
                    return layer.to(cur.device)(cur)
            return run
        return make
    if impl == "snntorch":
        import snntorch as snn
        from snntorch import surrogate

        def make():
            cell = snn.Leaky(beta=BETA, threshold=1.0, reset_mechanism="zero", spike_grad=surrogate.atan())

            def run(cur):
                mem, out = cell.init_leaky(), []
                for c in cur.unbind(0):
                    spk, mem = cell(c, mem)
                    out.append(spk)
                return torch.stack(out)
            return run
        return make
    if impl.startswith("norse"):
        import norse.torch as norse

        def make():
            # norse integrates v += dt/tau (-v + i): dt/tau = 0.1 and input x10 give v = 0.9 v + I
            p = norse.LIFBoxParameters(tau_mem_inv=torch.tensor(1 - BETA), v_leak=torch.tensor(0.0),
                                       v_th=torch.tensor(1.0), v_reset=torch.tensor(0.0), method="super",
                                       alpha=torch.tensor(100.0))
            cell = norse.LIFBoxCell(p, dt=1.0)

            def run(cur):
                cell.to(cur.device)
                state, out = None, []
                for c in cur.unbind(0):
                    z, state = cell(c / (1 - BETA), state)
                    out.append(z)
                return torch.stack(out)
            return torch.compile(run) if impl == "norse-compile" else run
        return make
    if impl == "spikingjelly":
        # spikingjelly 2.0 has no backend argument: it binds its fastest CUDA implementation (Triton,
        # CuPy or torch) itself; run_workload records which (functional.neuron.neuron_implementation)
        from spikingjelly.activation_based import neuron, surrogate

        def make():
            node = neuron.LIFNode(tau=1 / (1 - BETA), decay_input=False, v_threshold=1.0, v_reset=0.0,
                                  surrogate_function=surrogate.ATan(), step_mode="m")

            def run(cur):
                node.to(cur.device)
                node.reset()     # spikingjelly keeps state in the module
                return node(cur)
            return run
        return make
    raise ValueError(f"impl={impl!r} is unknown; allowed: {IMPLS}")


def _step_fn(impl: str, synapses, params):
    make = _neuron_factory(impl)
    neurons = [make() for _ in synapses]

    def step(x):
        for p in params:
            p.grad = None
        T, B = x.shape[:2]
        h = x
        for syn, run in zip(synapses, neurons):
            cur = syn(h.flatten(0, 1))
            h = run(cur.reshape(T, B, *cur.shape[1:]))
        h.sum().backward()
        return h.detach().sum()
    return step


# ---------------------------------------------------------------- measurement


def _backend(impl: str, device) -> str | None:
    """Which kernel path an implementation took (snnkit's engine, spikingjelly's bound implementation)."""
    try:
        if impl == "snnkit":
            from snnkit.kernels import triton_engine
            return "triton" if device.type == "cuda" and triton_engine.installed() else "auto (cpu)"
        if impl == "spikingjelly":
            from spikingjelly.activation_based.functional.neuron import neuron_implementation
            return str(neuron_implementation("lif", device)["implementation"])
    except Exception as err:  # informative only
        return f"unknown ({type(err).__name__})"
    return None


def run_workload(workload: str, impls: list[str], rounds: int, device: str) -> list[dict]:
    import torch

    synapses, x = _synapses(workload, device)
    params = [p for s in synapses for p in s.parameters()]
    cuda = device.startswith("cuda")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    steps, records = {}, {}
    for impl in impls:
        rec = {"bench": "gpu", "workload": workload, "impl": impl, **WORKLOADS[workload], "device": device}
        try:
            steps[impl] = _step_fn(impl, synapses, params)
            rec["spikes"] = int(steps[impl](x))      # warm-up (imports, kernel compilation) and spike count
            rec["backend"] = _backend(impl, x.device)
            sync()
            rec["times_ms"], rec["peak_mb"] = [], 0.0
        except Exception as err:  # a peer backend that does not install or run is reported, not fatal
            steps.pop(impl, None)
            rec["error"] = f"{type(err).__name__}: {str(err).strip().splitlines()[0][:200] if str(err).strip() else ''}"
        records[impl] = rec
    for _ in range(rounds):                          # interleaved: one step of each implementation per round
        for impl, step in steps.items():
            if cuda:
                torch.cuda.reset_peak_memory_stats()
            base = torch.cuda.memory_allocated() if cuda else 0
            sync()
            t0 = time.perf_counter()
            step(x)
            sync()
            records[impl]["times_ms"].append(round((time.perf_counter() - t0) * 1000, 3))
            if cuda:
                records[impl]["peak_mb"] = max(records[impl]["peak_mb"],
                                               round((torch.cuda.max_memory_allocated() - base) / 2**20, 1))
    for rec in records.values():
        if "times_ms" in rec:
            rec["median_ms"] = round(statistics.median(rec["times_ms"]), 3)
            if not cuda:
                rec["peak_mb"] = None
    return list(records.values())


def summarise(workload: str, records: list[dict]) -> dict:
    ok = [r for r in records if "median_ms" in r]
    ours = next((r for r in ok if r["impl"] == "snnkit"), None)
    peers = [r for r in ok if not r["impl"].startswith("snnkit")]
    out: dict = {"bench": "gpu", "workload": workload, "summary": True,
                 "identical_spike_counts": len({r["spikes"] for r in ok}) <= 1,
                 "spike_counts": {r["impl"]: r["spikes"] for r in ok},
                 "failed": {r["impl"]: r["error"] for r in records if "error" in r}}
    if ours and peers:
        fastest = min(peers, key=lambda r: r["median_ms"])
        out.update(fastest_peer=fastest["impl"], snnkit_vs_fastest_peer_time=round(ours["median_ms"] / fastest["median_ms"], 3),
                   target_time_met=ours["median_ms"] <= 0.5 * fastest["median_ms"])
        if ours.get("peak_mb") is not None and fastest.get("peak_mb"):
            out.update(snnkit_vs_fastest_peer_memory=round(ours["peak_mb"] / fastest["peak_mb"], 3),
                       target_memory_met=ours["peak_mb"] <= fastest["peak_mb"])
    return out


def check_on_device(device: str) -> list[dict]:
    """Before timing anything: every neuron layer's Triton engine against the reference on ``device``
    (spikes, outputs and input gradients), and the delay layer, a plasticity rule, Loihi QAT and the
    crossbar simulator running with all their tensors on ``device``."""
    import torch

    import snnkit
    from snnkit.neurons import ALIF, IF, LI, LIF, CubaLIF, Izhikevich

    out = []
    layers = {"lif": LIF(learn_tau=True, shape=64), "if": IF(), "cuba": CubaLIF(), "alif": ALIF(), "li": LI(),
              "izhikevich": Izhikevich("chattering")}
    for name, layer in layers.items():
        rec: dict = {"bench": "gpu", "check": "engine", "model": name, "device": device}
        try:
            layer = layer.to(device)
            x = (torch.rand(50, 8, 64, device=device) * (15 if name == "izhikevich" else 1.5)).requires_grad_()
            results = {}
            for engine in ("reference", "triton"):
                with snnkit.use_engine(engine):
                    y = layer(x)
                    (gx,) = torch.autograd.grad((y * torch.linspace(-1, 1, y.numel(), device=device).view_as(y)).sum(), x)
                results[engine] = (y.detach().float(), gx)
            (yr, gr), (yt, gt) = results["reference"], results["triton"]
            rec.update(max_abs_diff_out=float((yr - yt).abs().max()), differing_outputs=int((yr != yt).sum()),
                       max_abs_diff_grad=float((gr - gt).abs().max()), ok=bool(torch.allclose(gr, gt, 1e-3, 1e-4)))
        except Exception as err:
            rec["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        out.append(rec)
    for name, fn in _device_checks().items():
        rec = {"bench": "gpu", "check": "device", "module": name, "device": device}
        try:
            result = fn(torch.device(device))
            rec.update(ok=result.device.type == torch.device(device).type, result_device=str(result.device))
        except Exception as err:
            rec["error"] = f"{type(err).__name__}: {str(err)[:200]}"
        out.append(rec)
    return out


def _device_checks() -> dict:
    import torch

    from snnkit import plasticity
    from snnkit.hardware import crossbar
    from snnkit.hardware.loihi import qat
    from snnkit.synapses import DelayedLinear

    def delays(dev):
        return DelayedLinear(4, 3, 5).to(dev)(torch.rand(6, 2, 4, device=dev))

    def stdp(dev):
        fc = torch.nn.Linear(4, 3).to(dev)
        rule = plasticity.PairSTDP(fc, tau_pre=20, tau_post=20, a_plus=0.01, a_minus=0.012).to(dev)
        for _ in range(3):
            rule.step(torch.rand(2, 4, device=dev), (torch.rand(2, 3, device=dev) < 0.5).float())
        return fc.weight

    def loihi_qat(dev):
        return qat.enable_qat(torch.nn.Sequential(torch.nn.Linear(4, 3))).to(dev)(torch.rand(2, 4, device=dev))

    def crossbar_sim(dev):
        model = crossbar.simulate(torch.nn.Sequential(torch.nn.Linear(8, 3)), "pcm").to(dev)
        return model(torch.rand(4, 8, device=dev))

    return {"delayed_linear": delays, "pair_stdp": stdp, "loihi_qat": loihi_qat, "crossbar": crossbar_sim}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="snnkit bench gpu", description=__doc__.splitlines()[0])
    ap.add_argument("--json", action="store_true", help="print JSON lines (the default output format)")
    ap.add_argument("--workloads", default=",".join(WORKLOADS), help=f"comma-separated subset of {list(WORKLOADS)}")
    ap.add_argument("--impls", default=",".join(IMPLS), help=f"comma-separated subset of {IMPLS}")
    ap.add_argument("--rounds", type=int, default=7, help="timed steps per implementation (interleaved)")
    ap.add_argument("--device", default="cuda", help="cuda (default) or cuda:N; 'cpu' only to check the script")
    ap.add_argument("--T", type=int, default=None, help="override every workload's T (quick checks)")
    ap.add_argument("--no-checks", action="store_true", help="skip the correctness/device checks before timing")
    args = ap.parse_args(argv)
    import torch

    workloads = [w for w in args.workloads.split(",") if w]
    impls = [i for i in args.impls.split(",") if i]
    for w in workloads:
        if w not in WORKLOADS:
            raise ValueError(f"workload={w!r} is unknown; allowed: {list(WORKLOADS)}")
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(json.dumps({"bench": "gpu", "skipped": True, "note": "no CUDA device: this benchmark needs a GPU "
                          f"(torch {torch.__version__}, cuda available: False); nothing was measured"}), flush=True)
        return 0
    if args.T:
        for w in workloads:
            WORKLOADS[w]["T"] = args.T
    header = {"bench": "gpu", "header": True, "device": args.device, "loadavg": _loadavg(), "torch": torch.__version__,
              "gpu": torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else None}
    print(json.dumps(header), flush=True)
    if not args.no_checks and args.device.startswith("cuda"):
        for rec in check_on_device(args.device):
            print(json.dumps(rec), flush=True)
    for w in workloads:
        records = run_workload(w, impls, args.rounds, args.device)
        for rec in records:
            print(json.dumps(rec), flush=True)
        print(json.dumps({**summarise(w, records), "loadavg": _loadavg()}), flush=True)
    return 0
