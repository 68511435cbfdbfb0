"""Training spiking networks without end-to-end backpropagation: direct feedback alignment and
Forward-Forward. Both train a stack of blocks (each maps time-major ``[T, B, in]`` to spikes
``[T, B, out]``, e.g. ``Sequential(nn.Linear, LIF)``); no gradient crosses from one block to another.
Within a block, credit flows back through its own neuron dynamics with the surrogate gradient.

* :class:`DirectFeedbackAlignment` (Noekland 2016): the output error ``e = dL/dlogits`` reaches every
  hidden block through a fixed random matrix ``B_l``: the block's spikes receive ``B_l e / T`` at
  every step, as if the readout were ``logits = W mean_t(s_t)`` with ``W^T`` replaced by ``B_l``.
  With ``B_l = W^T`` (``feedback="transpose"``) and one hidden block, that is exactly backpropagation
  (the test checks it against autograd).
* :class:`ForwardForward` (Hinton 2022): each block learns to give high "goodness" (the mean over
  time of the sum of squared outputs; for spikes, the spike count per step) to positive data (an input
  with its true label embedded) and low goodness to negative data (a wrong label), by its own loss
  ``softplus(theta - G_pos) + softplus(G_neg - theta)``. Prediction: the label whose embedding gives
  the largest total goodness over blocks.
"""
from __future__ import annotations

from typing import Callable, Literal, Sequence

import torch
from torch import Tensor, nn

Feedback = Literal["random", "transpose"]


def _check_blocks(blocks: Sequence[nn.Module]) -> nn.ModuleList:
    if len(blocks) == 0 or not all(isinstance(b, nn.Module) for b in blocks):
        raise TypeError("blocks must be a non-empty sequence of nn.Module, each mapping [T, B, in] -> [T, B, out]")
    return nn.ModuleList(blocks)


