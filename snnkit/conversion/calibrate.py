"""Post-conversion calibration (threshold balancing, bias shift) and the short surrogate-gradient
fine-tune of a converted SNN at small T (hybrid conversion)."""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from tqdm.auto import tqdm

from ..synapses import TimeDistributed
from .convert import encode
from .normalise import batches, feature_shaped, percentile_of


def calibration_subset(data: Tensor | Iterable, samples: int, batch_size: int) -> Tensor:
    """At most ``samples`` calibration inputs as one tensor."""
    taken, n = [], 0
    for x in batches(data, batch_size):
        taken.append(x[: samples - n])
        n += len(taken[-1])
        if n >= samples:
            break
    return torch.cat(taken)


def _record(module: nn.Module, xs: Tensor, runner, pre: bool) -> list[Tensor]:
    seen: list[Tensor] = []
    if pre:
        h = module.register_forward_pre_hook(lambda _m, args: seen.append(args[0].detach()))
    else:
        h = module.register_forward_hook(lambda _m, _a, y: seen.append(y.detach()))
    try:
        with torch.no_grad():
            runner(xs)
    finally:
        h.remove()
    return seen


def _snn_runner(snn: nn.Module, T: int, encoding: str, batch_size: int):
    def run(xs: Tensor) -> None:
        for x in xs.split(batch_size):
            snn(encode(x, T, encoding))
    return run


def balance_thresholds(snn: fx.GraphModule, sites: list[str], scale_of: dict[str, str], xs: Tensor, T: int,
                       normalisation: str, percentile: float, channel_wise: bool, encoding: str,
                       batch_size: int) -> None:
    """Layer by layer (Sengupta et al. 2019): set each threshold (and the matching spike amplitude) to
    the max/percentile of the input current the neurons receive in the SNN with the earlier layers
    already balanced."""
    p = 100.0 if normalisation == "max" else percentile
    run = _snn_runner(snn, T, encoding, batch_size)
    for site in sites:
        neuron = snn.get_submodule(site)
        cur = torch.cat(_record(neuron, xs, run, pre=True), dim=1)  # [T, N, ...]
        dims = cur.dim() - 2
        flat = cur.movedim(2, 0).reshape(cur.shape[2], -1) if channel_wise else cur.reshape(1, -1)
        lam = percentile_of(flat, p, dim=1)
        lam = torch.where(lam > 0, lam, lam.max() if lam.max() > 0 else torch.ones(()))
        lam = feature_shaped(lam if channel_wise else lam.reshape(()), dims)
        neuron.v_th = lam.clone().float()
        snn.get_submodule(scale_of[site]).scale = lam.clone().float()


def producer_bias(snn: fx.GraphModule, site: str) -> nn.Parameter | None:
    node = next(n for n in snn.graph.nodes if n.op == "call_module" and n.target == site)
    prev = node.args[0]
    if not (isinstance(prev, fx.Node) and prev.op == "call_module") or len(prev.users) != 1:
        return None
    layer = snn.get_submodule(prev.target)
    layer = layer.module if isinstance(layer, TimeDistributed) else layer
    if not isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
        return None
    if layer.bias is None:
        layer.bias = nn.Parameter(layer.weight.detach().new_zeros(layer.weight.shape[0]))
    return layer.bias


def _channel_mean(y: Tensor, time_major: bool) -> Tensor:
    if time_major:
        y = y.mean(0)
    return y.movedim(1, 0).reshape(y.shape[1], -1).mean(1) if y.dim() > 1 else y.mean().reshape(1)


