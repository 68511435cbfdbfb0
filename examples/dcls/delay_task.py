"""(An experiment, not library code: run ``examples/dcls/delays_matter.py``.)

An offline task whose answer is in the relative timing of spikes, and a fair comparison of
learned, fixed random and no synaptic delays on it (evidence that delays matter).

Task ("timing permutations"): ``channels`` input channels each fire once, at offsets
``0, spacing, 2 spacing, ...`` assigned to the channels by a class-specific permutation, all shifted by
a random start time, plus background spikes. Every class has the same spike count per channel and no
two pattern spikes coincide, so neither counts nor instantaneous coincidences tell classes apart: a
network must bring spikes from different times together. Delays do exactly that (a neuron whose
synaptic delays undo one class's offsets receives a coincidence for that class only).

Comparison: ``DelayedLinear -> LIF (short memory) -> Linear(sum of spikes over time)``. The no-delay
and random-delay networks get more hidden neurons so that every network has the same number of
trainable parameters (a learned delay is a parameter). Learned delays follow the DCLS recipe (sigma
schedule, separate delay learning rate, clamping) and are evaluated frozen (integer delays).
"""
from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from snnkit.analysis import count_parameters
from snnkit.neurons import LIF
from snnkit.synapses import DCLSRecipe, DelayedLinear, delay_param_groups, freeze_delays

__all__ = ["make_timing_task", "TimingNet", "compare_delay_modes"]


def make_timing_task(n: int, classes: int = 8, channels: int = 6, steps: int = 40, spacing: int = 3,
                     background: float = 0.02, seed: int = 0, template_seed: int = 1234) -> tuple[Tensor, Tensor]:
    """``(x [steps, n, channels] float spikes, labels [n])``; class patterns depend only on
    ``template_seed`` so train and test sets drawn with different ``seed`` share them."""
    for name, v in (("n", n), ("classes", classes), ("channels", channels), ("steps", steps), ("spacing", spacing)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise ValueError(f"{name}={v!r} must be an int >= 1")
    span = spacing * (channels - 1)
    if span >= steps:
        raise ValueError(f"steps={steps} must exceed spacing * (channels - 1) = {span}")
    if classes > math.factorial(channels):
        raise ValueError(f"classes={classes} exceeds the {math.factorial(channels)} permutations of {channels} channels")
    tg = torch.Generator().manual_seed(template_seed)
    perms: list[Tensor] = []
    while len(perms) < classes:
        p = torch.randperm(channels, generator=tg)
        if not any(torch.equal(p, q) for q in perms):
            perms.append(p)
    offsets = torch.stack(perms) * spacing  # [classes, channels]
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (n,), generator=g)
    start = torch.randint(0, steps - span, (n,), generator=g)
    x = (torch.rand(steps, n, channels, generator=g) < background).float()
    times = start[:, None] + offsets[labels]  # [n, channels]
    x[times, torch.arange(n)[:, None], torch.arange(channels)[None, :]] = 1.0
    return x, labels


