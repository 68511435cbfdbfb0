"""The contrastive loss against its definition written out element by element; prototypes by hand."""
import math

import torch

from snnkit.training.contrastive import contrastive_loss, nearest_prototype


def test_contrastive_loss_equals_the_written_out_infonce():
    torch.manual_seed(0)
    za, zb, tau = torch.randn(5, 3), torch.randn(5, 3), 0.2
    cos = lambda a, b: float(a @ b / (a.norm() * b.norm()))  # noqa: E731
    total = 0.0
    for i in range(5):
        row = [math.exp(cos(za[i], zb[j]) / tau) for j in range(5)]
        col = [math.exp(cos(za[j], zb[i]) / tau) for j in range(5)]
        total += -math.log(row[i] / sum(row)) - math.log(col[i] / sum(col))
    assert abs(float(contrastive_loss(za, zb, tau)) - total / 10) < 1e-5
    aligned = torch.randn(5, 3)
    assert contrastive_loss(aligned, aligned * 3, tau) < contrastive_loss(za, zb, tau)


def test_nearest_prototype_picks_the_most_similar_class_mean():
    support = torch.tensor([[1.0, 0.0], [0.9, 0.1], [0.0, 1.0], [0.1, 0.9]])
    labels = torch.tensor([7, 7, 9, 9])
    queries = torch.tensor([[0.2, 1.0], [3.0, 0.5]])
    assert nearest_prototype(queries, support, labels).tolist() == [9, 7]
