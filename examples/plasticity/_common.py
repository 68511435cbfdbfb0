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
