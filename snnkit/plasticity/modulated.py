"""Neuro-modulated Hebbian test-time adaptation: a SoftHebb feature layer keeps learning on the test
stream, and a learned modulation layer decides, sample by sample, how much each update counts.

The network is ``logits = readout(activation(W x))`` with ``W`` a SoftHebb layer (trained without
labels) and a readout trained on clean data and then frozen. At test time each batch is predicted,
then ``W`` moves by the SoftHebb update (:class:`~snnkit.plasticity.SoftHebb`) with each sample's
contribution scaled by a modulation ``m_b`` in ``(0, 1)``::

    m_b = sigmoid(M softmax(logits_b) + c)                 # the modulation layer reads the output
    W  <- W + lr * SoftHebb.delta(x, W x, modulator=m)

The modulation layer learns at test time, without labels: it is moved to lower the prediction
entropy the network *would* have after the update (a one-step look-ahead through the differentiable
update), so it learns which samples' Hebbian updates help the readout. ``mode="hebbian"`` uses
``m = 1`` (plain Hebbian adaptation) and ``mode="none"`` leaves ``W`` alone.
"""
from __future__ import annotations

from typing import Callable, Literal

import torch
from torch import Tensor, nn

from .. import _checks
from .hebbian import SoftHebb

Mode = Literal["none", "hebbian", "modulated"]
MODES = ("none", "hebbian", "modulated")


def triangle(u: Tensor) -> Tensor:
    """SoftHebb's forward activation: ``relu(u - mean_k u_k)`` over the neurons (dim 1)."""
    return torch.relu(u - u.mean(1, keepdim=True))


def entropy(logits: Tensor) -> Tensor:
    """Shannon entropy (nats) of ``softmax(logits)`` per row ``[B]``."""
    logp = torch.log_softmax(logits, 1)
    return -(logp.exp() * logp).sum(1)


class ModulatedHebbianAdaptation(nn.Module):
    """A SoftHebb ``layer`` under a frozen ``readout``, adapted on test batches (see the module doc).

    Args:
        layer: the SoftHebb synapse ``nn.Linear(in, hidden)`` (adapted in place).
        readout: maps ``activation(layer(x))`` to ``[B, classes]`` logits; never changed here.
        num_classes: the readout's output count (the modulation layer's input).
        lr, temperature: the SoftHebb rule's learning rate and softmax temperature.
        mode: ``"none"``, ``"hebbian"`` (modulation 1) or ``"modulated"`` (learned modulation).
        modulation_lr: the modulation layer's learning rate (SGD); ``initial_modulation``: its
            starting output (bias ``logit(initial_modulation)``, zero weights).
    """

    def __init__(self, layer: nn.Linear, readout: nn.Module, num_classes: int, *, lr: float = 1e-2,
                 temperature: float = 1.0, mode: Mode = "modulated", modulation_lr: float = 1.0,
                 initial_modulation: float = 0.5, activation: Callable[[Tensor], Tensor] = triangle) -> None:
        super().__init__()
        _checks.one_of("mode", mode, MODES)
        if not 0.0 < initial_modulation < 1.0:
            raise ValueError(f"initial_modulation must be in (0, 1); got {initial_modulation}")
        self.layer, self.readout, self.mode, self.activation = layer, readout, mode, activation
        self.rule = SoftHebb(layer, lr=lr, temperature=temperature)
        self.modulation = nn.Linear(int(num_classes), 1)
        nn.init.zeros_(self.modulation.weight)
        nn.init.constant_(self.modulation.bias, float(torch.logit(torch.tensor(initial_modulation))))
        self.optimizer = torch.optim.SGD(self.modulation.parameters(), lr=modulation_lr)

    def logits(self, x: Tensor, weight: Tensor | None = None) -> Tensor:
        """``readout(activation(weight x + b))`` with the layer's weight unless ``weight`` is given."""
        w = self.layer.weight if weight is None else weight
        return self.readout(self.activation(nn.functional.linear(x, w, self.layer.bias)))

    def forward(self, x: Tensor) -> Tensor:
        return self.logits(x)

    def modulation_of(self, logits: Tensor) -> Tensor:
        """Per-sample modulation ``[B]`` in ``(0, 1)`` from the (detached) output probabilities."""
        return torch.sigmoid(self.modulation(torch.softmax(logits.detach(), 1))).squeeze(1)

    def delta(self, x: Tensor, modulation: Tensor | float) -> Tensor:
        """The SoftHebb change of ``W`` for batch ``x [B, in]`` with each sample scaled by ``modulation``
        (differentiable in ``modulation``)."""
        return self.rule.delta(x, nn.functional.linear(x, self.layer.weight.detach()), modulation)

    def lookahead_entropy(self, x: Tensor, modulation: Tensor) -> Tensor:
        """Mean prediction entropy after a step ``W + lr * delta(x, modulation)`` (differentiable)."""
        weight = self.layer.weight.detach() + self.rule.lr * self.delta(x, modulation)
        return entropy(self.logits(x, weight)).mean()

    @torch.no_grad()
    def apply(self, x: Tensor, modulation: Tensor | float) -> Tensor:
        """``W += lr * delta(x, modulation)``; returns the change ``delta``."""
        dw = self.delta(x, modulation)
        self.layer.weight.add_(dw, alpha=self.rule.lr)
        return dw

    def adapt_step(self, x: Tensor) -> Tensor:
        """Predict batch ``x [B, in]`` (logits returned, computed before adapting), then adapt."""
        with torch.no_grad():
            logits = self.logits(x)
        if self.mode == "hebbian":
            self.apply(x, 1.0)
        elif self.mode == "modulated":
            self.optimizer.zero_grad()
            self.lookahead_entropy(x, self.modulation_of(logits)).backward()
            self.optimizer.step()
            self.apply(x, self.modulation_of(logits).detach())
        return logits


__all__ = ["ModulatedHebbianAdaptation", "triangle", "entropy", "MODES"]
