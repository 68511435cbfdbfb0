"""Contrastive alignment of two modalities (CLIP-style symmetric InfoNCE; Radford et al. 2021).

Row ``i`` of ``za`` and row ``i`` of ``zb`` embed the same sample seen through two modalities. The loss
is the mean of two cross-entropies over the cosine-similarity matrix divided by ``temperature``: each
``a`` must pick its own ``b`` among the batch, and each ``b`` its own ``a``. Afterwards a sample of one
modality is classified by its nearest class prototype built from the other (:func:`nearest_prototype`),
which works for classes the encoders never saw: zero-shot cross-modal classification.
"""
from __future__ import annotations

import torch
from torch import Tensor


def contrastive_loss(za: Tensor, zb: Tensor, temperature: float = 0.1) -> Tensor:
    """Symmetric InfoNCE of paired embeddings ``[B, D]`` (see the module doc)."""
    if za.shape != zb.shape or za.dim() != 2:
        raise ValueError(f"za and zb must be paired [B, D] embeddings; got {tuple(za.shape)} and {tuple(zb.shape)}")
    if not temperature > 0:
        raise ValueError(f"temperature={temperature!r} must be > 0")
    logits = torch.nn.functional.normalize(za, dim=1) @ torch.nn.functional.normalize(zb, dim=1).t() / temperature
    target = torch.arange(za.shape[0], device=za.device)
    return 0.5 * (torch.nn.functional.cross_entropy(logits, target)
                  + torch.nn.functional.cross_entropy(logits.t(), target))


def nearest_prototype(queries: Tensor, support: Tensor, support_labels: Tensor) -> Tensor:
    """Label of each query ``[N, D]``: the class whose mean normalised support embedding is most similar."""
    classes = support_labels.unique()
    normed = torch.nn.functional.normalize(support, dim=1)
    prototypes = torch.stack([normed[support_labels == c].mean(0) for c in classes])
    similarity = torch.nn.functional.normalize(queries, dim=1) @ torch.nn.functional.normalize(prototypes, dim=1).t()
    return classes[similarity.argmax(1)]


__all__ = ["contrastive_loss", "nearest_prototype"]
