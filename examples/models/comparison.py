"""Spiking models against their ANN twins on real data; writes ``examples/models/comparison.md``.

    python examples/models/comparison.py            # every part, 3 seeds (about an hour on 1 busy core)
    python examples/models/comparison.py --all      # also re-runs psmnist.py and spikegpt_charlm.py
    python examples/models/comparison.py --seeds 1  # one seed, a third of the time
    python examples/models/comparison.py --part images   # one table (run parts in parallel), then
    python examples/models/comparison.py --table-only    # write comparison.md from the saved parts

Tables:

1. **Digits (28x28 MNIST images)**: the spiking vision transformers of :mod:`snnkit.models.vision` and
   their twins (same network, LIF -> ReLU, spike attention -> softmax attention), plus Max-Former's
   max-pool vs. average-pool patch embedding (the paper's ablation).
2. **MNIST-1D** (sequences ``[20, 40]``): the sequence models, through the same code as
   ``snnkit compare MODEL --data mnist1d``.
3. **TDNN family** on MNIST-1D (``--part tdnn``): the spiking ``tdnn``, its twin, and the ANN speech
   models ECAPA-TDNN and CAM++ (baselines, not twins).
4. **psMNIST** and **character-level language modelling**: read from ``psmnist.json`` and
   ``spikegpt_charlm.json`` (made by ``psmnist.py`` / ``spikegpt_charlm.py``; ``--all`` re-runs them).

Accuracy is the mean and standard deviation over seeds; parameters, operations (per sample, counted on
test inputs: ANN as dense MACs, SNN as accumulates per spike) and energy (Horowitz 45 nm) from seed 0.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import torch
from torch.nn import functional as F

from snnkit import analysis, atomic_path, data, models
from snnkit.cli.cmd_compare import compare

HERE = Path(__file__).resolve().parent

IMAGE_PAIRS: dict[str, tuple[str, dict[str, Any]]] = {  # label -> (registered name, config)
    "Spikformer": ("spikformer_image", {"dim": 32, "depth": 1, "heads": 2}),
    "Spike-driven Transformer V1": ("sdt_v1_image", {"dim": 32, "depth": 1, "heads": 2}),
    "QSD-Transformer (4-bit)": ("qsd_transformer_image", {"dim": 32, "depth": 1, "heads": 2}),
    "Meta-SpikeFormer (SDT V2)": ("meta_spikeformer_image", {"widths": (8, 16, 32), "depths": (1, 1, 1), "heads": 2}),
    "Max-Former (max-pool embed)": ("max_former_image", {"widths": (8, 16, 32), "depths": (1, 1, 1), "heads": 2}),
    "Max-Former (avg-pool embed)": ("max_former_image", {"widths": (8, 16, 32), "depths": (1, 1, 1), "heads": 2,
                                                          "embed_pool": "avg"}),
}
RECIPE_NOTE = [  # what the recipe search found (Spikformer etc., seed 0, 1000/1000 digits, one thread)
    "Recipe: the first version of this table trained 2 epochs at a peak learning rate of 3e-3; the SNNs",
    "reached 0.19-0.35 and the twins 0.43-0.79: both were undertrained, the SNNs far more. A small search",
    "on seed 0 (same recipe for SNN and twin) found that the learning rate and the number of epochs matter,",
    "the SNN's time steps little: Spikformer SNN 0.156 (2 epochs, 3e-3), 0.237 (4 steps), 0.471 (lr 1e-2),",
    "0.742 (6 epochs), 0.877 (6 epochs, lr 1e-2; twin 0.943), 0.890 (and 4 steps). 6 epochs at 1e-2 with 2",
    "steps is the recipe below: it narrows every gap (from 0.16-0.44 to 0.06-0.21) but closes none, and",
    "the conv-stage models (Meta-SpikeFormer, Max-Former) and the 4-bit QSD stay furthest behind. It also",
    "changes the Max-Former ablation: under the old recipe max-pool embedding won (0.350 vs 0.294), under",
    "this one the two are within one sd, average pooling ahead.",
]
SEQUENCE_PAIRS: dict[str, dict[str, Any]] = {  # registered name -> config
    "mlp": {"hidden": 64},
    "lmu": {"hidden": 48, "order": 8},
    "lmuformer": {"dim": 32, "order": 8},
    "transformer": {"dim": 32},
    "spike_driven_transformer": {"dim": 32},
    "rwkv": {"dim": 32, "ffn_hidden": 64},
}

TDNN_FAMILY: dict[str, dict[str, Any]] = {  # the spiking TDNN, its twin, and the ANN speech models it simplifies
    "tdnn": {},
    "ecapa_tdnn": {"channels": 32, "mfa": 64, "attention": 16, "embed": 32, "se_bottleneck": 8},   # ~30k params
    "campp": {"seg_len": 4},   # 20 steps, 10 after CAM++'s stride-2 TDNN: segments of 4 frames (paper: 100)
}


def digits(split: str, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = data.load_mnist_arrays(split)
    pick = torch.randperm(len(labels), generator=torch.Generator().manual_seed(0))[:count]  # files sorted by class
    return (images[pick].float().unsqueeze(1) / 255.0 - 0.13) / 0.31, labels[pick]


def train_image_model(model, xtr, ytr, epochs: int, seed: int, batch: int = 50, lr: float = 3e-3) -> None:
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01)
    total = epochs * ((len(ytr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=total, pct_start=0.2)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(len(ytr), generator=gen)
        for i in range(0, len(perm), batch):
            idx = perm[i:i + batch]
            loss = F.cross_entropy(model(xtr[idx]).mean(0), ytr[idx])   # mean of the readout over steps
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()


@torch.no_grad()
def image_accuracy(model, x, y) -> float:
    model.eval()
    pred = torch.cat([model(x[i:i + 250]).mean(0).argmax(-1) for i in range(0, len(y), 250)])
    return (pred == y).float().mean().item()


def image_rows(args) -> list[dict[str, Any]]:
    xtr, ytr = digits("train", args.train_images)
    xte, yte = digits("test", args.test_images)
    rows = []
    for label, (name, cfg) in IMAGE_PAIRS.items():
        forms = (True,) if "avg-pool" in label else (True, False)      # the ablation only concerns the SNN
        for spiking in forms:
            accs, cost = [], None
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                model = models.create(name, spiking=spiking, sim_steps=args.sim_steps, **cfg)
                start = time.perf_counter()
                train_image_model(model, xtr, ytr, args.image_epochs, seed, lr=args.image_lr)
                accs.append(image_accuracy(model, xte, yte))
                print(f"  digits {label} {'SNN' if spiking else 'ANN'} seed {seed}: {accs[-1]:.3f} "
                      f"({time.perf_counter() - start:.0f} s)", flush=True)
                if seed == 0:
                    cost = analysis.count_costs(model.eval(), xte[:64], batch_dim=0, event_driven=spiking)
            rows.append(_row(label, spiking, accs, cost, getattr(model, "twin_note", "")))
    return rows


def sequence_rows(args, pairs: dict[str, dict[str, Any]] = SEQUENCE_PAIRS) -> list[dict[str, Any]]:
    rows = []
    for name, cfg in pairs.items():
        per_form: dict[str, list[dict[str, Any]]] = {}
        for seed in range(args.seeds):
            ns = SimpleNamespace(epochs=args.sequence_epochs, lr=5e-3, batch_size=64, seed=seed, no_progress=True,
                                 config=[f"{k}={json.dumps(v)}" for k, v in cfg.items()], data_option=[])
            for r in compare(name, "mnist1d", ns):
                per_form.setdefault(r["form"], []).append(r)
                print(f"  mnist1d {name} {r['form']} seed {seed}: {r['accuracy']:.3f}", flush=True)
        for form, rs in per_form.items():
            r0 = rs[0]
            cost = SimpleNamespace(params=r0["params"], macs=r0["macs"], acs=r0["acs"], energy_uj=r0["energy_uj"])
            rows.append(_row(name, form == "spiking", [r["accuracy"] for r in rs], cost, r0.get("twin", ""),
                             baseline=models.forms(name) == (False,)))
    return rows


def _row(label: str, spiking: bool, accs: list[float], cost: Any, twin: str, baseline: bool = False) -> dict[str, Any]:
    return {"model": label, "form": "SNN" if spiking else "ANN baseline" if baseline else "ANN twin", "acc_mean": statistics.mean(accs),
            "acc_std": statistics.stdev(accs) if len(accs) > 1 else 0.0, "accs": accs, "params": cost.params,
            "macs": cost.macs, "acs": cost.acs, "energy_uj": cost.energy_uj, "twin": twin}


def table(rows: list[dict[str, Any]]) -> list[str]:
    out = ["| model | form | accuracy (mean ± sd) | params | MACs/sample | ACs/sample | energy µJ |",
           "|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        out.append(f"| {r['model']} | {r['form']} | {r['acc_mean']:.3f} ± {r['acc_std']:.3f} | {r['params']} | "
                   f"{r['macs']:.3g} | {r['acs']:.3g} | {r['energy_uj']:.3g} |")
    return out


def verdicts(rows: list[dict[str, Any]]) -> list[str]:
    """One plain line per pair: who wins on accuracy (beyond one sd) and on energy."""
    lines, by_model = [], {}
    for r in rows:
        by_model.setdefault(r["model"], {})[r["form"]] = r
    for model, forms in by_model.items():
        if "SNN" not in forms or "ANN twin" not in forms:
            continue
        s, a = forms["SNN"], forms["ANN twin"]
        gap = s["acc_mean"] - a["acc_mean"]
        noise = max(s["acc_std"], a["acc_std"])
        verdict = ("the SNN loses" if gap < -noise else "the SNN wins" if gap > noise else "a tie within one sd")
        lines.append(f"- **{model}**: accuracy {s['acc_mean']:.3f} vs {a['acc_mean']:.3f} ({verdict}, "
                     f"{gap:+.3f}); energy {s['energy_uj'] / max(a['energy_uj'], 1e-12):.2f}x the twin's.")
    return lines


def maxpool_claim(rows: list[dict[str, Any]]) -> list[str]:
    """Max-Former's claim, max-pool patch embedding beats average pooling, on the same data and seeds."""
    snn = {r["model"]: r for r in rows if r["form"] == "SNN" and r["model"].startswith("Max-Former")}
    mx, av = snn.get("Max-Former (max-pool embed)"), snn.get("Max-Former (avg-pool embed)")
    if mx is None or av is None:
        return []
    gap, noise = mx["acc_mean"] - av["acc_mean"], max(mx["acc_std"], av["acc_std"])
    verdict = "holds here" if gap > noise else "is not borne out here" if gap < -noise else "is within one sd here"
    return [f"Max-Former's claim (max-pool patch embedding beats average pooling) {verdict}: "
            f"{mx['acc_mean']:.3f} ± {mx['acc_std']:.3f} vs {av['acc_mean']:.3f} ± {av['acc_std']:.3f} "
            f"(seeds {', '.join(f'{a:.3f}/{b:.3f}' for a, b in zip(mx['accs'], av['accs']))})."]