class TimingNet(nn.Module):
    """``DelayedLinear(channels -> hidden) -> LIF -> Linear(hidden -> classes)`` on the spike counts."""

    def __init__(self, channels: int, hidden: int, classes: int, max_delay: int, mode: str,
                 tau_mem: float = 0.3) -> None:
        super().__init__()
        self.delayed = DelayedLinear(channels, hidden, max_delay, mode=mode)
        with torch.no_grad():
            self.delayed.weight.mul_(4.0)  # start near threshold: coincidences of a few inputs fire
        self.lif = LIF(tau_mem=tau_mem, reset="subtract")
        self.readout = nn.Linear(hidden, classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.readout(self.lif(self.delayed(x)).sum(0))


def _hidden_for_equal_params(channels: int, classes: int, hidden_learned: int) -> int:
    learned = 2 * channels * hidden_learned + hidden_learned * classes + classes
    return max(1, round((learned - classes) / (channels + classes)))


def _fit(net: nn.Module, x: Tensor, y: Tensor, epochs: int, batch_size: int, opt: torch.optim.Optimizer,
         recipe: DCLSRecipe | None, gen: torch.Generator) -> None:
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(x.shape[1], generator=gen).split(batch_size):
            loss = nn.functional.cross_entropy(net(x[:, idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if recipe is not None:
                recipe("step")
        if recipe is not None:
            recipe("epoch")


def _accuracy(net: nn.Module, x: Tensor, y: Tensor) -> float:
    net.eval()
    with torch.no_grad():
        return float((net(x).argmax(-1) == y).float().mean())


def compare_delay_modes(epochs: int = 30, n_train: int = 512, n_test: int = 1024, hidden: int = 8,
                        classes: int = 8, channels: int = 6, steps: int = 40, spacing: int = 3,
                        max_delay: int = 16, batch_size: int = 128, lr: float = 1e-2, delay_lr: float = 0.3,
                        background: float = 0.02, sigma_decay_fraction: float = 0.5,
                        finetune_epochs: int | None = None, seed: int = 0,
                        progress: bool = False) -> dict[str, Any]:
    """Train the three variants on :func:`make_timing_task`; returns test accuracies, parameter counts
    and hidden sizes: ``{"learned": acc, "learned_interpolated": acc, "random": acc, "none": acc, ...}``.

    ``learned``: delays trained with the recipe (sigma schedule over ``sigma_decay_fraction`` of the
    epochs, own learning rate, clamping; ``learned_interpolated`` is its accuracy with the Gaussian
    kernel, sigma 0.5), then rounded to integer delays (:func:`freeze_delays`) and the weights trained
    ``finetune_epochs`` (default ``epochs // 2``) more epochs before the test (what hardware runs).
    ``random`` and ``none`` train ``epochs + finetune_epochs`` epochs; all are tested with integer
    delays.
    """
    if not isinstance(epochs, int) or epochs < 1:
        raise ValueError(f"epochs={epochs!r} must be an int >= 1")
    x_tr, y_tr = make_timing_task(n_train, classes, channels, steps, spacing, background, seed=seed + 1)
    x_te, y_te = make_timing_task(n_test, classes, channels, steps, spacing, background, seed=seed + 2)
    h_other = _hidden_for_equal_params(channels, classes, hidden)
    extra = max(1, epochs // 2) if finetune_epochs is None else finetune_epochs
    result: dict[str, Any] = {"params": {}, "hidden": {}, "chance": 1.0 / classes}
    for mode in ("learned", "random", "none"):
        torch.manual_seed(seed)
        h = hidden if mode == "learned" else h_other
        net = TimingNet(channels, h, classes, max_delay, mode)
        # trainable parameters while training (delays counted for the learned network)
        result["params"][mode] = count_parameters(net, trainable_only=True)
        result["hidden"][mode] = h
        opt = torch.optim.Adam(delay_param_groups(net, lr=lr, delay_lr=delay_lr))
        gen = torch.Generator().manual_seed(seed)
        if mode == "learned":
            recipe = DCLSRecipe(net, total_epochs=epochs, decay_fraction=sigma_decay_fraction)
            _fit(net, x_tr, y_tr, epochs, batch_size, opt, recipe, gen)
            result["learned_interpolated"] = _accuracy(net, x_te, y_te)
            freeze_delays(net)  # integer delays, then the weights adapt to the rounding
            opt = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr)
            _fit(net, x_tr, y_tr, extra, batch_size, opt, None, gen)
            result["learned"] = _accuracy(net, x_te, y_te)
        else:
            _fit(net, x_tr, y_tr, epochs + extra, batch_size, opt, None, gen)
            result[mode] = _accuracy(net, x_te, y_te)
        if progress:
            accs = {k: round(result[k], 3) for k in ("learned_interpolated", "learned", "random", "none") if k in result}
            print(f"{mode:8s} hidden={h:3d} params={result['params'][mode]:5d} test accuracy={accs}", flush=True)
    return result
