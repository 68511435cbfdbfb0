"""Adversarial attacks through surrogate gradients: FGSM, PGD, and surrogate-choice-aware variants.

An attack needs a differentiable map from the batch-major input ``x [B, ...]`` to logits ``[B, K]``:
for an SNN, ``lambda x: snn(encode(x)).mean(0)``; the spike's derivative is its surrogate, so the
attacker sees the same gradient training sees. Two facts make that gradient a choice, not a given:

* The surrogate is not the network: an attacker may differentiate through a *different* (or several)
  surrogate(s) than the one used in training. :func:`using_surrogate` swaps the surrogate of every
  spiking layer for the duration of a block; ``surrogates=[...]`` in :func:`fgsm` / :func:`pgd` averages
  the normalised input gradients over several surrogates (an ensemble in the spirit of the
  surrogate-choice-aware attacks of the literature, e.g. SDA / PDSG-style attacks that adapt the
  surrogate rather than trusting the training one).
* Rate encoding samples spikes: :func:`rate_encode` passes the gradient straight through the Bernoulli
  draw (d spikes / d p = 1), the usual estimator for attacking rate-coded inputs.

Inputs are kept inside ``[lo, hi]`` (default ``[0, 1]``, pixels) and inside the L-infinity ball of
radius ``eps`` around the clean input.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Iterator, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .. import encoding
from ..encoding import direct_encode
from ..surrogate import Surrogate, get as get_surrogate

LogitsFn = Callable[[Tensor], Tensor]
LossFn = Callable[[Tensor, Tensor], Tensor]

__all__ = ["fgsm", "pgd", "rate_encode", "direct_encode", "using_surrogate", "input_gradient",
           "accuracy_under_attack"]


def rate_encode(x: Tensor, T: int, generator: torch.Generator | None = None) -> Tensor:
    """:func:`snnkit.encoding.rate_encode` (Bernoulli, probability ``x`` clamped to [0, 1]) with a
    straight-through gradient, so that attacks can differentiate through the encoding."""
    p = x.clamp(0, 1).unsqueeze(0).expand(T, *x.shape)
    return p + (encoding.rate_encode(x.detach(), T, generator=generator) - p).detach()


def _spiking_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(getattr(m, "surrogate", None), Surrogate)]


@contextlib.contextmanager
def using_surrogate(model: nn.Module, surrogate: str | Surrogate, alpha: float | None = None) -> Iterator[nn.Module]:
    """Within the block every layer of ``model`` with a ``surrogate`` attribute uses ``surrogate``
    (forward spikes are unchanged: every surrogate's forward is the same step)."""
    layers = _spiking_layers(model)
    if not layers:
        raise ValueError(f"model {type(model).__name__} has no spiking layers with a surrogate to swap")
    sg = get_surrogate(surrogate, alpha)
    saved = [m.surrogate for m in layers]
    try:
        for m in layers:
            m.surrogate = sg
        yield model
    finally:
        for m, s in zip(layers, saved):
            m.surrogate = s


def input_gradient(logits_fn: LogitsFn, x: Tensor, y: Tensor, loss_fn: LossFn = F.cross_entropy,
                   model: nn.Module | None = None, surrogates: Sequence[str | Surrogate] | None = None
                   ) -> tuple[Tensor, Tensor]:
    """``(d loss / d x, loss per sample)``. With ``surrogates`` (needs ``model``), the gradient is the
    mean over those surrogates of each gradient scaled to unit mean absolute value (so no surrogate
    dominates by its scale alone), and the loss is the forward loss (the same for every surrogate)."""
    def one() -> tuple[Tensor, Tensor]:
        xa = x.detach().clone().requires_grad_(True)
        losses = loss_fn(logits_fn(xa), y, reduction="none")  # type: ignore[call-arg]
        (g,) = torch.autograd.grad(losses.sum(), xa)
        return g, losses.detach()

    if not surrogates:
        return one()
    if model is None:
        raise ValueError("surrogates=... needs model= (whose spiking layers get the surrogates)")
    total, losses = torch.zeros_like(x), None
    for s in surrogates:
        with using_surrogate(model, s):
            g, losses = one()
        scale = g.abs().flatten(1).mean(1).clamp_min(1e-12).reshape(-1, *([1] * (g.dim() - 1)))
        total = total + g / scale
    return total / len(surrogates), losses  # type: ignore[return-value]


def _project(x_adv: Tensor, x: Tensor, eps: float, lo: float | None, hi: float | None) -> Tensor:
    x_adv = torch.max(torch.min(x_adv, x + eps), x - eps)
    if lo is not None or hi is not None:
        x_adv = x_adv.clamp(lo, hi)
    return x_adv


def _check_eps(eps: float) -> None:
    if not (isinstance(eps, (int, float)) and eps >= 0):
        raise ValueError(f"eps={eps!r} must be a number >= 0 (the L-infinity radius)")


def fgsm(logits_fn: LogitsFn, x: Tensor, y: Tensor, eps: float, *, loss_fn: LossFn = F.cross_entropy,
         bounds: tuple[float | None, float | None] = (0.0, 1.0), model: nn.Module | None = None,
         surrogates: Sequence[str | Surrogate] | None = None) -> Tensor:
    """Fast gradient sign method (Goodfellow et al. 2015): ``x + eps * sign(grad)``, clipped to ``bounds``."""
    _check_eps(eps)
    g, _ = input_gradient(logits_fn, x, y, loss_fn, model, surrogates)
    return _project(x.detach() + eps * g.sign(), x.detach(), eps, *bounds)


def pgd(logits_fn: LogitsFn, x: Tensor, y: Tensor, eps: float, *, steps: int = 10, step_size: float | None = None,
        random_start: bool = True, loss_fn: LossFn = F.cross_entropy,
        bounds: tuple[float | None, float | None] = (0.0, 1.0), model: nn.Module | None = None,
        surrogates: Sequence[str | Surrogate] | None = None, generator: torch.Generator | None = None) -> Tensor:
    """Projected gradient descent on the loss (Madry et al. 2018), L-infinity ball of radius ``eps``.

    ``step_size`` defaults to ``2.5 eps / steps``. The first step is taken from the clean input (an
    FGSM step of size ``step_size``) unless ``random_start``. Returns, per sample, the iterate with the
    highest loss seen (clean input included), so the result is never weaker than its own iterates."""
    _check_eps(eps)
    if not (isinstance(steps, int) and steps >= 1):
        raise ValueError(f"steps={steps!r} must be an int >= 1")
    alpha = 2.5 * eps / steps if step_size is None else float(step_size)
    x0 = x.detach()
    x_adv = x0.clone()
    if random_start and eps > 0:
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype).to(x0.device) * 2 - 1
        x_adv = _project(x0 + eps * noise, x0, eps, *bounds)
    best, best_loss = x_adv.clone(), None
    for _ in range(steps + 1):
        g, losses = input_gradient(logits_fn, x_adv, y, loss_fn, model, surrogates)
        if best_loss is None:
            best_loss = losses
        better = losses > best_loss
        best[better], best_loss = x_adv[better], torch.where(better, losses, best_loss)
        x_adv = _project(x_adv + alpha * g.sign(), x0, eps, *bounds)
    return best