def extra_sections() -> list[str]:
    out = []
    ps = HERE / "psmnist.json"
    if ps.is_file():
        d = json.loads(ps.read_text())
        out += ["## Permuted sequential MNIST (14x14 digits, 196 steps, 1 pixel per step)", "",
                f"`{d['command']}` ({d['args']['train']} train / {d['args']['test']} test digits, "
                f"{d['args']['epochs']} epochs, one seed).", "",
                "| model | form | accuracy | params | MACs/sample | ACs/sample | energy µJ | accuracy after 25/50/75/100 % of the sequence |",
                "|---|---|---:|---:|---:|---:|---:|---|"]
        for r in d["rows"]:
            curve = " / ".join(f"{v:.3f}" for v in r.get("accuracy_vs_prefix", {}).values()) or "-"
            out.append(f"| {r['model']} | {r['form']} | {r['accuracy']:.3f} | {r['params']} | {r['macs']:.3g} | "
                       f"{r['acs']:.3g} | {r['energy_uj']:.3g} | {curve} |")
        out.append("")
    lm = HERE / "spikegpt_charlm.json"
    if lm.is_file():
        d = json.loads(lm.read_text())
        out += ["## Character-level language model on `pydoc_data/topics.py`", "",
                f"`{d['command']}`; held-out bits per character (last 10 % of the text), equal parameters.", "",
                "| model | bits/char | params | MACs/char | ACs/char | energy nJ/char |", "|---|---:|---:|---:|---:|---:|"]
        for name, r in d["models"].items():
            out.append(f"| {name} | {r['bpc']:.3f} | {r['params']} | {r['macs_per_char']:.0f} | {r['acs_per_char']:.0f} | "
                       f"{r['energy_nj_per_char']:.1f} |")
        out += ["", f"Energy SpikeGPT / RWKV: {d['ratio']['energy_snn_over_ann']:.3f}; operations (MACs + ACs): "
                    f"{d['ratio']['ops_snn_over_ann']:.3f}.", "", "Samples (prompt `The with statement`, temperature 0.7):", ""]
        out += [f"- {name}: `{r['sample']!r}`" for name, r in d["models"].items()]
        out.append("")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--part", choices=("images", "mnist1d", "tdnn", "all"), default="all")
    p.add_argument("--table-only", action="store_true", help="rewrite comparison.md from the saved JSON parts")
    p.add_argument("--train-images", type=int, default=1000)
    p.add_argument("--test-images", type=int, default=1000)
    p.add_argument("--image-epochs", type=int, default=6)
    p.add_argument("--image-lr", type=float, default=1e-2, help="peak of the one-cycle schedule (SNN and twin alike)")
    p.add_argument("--sim-steps", type=int, default=2)
    p.add_argument("--sequence-epochs", type=int, default=4)
    p.add_argument("--all", action="store_true", help="also re-run psmnist.py and spikegpt_charlm.py")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.all:
        for script in ("psmnist.py", "spikegpt_charlm.py"):
            subprocess.run([sys.executable, str(HERE / script)], check=True)
    cmd = "python examples/models/comparison.py " + " ".join(argv if argv is not None else sys.argv[1:])
    makers = (("images", image_rows), ("mnist1d", sequence_rows), ("tdnn", lambda a: sequence_rows(a, TDNN_FAMILY)))
    for part, make in makers:
        if not args.table_only and args.part in (part, "all"):
            start = time.perf_counter()
            rows = make(args)
            with atomic_path(HERE / f"comparison_{part}.json") as tmp:
                tmp.write_text(json.dumps({"rows": rows, "args": vars(args), "command": cmd.strip(),
                                           "seconds": time.perf_counter() - start}, indent=1))
    parts = {part: json.loads((HERE / f"comparison_{part}.json").read_text()) for part in ("images", "mnist1d", "tdnn")
             if (HERE / f"comparison_{part}.json").is_file()}
    text = ["# Spiking models vs. their ANN twins on real data", "",
            "Made by `python examples/models/comparison.py` (training on CPU, one thread; the exact command and",
            "time of each table are under it). Every ANN twin is the spiking model's own architecture with the",
            "spiking nonlinearity replaced (LIF -> ReLU / rate unit; spike attention -> softmax attention);",
            "parameters are equal within a pair. Accuracy: mean ± sd over seeds; costs per test sample, from",
            "seed 0 (ANN: dense MACs; SNN: accumulates counted from its measured spikes; MAC 4.6 pJ, AC 0.9 pJ,",
            "Horowitz ISSCC 2014, 45 nm; memory traffic not included, which favours the SNN).", ""]
    if "images" in parts:
        a, img = parts["images"]["args"], parts["images"]["rows"]
        text += [f"## Digits (MNIST 28x28; {a['train_images']} train / {a['test_images']} test images, "
                 f"{a['image_epochs']} epochs, {a['sim_steps']} SNN steps, {a['seeds']} seeds)", "",
                 f"`{parts['images']['command']}`, {parts['images']['seconds']:.0f} s. Both forms train with the same "
                 f"recipe: AdamW, one-cycle learning rate peaking at {a.get('image_lr', 3e-3):g} (20 % warm-up), "
                 "batch 50, cross-entropy on the readout averaged over steps.", "",
                 *RECIPE_NOTE, "",
                 *table(img), "", *verdicts(img), "",
                 *maxpool_claim(img), ""]
    if "mnist1d" in parts:
        a, seq = parts["mnist1d"]["args"], parts["mnist1d"]["rows"]
        text += [f"## MNIST-1D (sequences of 20 steps x 40 features; {a['sequence_epochs']} epochs, {a['seeds']} seeds)",
                 "", f"`{parts['mnist1d']['command']}`, {parts['mnist1d']['seconds']:.0f} s. Same training as "
                 "`snnkit compare MODEL --data mnist1d --epochs N --lr 5e-3 --batch-size 64 --seed S`.", "",
                 *table(seq), "", *verdicts(seq), ""]
    if "tdnn" in parts:
        a, rows = parts["tdnn"]["args"], parts["tdnn"]["rows"]
        text += [f"## The spiking TDNN beside the ANN speech models (MNIST-1D; {a['sequence_epochs']} epochs, "
                 f"{a['seeds']} seeds)", "", f"`{parts['tdnn']['command']}`, {parts['tdnn']['seconds']:.0f} s. "
                 "`tdnn` is an ECAPA-like network (SE-Res blocks, mean pooling) with LIFs, its twin the same with "
                 "ReLUs; ECAPA-TDNN and CAM++ (compact sizes: `TDNN_FAMILY` in comparison.py) are "
                 "the ANN models the speech SNN literature compares with, not twins: parameters differ. No "
                 "speech data ships offline, so this is MNIST-1D, a 1-D sequence task.", "",
                 *table(rows), "", *verdicts(rows), ""]
    text += extra_sections()
    out = HERE / "comparison.md"
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(text) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
