"""Train the spiking models and their ANN twins of the comparison table on one offline Randman task and
write ``examples/models/comparison.md`` (and one ``compare_<model>.json`` per pair next to it).

    python examples/models/comparison.py                # a few minutes on 2 CPU cores
    python examples/models/comparison.py --table-only   # rewrite the table from the JSON files

Each pair is one ``snnkit compare MODEL --data randman ...`` run with the options below; the Markdown
file lists the exact commands, so any row can be reproduced on its own.
"""
from __future__ import annotations

import json
import shlex
import sys
from pathlib import Path

from snnkit.cli import main as cli_main
from snnkit.cli.cmd_compare import format_table
from snnkit import atomic_path

HERE = Path(__file__).resolve().parent
DATA = ["classes=10", "channels=16", "steps=20", "samples_per_class=60", "eval_samples_per_class=30",
        "seed=0"]
TRAIN = ["--epochs", "15", "--batch-size", "32", "--lr", "5e-3", "--seed", "0", "--threads", "1"]
PAIRS = {  # model -> its size options (small enough to train in about a minute each)
    "lmu": ["hidden=32"],
    "transformer": ["dim=16"],               # spiking form: Spikformer (SSA); ANN: softmax transformer
    "spike_driven_transformer": ["dim=16"],  # spiking form: SDSA with membrane shortcuts
    "delay_net": ["hidden=32"],
}


def command(model: str) -> list[str]:
    argv = ["compare", model, "--data", "randman", *TRAIN, "--no-progress"]
    for opt in DATA:
        argv += ["--data-option", opt]
    for opt in PAIRS[model]:
        argv += ["--config", opt]
    return argv + ["--json", str(HERE / f"compare_{model}.json")]


def main(argv: list[str] | None = None) -> int:
    """``--table-only``: rebuild comparison.md from the JSON files of an earlier run (no training)."""
    table_only = "--table-only" in (sys.argv[1:] if argv is None else argv)
    rows, commands = [], []
    for model in PAIRS:
        argv = command(model)
        if not table_only and cli_main(argv) != 0:
            return 1
        commands.append("snnkit " + shlex.join(argv[:-2]))
        rows += json.loads((HERE / f"compare_{model}.json").read_text())
    text = ["# Spiking models vs. their ANN twins on one offline task", "",
            f"Data: Randman ({', '.join(DATA)}); training: {' '.join(TRAIN[:-2])} (both forms alike).",
            "Accuracy on the test split; parameters are equal within each pair; operations, spikes and energy",
            "are per test sample, counted on the first 128 test samples. `transformer`: Spikformer (spiking",
            "self-attention without softmax) vs. a softmax transformer; `spike_driven_transformer`: SDSA with",
            "membrane shortcuts vs. the same softmax transformer.",
            "", format_table(rows, markdown=True), "", "Made by `python examples/models/comparison.py`, i.e.:", "",
            "```", *commands, "```", ""]
    out = HERE / "comparison.md"
    with atomic_path(out) as tmp:
        tmp.write_text("\n".join(text))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
