"""Character-level language modelling with SpikeGPT and its RWKV-4 twin on English text shipped with
Python itself (``pydoc_data/topics.py``, the help texts of the language reference, about 1 MB).

    python examples/models/spikegpt_charlm.py              # about 2 x 3 minutes on one CPU core
    python examples/models/spikegpt_charlm.py --iters 2000  # longer training, better numbers

Both models have the same parameters (SpikeGPT = the RWKV blocks with LIF populations spiking each
block input and the channel mixer). Reports bits per character on the held-out last 10 % of the text,
operations per character (MACs and ACs, counted on held-out text) and their energy ratio, and a sample
generated from a prompt. Writes ``spikegpt_charlm.json`` next to this file.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import torch
from torch.nn import functional as F

from snnkit import analysis, atomic_path
from snnkit.models.rwkv import RWKVLanguageModel, generate

HERE = Path(__file__).resolve().parent


def load_text() -> str:
    import pydoc_data.topics as topics
    return "\n".join(topics.topics[k] for k in sorted(topics.topics))


def encode(text: str) -> tuple[torch.Tensor, list[str]]:
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    return torch.tensor([index[c] for c in text], dtype=torch.long), chars


def batches(ids: torch.Tensor, seq: int, batch: int, gen: torch.Generator):
    while True:
        start = torch.randint(0, len(ids) - seq - 1, (batch,), generator=gen)
        chunk = torch.stack([ids[s:s + seq + 1] for s in start.tolist()], 1)   # [seq+1, B]
        yield chunk[:-1], chunk[1:]


@torch.no_grad()
def bits_per_char(model: RWKVLanguageModel, ids: torch.Tensor, seq: int, max_chars: int) -> float:
    model.eval()
    n = min(len(ids) - 1, max_chars) // seq * seq
    x = ids[:n].view(-1, seq).T.contiguous()             # [seq, chunks]
    y = ids[1:n + 1].view(-1, seq).T
    total = 0.0
    for i in range(0, x.shape[1], 64):
        logits = model(x[:, i:i + 64])
        total += F.cross_entropy(logits.flatten(0, 1), y[:, i:i + 64].flatten(), reduction="sum").item()
    return total / n / math.log(2)


def train(spiking: bool, train_ids, vocab: int, args) -> tuple[RWKVLanguageModel, float]:
    torch.manual_seed(args.seed)
    model = RWKVLanguageModel(vocab, spiking, dim=args.dim, depth=args.depth, ffn_hidden=args.ffn)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, args.lr, total_steps=args.iters, pct_start=0.1)
    gen = torch.Generator().manual_seed(args.seed)
    data, start = batches(train_ids, args.seq, args.batch, gen), time.perf_counter()
    model.train()
    for it in range(args.iters):
        x, y = next(data)
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        if (it + 1) % max(args.iters // 5, 1) == 0:
            print(f"  {'SpikeGPT' if spiking else 'RWKV'} iter {it + 1}/{args.iters}: train bpc "
                  f"{loss.item() / math.log(2):.3f}", flush=True)
    return model, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=300)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--dim", type=int, default=64)
    p.add_argument("--depth", type=int, default=2)
    p.add_argument("--ffn", type=int, default=128)
    p.add_argument("--lr", type=float, default=4e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-chars", type=int, default=50_000)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    text = load_text()
    ids, chars = encode(text)
    split = int(0.9 * len(ids))
    train_ids, test_ids = ids[:split], ids[split:]
    print(f"pydoc_data/topics.py: {len(text)} characters, vocabulary {len(chars)}, "
          f"train {split} / held-out {len(ids) - split}")
    rows, prompt = {}, "The with statement"
    for spiking in (True, False):
        name = "SpikeGPT" if spiking else "RWKV-4 twin"
        model, seconds = train(spiking, train_ids, len(chars), args)
        bpc = bits_per_char(model, test_ids, args.seq, args.eval_chars)
        probe = test_ids[:args.seq * 16].view(16, args.seq).T.contiguous()
        cost = analysis.count_costs(model.eval(), probe, event_driven=spiking)
        per_char = args.seq
        sample = generate(model, [chars.index(c) for c in prompt], 120, temperature=0.7,
                          generator=torch.Generator().manual_seed(0))
        rows[name] = {"bpc": bpc, "params": cost.params, "macs_per_char": cost.macs / per_char,
                      "acs_per_char": cost.acs / per_char, "energy_nj_per_char": cost.energy_uj * 1e3 / per_char,
                      "train_seconds": seconds, "sample": prompt + "".join(chars[i] for i in sample)}
        print(f"{name}: held-out {bpc:.3f} bits/char, {cost.params} parameters, "
              f"{rows[name]['macs_per_char']:.0f} MACs + {rows[name]['acs_per_char']:.0f} ACs per char")
        print(f"  sample: {rows[name]['sample']!r}")
    s, a = rows["SpikeGPT"], rows["RWKV-4 twin"]
    ratio = {"energy_snn_over_ann": s["energy_nj_per_char"] / a["energy_nj_per_char"],
             "ops_snn_over_ann": (s["macs_per_char"] + s["acs_per_char"]) / (a["macs_per_char"] + a["acs_per_char"])}
    print(f"energy SpikeGPT / RWKV: {ratio['energy_snn_over_ann']:.3f}; operations: {ratio['ops_snn_over_ann']:.3f}; "
          f"bits/char {s['bpc']:.3f} vs {a['bpc']:.3f}")
    out = HERE / "spikegpt_charlm.json"
    with atomic_path(out) as tmp:
        tmp.write_text(json.dumps({"args": vars(args), "models": rows, "ratio": ratio,
                                   "command": "python examples/models/spikegpt_charlm.py " + " ".join(argv or sys.argv[1:])},
                                  indent=1))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