def calibrate_biases(snn: fx.GraphModule, ann: fx.GraphModule, sites: list[str], scale_of: dict[str, str],
                     xs: Tensor, T: int, encoding: str, batch_size: int) -> dict[str, float]:
    """Layer by layer, add to the bias feeding each neuron population the per-channel mean of
    ``ANN activation - SNN rate x threshold`` at ``T`` (a bias shift that removes the mean error;
    cf. Li et al., ICML 2021). Returns the mean absolute shift per site (sites whose input is not a
    single Linear/Conv are skipped)."""
    run = _snn_runner(snn, T, encoding, batch_size)
    shifts: dict[str, float] = {}
    for site in sites:
        bias = producer_bias(snn, site)
        if bias is None:
            continue
        target = _channel_mean(torch.cat(_record(ann.get_submodule(site), xs, ann, pre=False)), False)
        got = _channel_mean(torch.cat(_record(snn.get_submodule(scale_of[site]), xs, run, pre=False), 1), True)
        delta = (target - got).to(bias)
        if delta.numel() == 1 and bias.numel() > 1:
            delta = delta.expand_as(bias)
        with torch.no_grad():
            bias.add_(delta)
        shifts[site] = float(delta.abs().mean())
    return shifts


# the initial membranes v_init="auto" tries: at rest, a quarter and half the threshold
V_INIT_CANDIDATES = (0.0, 0.25, 0.5)


def choose_v_init(snn: nn.Module, ann: nn.Module, sites: list[str], xs: Tensor, T: int, encoding: str,
                  batch_size: int, candidates: Iterable[float] = V_INIT_CANDIDATES) -> tuple[float, dict[float, dict]]:
    """``v_init="auto"``: the initial membrane (a fraction of the threshold, set on every neuron in
    ``sites``) whose SNN, run for ``T`` steps on ``xs``, agrees best with the ANN. Agreement is the
    fraction of samples whose largest output is the ANN's (for outputs ``[N, C > 1]``, a classifier's
    prediction); ties, and outputs without classes, go to the smaller mean squared error between the
    SNN's mean output and the ANN's. Half the threshold centres each neuron's rounding error, which is
    worth 14 points at T = 8 on MNIST-1D's MLP, yet its 1-D CNN does as well or better from rest: which
    start wins depends on the net, so it is measured. ``encoding="rate"`` draws the same spikes for every
    candidate.
    Returns ``(chosen, {candidate: {"agreement", "mse"}})``; the neurons are left at the chosen value."""
    with torch.no_grad():
        target = torch.cat([ann(x) for x in xs.split(batch_size)])
        scores: dict[float, dict] = {}
        for v in candidates:
            for site in sites:
                snn.get_submodule(site).v_init = float(v)
            gen = torch.Generator().manual_seed(0)  # the same rate-coded input for every candidate
            out = torch.cat([snn(encode(x, T, encoding, generator=gen)).mean(0) for x in xs.split(batch_size)])
            classes = target.dim() == 2 and target.shape[1] > 1
            agree = float((out.argmax(1) == target.argmax(1)).float().mean()) if classes else 0.0
            scores[float(v)] = {"agreement": agree, "mse": float(((out - target) ** 2).mean())}
    chosen = max(scores, key=lambda v: (scores[v]["agreement"], -scores[v]["mse"]))
    for site in sites:
        snn.get_submodule(site).v_init = chosen
    return chosen, scores


def finetune(snn: nn.Module, x: Tensor, y: Tensor, T: int = 8, epochs: int = 3, lr: float = 1e-4,
             batch_size: int = 64, encoding: str = "direct", seed: int = 0, progress: bool = False
             ) -> list[float]:
    """Hybrid conversion: a short surrogate-gradient fine-tune of a converted SNN at small ``T``
    (Rathi et al., ICLR 2020) with cross-entropy on the time-averaged output. Trains ``snn`` in place
    (weights and biases; thresholds stay) and returns the mean loss per epoch."""
    if len(x) != len(y):
        raise ValueError(f"x has {len(x)} samples but y has {len(y)}; they must match")
    params = [p for p in snn.parameters() if p.requires_grad]
    if not params:
        raise ValueError("snn has no trainable parameters to fine-tune")
    opt = torch.optim.Adam(params, lr=lr)
    g = torch.Generator().manual_seed(seed)
    history = []
    snn.train()
    for _ in tqdm(range(epochs), desc="fine-tune", disable=not progress):
        order = torch.randperm(len(x), generator=g)
        total, n = 0.0, 0
        for idx in order.split(batch_size):
            out = snn(encode(x[idx], T, encoding)).mean(0)
            loss = F.cross_entropy(out, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
            n += len(idx)
        history.append(total / n)
    snn.eval()
    return history
