"""Small reference ANN architectures (by name, for the saved-model format and the CLI), a short
trainer for them, and the offline MNIST-1D data set used by tests, examples and benchmarks."""
from __future__ import annotations

import importlib
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from tqdm.auto import tqdm

from .modules import QCFS

_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {}


def register_architecture(name: str) -> Callable[[Callable[..., nn.Module]], Callable[..., nn.Module]]:
    """Decorator: make ``builder(**config) -> nn.Module`` loadable by ``name`` in saved ANN files."""
    def wrap(builder: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
        _ARCHITECTURES[name] = builder
        return builder
    return wrap


def architectures() -> list[str]:
    return sorted(_ARCHITECTURES)


MAX_PARAMETERS = 50_000_000  # default cap on the size of an architecture built from a file's config


def resolve_builder(builder: str | Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """The caller's explicit builder: a callable, or ``"package.module:function"`` to import.

    Only ever called with an argument the caller typed (Python argument or ``--architecture-builder``),
    never with a string read from a file: importing runs code.
    """
    if callable(builder):
        return builder
    if not isinstance(builder, str) or builder.count(":") != 1:
        raise ValueError(f"builder={builder!r} is not allowed; allowed: a callable or 'package.module:function'")
    module, _, attr = builder.partition(":")
    try:
        found = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as err:
        raise ValueError(f"builder={builder!r} could not be imported: {err}") from err
    if not callable(found):
        raise ValueError(f"builder={builder!r} is not callable; allowed: a function returning an nn.Module")
    return found


def build_architecture(name: str, config: dict[str, Any], builder: str | Callable[..., nn.Module] | None = None,
                       path: str | None = None, max_parameters: int = MAX_PARAMETERS) -> nn.Module:
    """Build architecture ``name`` (read from a file) with keyword ``config``.

    ``name`` is only looked up in the registry (:func:`register_architecture`); a file never names code
    to import. A model of your own is built by ``builder`` (a callable or ``"package.module:function"``),
    which only the caller can give. The model is first built on the ``meta`` device (no memory) and
    refused with :class:`~snnkit.errors.SizeLimitError` above ``max_parameters`` parameters.
    """
    from ..errors import InvalidFileError, SizeLimitError

    if not isinstance(name, str):
        raise InvalidFileError(path, "architecture", name, "a registered architecture name (str)")
    if not isinstance(config, dict) or not all(isinstance(k, str) and k.isidentifier() for k in config):
        raise InvalidFileError(path, "config", config, "a dict of keyword arguments (identifier keys)")
    if builder is not None:
        make = resolve_builder(builder)
    elif name in _ARCHITECTURES:
        make = _ARCHITECTURES[name]
    else:
        raise InvalidFileError(path, "architecture", name,
                               f"one of the registered names {architectures()} (a model of your own: pass "
                               "builder='package.module:function', or --architecture-builder on the command line)")
    try:
        with torch.device("meta"):
            count = sum(p.numel() for p in make(**config).parameters())
    except (TypeError, ValueError, RuntimeError) as err:
        raise InvalidFileError(path, "config", config, f"keyword arguments of architecture {name!r} ({err})") from err
    if count > max_parameters:
        raise SizeLimitError(path, "config", config, f"at most max_parameters={max_parameters} parameters "
                             f"(this config builds {count}; raise max_parameters if you trust the file)")
    return make(**config)


def _activation(kind: str, levels: int, threshold: float) -> nn.Module:
    if kind == "relu":
        return nn.ReLU()
    if kind == "qcfs":
        return QCFS(levels, threshold)
    raise ValueError(f"activation={kind!r} is not allowed; allowed: ['relu', 'qcfs']")


@register_architecture("mlp")
def mlp(in_features: int = 40, hidden: tuple[int, ...] | list[int] = (256, 128), num_classes: int = 10,
        activation: str = "relu", levels: int = 8, threshold: float = 4.0, dropout: float = 0.0) -> nn.Sequential:
    """Flatten -> [Linear -> BatchNorm1d -> activation -> Dropout] x len(hidden) -> Linear."""
    layers: list[nn.Module] = [nn.Flatten()]
    width = in_features
    for h in hidden:
        layers += [nn.Linear(width, h), nn.BatchNorm1d(h), _activation(activation, levels, threshold)]
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = h
    layers.append(nn.Linear(width, num_classes))
    return nn.Sequential(*layers)


@register_architecture("cnn1d")
def cnn1d(in_channels: int = 1, length: int = 40, channels: tuple[int, ...] | list[int] = (16, 32),
          num_classes: int = 10, activation: str = "relu", levels: int = 8, threshold: float = 4.0,
          pool: str = "avg") -> nn.Sequential:
    """[Conv1d(k=5) -> BatchNorm1d -> activation -> pool(2)] per channel count -> Flatten -> Linear.
    Input ``[B, in_channels, length]`` (or ``[B, length]`` with ``in_channels=1``: it is unsqueezed)."""
    layers: list[nn.Module] = [nn.Unflatten(1, (in_channels, length))] if in_channels == 1 else []
    c = in_channels
    for out in channels:
        layers += [nn.Conv1d(c, out, 5, padding=2), nn.BatchNorm1d(out), _activation(activation, levels, threshold),
                   nn.AvgPool1d(2) if pool == "avg" else nn.MaxPool1d(2)]
        c, length = out, length // 2
    layers += [nn.Flatten(), nn.Linear(c * length, num_classes)]
    return nn.Sequential(*layers)


def train_classifier(model: nn.Module, x: Tensor, y: Tensor, epochs: int = 20, lr: float = 3e-3,
                     batch_size: int = 128, weight_decay: float = 1e-4, seed: int = 0,
                     progress: bool = False) -> nn.Module:
    """Adam + cross-entropy with a cosine schedule; returns ``model`` in eval mode."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(seed)
    model.train()
    for _ in tqdm(range(epochs), desc="train ANN", disable=not progress):
        for idx in torch.randperm(len(x), generator=g).split(batch_size):
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def mnist1d(seed: int = 42) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """MNIST-1D generated locally by the ``mnist1d`` package (4000 train / 1000 test, length 40):
    ``(x_train, y_train, x_test, y_test)`` as float32 / int64 tensors."""
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ValueError("dataset 'mnist1d' needs the mnist1d package (pip install mnist1d)") from err
    args = get_dataset_args()
    args.seed = seed
    d = make_dataset(args)
    return (torch.tensor(d["x"], dtype=torch.float32), torch.tensor(d["y"], dtype=torch.int64),
            torch.tensor(d["x_test"], dtype=torch.float32), torch.tensor(d["y_test"], dtype=torch.int64))