def accuracy_under_attack(logits_fn: LogitsFn, x: Tensor, y: Tensor, epsilons: Sequence[float],
                          attack: str = "fgsm", batch_size: int = 250, eval_fn: LogitsFn | None = None,
                          **attack_options) -> dict[float, float]:
    """Accuracy (0-1) of ``eval_fn`` (default ``logits_fn``) on inputs attacked through ``logits_fn``
    at each ``eps`` (``attack``: ``"fgsm"`` or ``"pgd"``). Passing a different ``eval_fn`` measures a
    transfer attack (e.g. crafted on the ANN twin, evaluated on the SNN)."""
    if attack not in ("fgsm", "pgd"):
        raise ValueError(f"attack={attack!r}; allowed: 'fgsm', 'pgd'")
    run = fgsm if attack == "fgsm" else pgd
    eval_fn = logits_fn if eval_fn is None else eval_fn
    out = {}
    for eps in epsilons:
        correct = 0
        for xb, yb in zip(x.split(batch_size), y.split(batch_size)):
            xa = xb if eps == 0 else run(logits_fn, xb, yb, eps, **attack_options)
            with torch.no_grad():
                correct += int((eval_fn(xa).argmax(-1) == yb).sum())
        out[float(eps)] = correct / len(y)
    return out
