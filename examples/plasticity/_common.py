"""Shared helpers of the plasticity examples: offline MNIST-1D, atomic PNG writing, argument parsing."""
from __future__ import annotations

import argparse
import os
import tempfile

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--out", default="plasticity_out", help="folder for the PNG figures")
    p.add_argument("--seed", type=int, default=0)
    return p


def mnist1d(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """MNIST-1D generated locally (no download): x [4000, 40], y [4000], x_test [1000, 40], y_test."""
    from mnist1d.data import get_dataset_args, make_dataset

    args = get_dataset_args()
    args.seed = seed
    d = make_dataset(args)
    f = lambda a: torch.as_tensor(np.asarray(a))  # noqa: E731
    return f(d["x"]).float(), f(d["y"]).long(), f(d["x_test"]).float(), f(d["y_test"]).long()


def save_figure(fig, folder: str, name: str) -> str:
    """Write ``fig`` to ``folder/name`` atomically (temp file in the same folder, then rename)."""
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, name)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=folder)
    os.close(fd)
    fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    os.replace(tmp, path)
    return path


def digits_run(description: str, train: int):
    """The shared set-up of the real-digit examples: options (``--train`` defaults to ``train``), one
    thread, the seed, flattened digits in [0, 1] and direct encoding over ``--steps``. Returns
    ``(args, (train_x, train_y), (test_x, test_y), encode)``."""
    from snnkit.data import load_mnist_arrays
    from snnkit.encoding import direct_encode

    p = parser(description)
    p.add_argument("--train", type=int, default=train, help="training digits (at most 8000)")
    p.add_argument("--test", type=int, default=1000, help="test digits (at most 2000)")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--steps", type=int, default=8, help="time steps per digit (direct encoding)")
    p.add_argument("--hidden", type=int, default=256)
    args = p.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(args.seed)

    def digits(split: str, count: int):
        images, labels = load_mnist_arrays(split)
        return images[:count].flatten(1).float() / 255, labels[:count]

    return args, digits("train", args.train), digits("test", args.test), lambda x: direct_encode(x, args.steps)
