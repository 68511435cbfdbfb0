"""Hebbian learning based orthogonal projection (HLOP; Xiao et al., ICLR 2024) for continual learning.

For each protected synapse, lateral neurons ``H [k, fan_in]`` learn the principal subspace of the
inputs the synapse saw during a task with Oja's subspace rule (a local Hebbian rule: ``y = H x``,
``dH = <y x^T - y y^T H>``), on the part of the input not yet covered by earlier tasks. When a task ends,
:meth:`HLOP.consolidate` adds the lateral weights (orthonormalised) to the synapse's protected basis
``U``. Later weight changes, whether gradients or local-rule updates, are projected with
``g <- g - (g U^T) U`` (``x - H^T H x`` in the paper's notation), so they have no component in the
old inputs' subspace and the old tasks' pre-activations ``W x_old`` barely move.

Use with gradient training::

    hlop = HLOP([model.fc1, model.fc2], components_per_task=20)
    ... train task 1 ...
    with hlop.observing():                  # Hebbian subspace learning from task-1 inputs
        for x, _ in task1: model(x)
    hlop.consolidate()
    ... train task 2: loss.backward(); hlop.project_gradients(); optimizer.step()

Plain SGD keeps the projected step orthogonal; adaptive optimisers (Adam) rescale coordinates and
break orthogonality. Biases are not protected (use ``bias=False`` or freeze them after task 1).
"""
from __future__ import annotations

import contextlib
from typing import Iterator, Sequence

import torch
from torch import Tensor, nn

from .. import _checks
from .synapse_views import SynapseView, view_of


class HLOP(nn.Module):
    """Orthogonal projection of weight changes away from old tasks' input subspaces.

    Args:
        synapses: the synapses to protect (``nn.Linear``, ``nn.Conv1d/2d``).
        components_per_task: lateral neurons added per task and synapse (an int, or one per synapse).
        lr: Oja learning rate of the lateral neurons; ``iterations`` Hebbian passes per observed batch.
    """

    def __init__(self, synapses: Sequence[nn.Module] | nn.Module, components_per_task: int | Sequence[int] = 10,
                 lr: float = 0.05, iterations: int = 10, seed: int = 0) -> None:
        super().__init__()
        mods = [synapses] if isinstance(synapses, nn.Module) else list(synapses)
        if not mods:
            raise ValueError("synapses must name at least one synapse to protect; got an empty list")
        self.modules_ = mods
        self.views: list[SynapseView] = [view_of(m) for m in mods]
        k = [components_per_task] * len(mods) if isinstance(components_per_task, int) else list(components_per_task)
        if len(k) != len(mods) or any(int(c) <= 0 for c in k):
            raise ValueError(f"components_per_task={components_per_task!r} must be a positive int or one per synapse")
        _checks.positive("lr", lr)
        self.k, self.lr, self.iterations = [int(c) for c in k], float(lr), int(iterations)
        self.generator = torch.Generator().manual_seed(seed)
        self.bases: list[Tensor | None] = [None] * len(mods)
        self.lateral: list[Tensor | None] = [None] * len(mods)
        self._hooks: list = []

    # -- Hebbian subspace learning ---------------------------------------------------------------
    def _fresh_lateral(self, i: int, like: Tensor) -> Tensor:
        fan_in = self.views[i].weight_rows().shape[1]
        h = torch.randn(self.k[i], fan_in, generator=self.generator).to(like)
        return h / h.norm(dim=1, keepdim=True)

    @torch.no_grad()
    def observe(self, index: int, x: Tensor) -> None:
        """Hebbian update of synapse ``index``'s lateral neurons from its input ``x [B, in, ...]``."""
        rows = self.views[index].pre_rows(x.detach())
        if self.lateral[index] is None:
            self.lateral[index] = self._fresh_lateral(index, rows)
        rows = self._residual(index, rows)
        h = self.lateral[index]
        scale = rows.pow(2).sum(1).mean().clamp_min(1e-12)  # normalise the step by input power: stable lr
        for _ in range(self.iterations):
            y = rows @ h.t()
            h += (self.lr / scale) * ((y.t() @ rows) - (y.t() @ y) @ h) / rows.shape[0]

    def _residual(self, i: int, rows: Tensor) -> Tensor:
        u = self.bases[i]
        return rows if u is None else rows - (rows @ u.t()) @ u

    @contextlib.contextmanager
    def observing(self) -> Iterator["HLOP"]:
        """Within this block every forward pass through a protected synapse trains its lateral neurons."""
        for i, m in enumerate(self.modules_):
            target = getattr(m, "module", m) if not hasattr(m, "weight") else m
            self._hooks.append(target.register_forward_pre_hook(
                lambda mod, args, i=i: self.observe(i, args[0])))
        try:
            yield self
        finally:
            for h in self._hooks:
                h.remove()
            self._hooks.clear()

    @torch.no_grad()
    def consolidate(self) -> None:
        """End of a task: append the learned lateral neurons (orthonormalised) to each protected basis."""
        for i, h in enumerate(self.lateral):
            if h is None:
                continue
            u = self.bases[i]
            stacked = h if u is None else torch.cat([u, h])
            q, r = torch.linalg.qr(stacked.t())
            keep = r.diagonal().abs() > 1e-6 * r.diagonal().abs().max()  # drop dependent directions
            self.bases[i] = q.t()[keep].contiguous()
            self.lateral[i] = None

    def basis(self, index: int) -> Tensor | None:
        """The orthonormal protected basis ``U [k_total, fan_in]`` of synapse ``index``."""
        return self.bases[index]

    # -- projection -------------------------------------------------------------------------------
    def project(self, index: int, dw: Tensor) -> Tensor:
        """``dw`` (weight-shaped) minus its component in synapse ``index``'s protected subspace."""
        u = self.bases[index]
        if u is None:
            return dw
        g = dw.reshape(dw.shape[0], -1)
        return (g - (g @ u.t().to(g)) @ u.to(g)).reshape(dw.shape)

    @torch.no_grad()
    def project_gradients(self) -> None:
        """Project every protected synapse's ``weight.grad`` in place (call between backward and step)."""
        for i, v in enumerate(self.views):
            g = v.weight.grad
            if g is not None:
                g.copy_(self.project(i, g))


__all__ = ["HLOP"]
