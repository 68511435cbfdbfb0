"""The one mechanism every local rule shares: attach to a synapse, step with the simulation, deliver.

A rule computes a weight change ``dw`` per step from pre- and post-synaptic activity (and an
optional third factor, the ``modulator``). What happens to ``dw`` is chosen by ``update``:

- ``"immediate"``: ``weight += lr * dw`` at once (then clamped to ``[w_min, w_max]`` if given);
- ``"grad"``: ``weight.grad -= lr * dw``, so any optimiser's descent step moves along ``+dw``
  (spikingjelly's ``on_grad=True`` convention); combine with surrogate-gradient training freely;
- ``"accumulate"``: ``dw`` is summed in ``rule.pending`` until :meth:`PlasticityRule.flush`.

The modulator (reward, error, dopamine) is an argument of :meth:`step`, never a special rule: a
scalar, one value per sample ``[B]`` or one per sample and post-synaptic neuron (the post shape).
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .. import _checks
from .synapse_views import SynapseView, view_of

Update = Literal["immediate", "grad", "accumulate"]
UPDATES = ("immediate", "grad", "accumulate")


class PlasticityRule(nn.Module):
    """Base class of local rules. Subclasses implement :meth:`delta` (one step's ``dw``)."""

    def __init__(self, synapse: nn.Module | Tensor | SynapseView, *, update: Update = "immediate",
                 lr: float = 1.0, w_min: float | None = None, w_max: float | None = None) -> None:
        super().__init__()
        _checks.one_of("update", update, UPDATES)
        if not isinstance(lr, (int, float)):
            raise TypeError(f"lr must be a number; got {type(lr).__name__}")
        if w_min is not None and w_max is not None and not w_min < w_max:
            raise ValueError(f"w_min={w_min} must be < w_max={w_max}")
        self.view = view_of(synapse)
        self.update, self.lr, self.w_min, self.w_max = update, float(lr), w_min, w_max
        self.pending: Tensor | None = None

    @property
    def weight(self) -> Tensor:
        return self.view.weight

    # -- to implement -------------------------------------------------------------------------
    def delta(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        """One step: advance the rule's state and return ``dw`` (weight-shaped). Abstract."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget all traces (start of a new sequence). Weights and pending updates are kept."""
        self.view.reset()

    # -- shared -------------------------------------------------------------------------------
    def step(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        """Advance one time step with pre activity ``[B, in, ...]`` and post activity ``[B, out, ...]``;
        deliver ``dw`` according to ``update`` and return it."""
        with torch.no_grad():
            dw = self.delta(pre.detach(), post.detach(), _detach(modulator))
            self.deliver(dw)
        return dw

    def run(self, pre: Tensor, post: Tensor, modulator: Tensor | float | None = None) -> Tensor:
        """Step through time-major ``pre [T, B, ...]`` and ``post [T, B, ...]`` (``modulator``: a
        scalar, or ``[T, ...]``). Returns the summed ``dw``."""
        _check_sequences(pre, post)
        total = torch.zeros_like(self.weight)
        mods = _per_step(modulator, pre.shape[0])
        for p, q, m in zip(pre.unbind(0), post.unbind(0), mods):
            total += self.step(p, q, m)
        return total

    @torch.no_grad()
    def deliver(self, dw: Tensor) -> None:
        w = self.weight
        if self.update == "immediate":
            w.add_(dw, alpha=self.lr)
            self.clamp_()
        elif self.update == "grad":
            if w.grad is None:
                w.grad = torch.zeros_like(w)
            w.grad.sub_(dw, alpha=self.lr)
        else:
            self.pending = dw.clone() if self.pending is None else self.pending.add_(dw)

    @torch.no_grad()
    def flush(self) -> Tensor | None:
        """Apply (``weight += lr * pending``) and clear the accumulated change; returns it."""
        dw, self.pending = self.pending, None
        if dw is not None:
            self.weight.add_(dw, alpha=self.lr)
            self.clamp_()
        return dw

    @torch.no_grad()
    def clamp_(self) -> None:
        if self.w_min is not None or self.w_max is not None:
            self.weight.clamp_(self.w_min, self.w_max)

    def modulate_post(self, post: Tensor, modulator: Tensor | float | None) -> Tensor:
        """``post * modulator`` with the modulator broadcast per sample (``[B]``) or per neuron."""
        if modulator is None:
            return post
        if not isinstance(modulator, Tensor) or modulator.dim() == 0:
            return post * modulator
        if modulator.dim() == 1 and modulator.shape[0] == post.shape[0]:
            return post * modulator.reshape(-1, *([1] * (post.dim() - 1)))
        try:
            return post * modulator
        except RuntimeError as err:
            raise ValueError(f"modulator shape {tuple(modulator.shape)} fits neither a scalar, [B]={post.shape[0]} "
                             f"nor the post shape {tuple(post.shape)}") from err


def _detach(m: Tensor | float | None) -> Tensor | float | None:
    return m.detach() if isinstance(m, Tensor) else m


def _per_step(modulator: Tensor | float | None, T: int) -> list:
    if modulator is None or not isinstance(modulator, Tensor) or modulator.dim() == 0:
        return [modulator] * T
    if modulator.shape[0] != T:
        raise ValueError(f"modulator must be a scalar or time-major with T={T} steps; got shape {tuple(modulator.shape)}")
    return list(modulator.unbind(0))


def _check_sequences(pre: Tensor, post: Tensor) -> None:
    for name, x in (("pre", pre), ("post", post)):
        if not isinstance(x, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor [T, B, ...]; got {type(x).__name__}")
        if x.dim() < 3:
            raise ValueError(f"{name} must be time-major [T, B, ...] with rank >= 3; got shape {tuple(x.shape)}")
    if pre.shape[:2] != post.shape[:2]:
        raise ValueError(f"pre and post must share [T, B]; got {tuple(pre.shape[:2])} and {tuple(post.shape[:2])}")


__all__ = ["PlasticityRule", "UPDATES", "Update"]