class DirectFeedbackAlignment(nn.Module):
    """Hidden ``blocks`` and a linear ``readout`` of the last block's mean spike rate, trained by DFA.

    Args:
        blocks: hidden blocks (``[T, B, in] -> [T, B, n_l]``).
        readout: ``nn.Linear(n_last, classes)`` applied to the mean over time of the last block's output.
        feedback: ``"random"`` (fixed Gaussian ``B_l`` of std ``feedback_scale``) or ``"transpose"``
            (``B_last = readout.weight^T``, for checking against backpropagation; one block only).
        seed: seed of the random feedback matrices.
    """

    def __init__(self, blocks: Sequence[nn.Module], readout: nn.Linear, feedback: Feedback = "random",
                 feedback_scale: float = 0.1, seed: int = 0) -> None:
        super().__init__()
        self.blocks, self.readout = _check_blocks(blocks), readout
        if feedback not in ("random", "transpose"):
            raise ValueError(f"feedback={feedback!r} is not allowed; allowed: ['random', 'transpose']")
        if feedback == "transpose" and len(self.blocks) != 1:
            raise ValueError(f"feedback='transpose' is backpropagation only for one hidden block; got {len(self.blocks)}")
        self.feedback_kind = feedback
        self.feedback_scale, self.seed = float(feedback_scale), int(seed)
        self._feedback: list[Tensor] | None = None

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``[B, classes]`` (no learning)."""
        for block in self.blocks:
            x = block(x)
        return self.readout(x.mean(0))

    def _matrices(self, widths: list[int], classes: int, like: Tensor) -> list[Tensor]:
        if self.feedback_kind == "transpose":
            return [self.readout.weight.detach().t()]
        if self._feedback is None or [m.shape[0] for m in self._feedback] != widths:
            g = torch.Generator().manual_seed(self.seed)
            self._feedback = [self.feedback_scale * torch.randn(w, classes, generator=g) for w in widths]
        return [m.to(like) for m in self._feedback]

    def backward_dfa(self, x: Tensor, target: Tensor,
                     loss_fn: Callable[[Tensor, Tensor], Tensor] = nn.functional.cross_entropy) -> Tensor:
        """Forward ``x``, then put DFA's updates into every parameter's ``.grad`` (accumulating, like
        ``loss.backward()``). Returns the loss (detached)."""
        outputs, h = [], x
        for block in self.blocks:
            out = block(h.detach())               # no gradient between blocks
            outputs.append(out)
            h = out
        features = h.detach().mean(0).requires_grad_(True)
        logits = self.readout(features)
        loss = loss_fn(logits, target)
        error = torch.autograd.grad(loss, logits, retain_graph=True)[0]      # dL/dlogits [B, classes]
        loss.backward()                                                      # readout's own gradient
        steps = h.shape[0]
        matrices = self._matrices([o.shape[-1] for o in outputs], error.shape[1], error)
        for out, matrix in zip(outputs, matrices):
            signal = (error @ matrix.t()) / steps                             # [B, n_l]
            out.backward(signal.expand_as(out))
        return loss.detach()


class ForwardForward(nn.Module):
    """Blocks trained layer by layer with the Forward-Forward objective (see the module doc).

    Args:
        blocks: ``[T, B, in] -> [T, B, n_l]`` blocks; the first block's input has ``num_classes``
            leading features that carry the label embedding (overwritten by :meth:`embed`).
        num_classes: label count; ``threshold``: the goodness level ``theta`` separating positive from
            negative data; ``label_value``: the embedded one-hot's amplitude.
    """

    def __init__(self, blocks: Sequence[nn.Module], num_classes: int, threshold: float = 2.0,
                 label_value: float = 1.0) -> None:
        super().__init__()
        self.blocks = _check_blocks(blocks)
        self.num_classes, self.threshold, self.label_value = int(num_classes), float(threshold), float(label_value)

    def embed(self, x: Tensor, labels: Tensor) -> Tensor:
        """``x [T, B, F]`` with its first ``num_classes`` features replaced by the one-hot label."""
        onehot = nn.functional.one_hot(labels, self.num_classes).to(x) * self.label_value
        return torch.cat([onehot.expand(x.shape[0], -1, -1), x[..., self.num_classes:]], -1)

    @staticmethod
    def goodness(out: Tensor) -> Tensor:
        """Mean over time of the sum of squared outputs ``[B]``."""
        return out.pow(2).sum(-1).mean(0)

    def local_losses(self, x: Tensor, labels: Tensor, wrong: Tensor) -> list[Tensor]:
        """One loss per block, each depending only on that block's parameters (inputs detached)."""
        pos, neg = self.embed(x, labels), self.embed(x, wrong)
        losses = []
        for block in self.blocks:
            pos_out, neg_out = block(pos.detach()), block(neg.detach())
            g_pos, g_neg = self.goodness(pos_out), self.goodness(neg_out)
            losses.append(nn.functional.softplus(self.threshold - g_pos).mean()
                          + nn.functional.softplus(g_neg - self.threshold).mean())
            pos, neg = pos_out, neg_out
        return losses

    def backward_ff(self, x: Tensor, labels: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Gradients of every block's local loss into ``.grad``; negatives use a random wrong label."""
        shift = torch.randint(1, self.num_classes, labels.shape, generator=generator).to(labels.device)
        losses = self.local_losses(x, labels, (labels + shift) % self.num_classes)
        total = torch.stack(losses).sum()
        total.backward()                      # blocks are disconnected: each gets only its own loss
        return total.detach()

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """The label with the largest total goodness over blocks ``[B]``."""
        scores = []
        for label in range(self.num_classes):
            h = self.embed(x, torch.full((x.shape[1],), label, dtype=torch.long, device=x.device))
            total = torch.zeros(x.shape[1], device=x.device)
            for block in self.blocks:
                h = block(h)
                total += self.goodness(h)
            scores.append(total)
        return torch.stack(scores, 1).argmax(1)


__all__ = ["DirectFeedbackAlignment", "ForwardForward"]
