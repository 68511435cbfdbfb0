"""DFA and Forward-Forward: DFA with transposed feedback is backpropagation (autograd as the oracle);
Forward-Forward's gradients are each block's own loss and nothing else."""
import copy

import torch
from torch import nn

from snnkit.neurons import LIF, Sequential
from snnkit.training.local import DirectFeedbackAlignment, ForwardForward


def block(n_in, n_out):
    return Sequential(nn.Linear(n_in, n_out), LIF(tau_mem=5.0, v_th=0.5))


def test_dfa_with_transposed_feedback_equals_backpropagation():
    torch.manual_seed(0)
    dfa = DirectFeedbackAlignment([block(12, 16)], nn.Linear(16, 4), feedback="transpose")
    reference = copy.deepcopy(dfa)
    x, y = torch.rand(6, 5, 12) * 2, torch.randint(0, 4, (5,))
    dfa.backward_dfa(x, y)
    nn.functional.cross_entropy(reference(x), y).backward()
    for (name, p), q in zip(dfa.named_parameters(), reference.parameters()):
        assert q.grad is not None and q.grad.abs().sum() > 0, name
        torch.testing.assert_close(p.grad, q.grad, msg=name)


def test_dfa_random_feedback_reaches_every_block_and_differs_from_backprop():
    torch.manual_seed(1)
    dfa = DirectFeedbackAlignment([block(12, 16), block(16, 16)], nn.Linear(16, 4), feedback_scale=0.5)
    reference = copy.deepcopy(dfa)
    x, y = torch.rand(6, 5, 12) * 2, torch.randint(0, 4, (5,))
    dfa.backward_dfa(x, y)
    nn.functional.cross_entropy(reference(x), y).backward()
    first = dfa.blocks[0][0].weight.grad
    assert first is not None and first.abs().sum() > 0
    assert not torch.allclose(first, reference.blocks[0][0].weight.grad)
    torch.testing.assert_close(dfa.readout.weight.grad, reference.readout.weight.grad)   # readout is exact


def test_forward_forward_gradients_are_each_blocks_own_loss():
    torch.manual_seed(2)
    ff = ForwardForward([block(14, 20), block(20, 20)], num_classes=4, threshold=1.0)
    x, labels = torch.rand(5, 3, 14) * 2, torch.tensor([0, 1, 3])
    wrong = torch.tensor([2, 0, 1])
    losses = ff.local_losses(x, labels, wrong)
    grads = [torch.autograd.grad(loss, list(b.parameters()), retain_graph=True, allow_unused=True)
             for loss, b in zip(losses, ff.blocks)]
    leak = torch.autograd.grad(losses[1], list(ff.blocks[0].parameters()), retain_graph=True, allow_unused=True)
    assert all(g is None for g in leak)                  # block 2's loss never reaches block 1
    torch.stack(losses).sum().backward()
    for b, own in zip(ff.blocks, grads):
        for p, g in zip(b.parameters(), own):
            torch.testing.assert_close(p.grad, g)
    assert ff.embed(x, labels)[0, 1, :4].tolist() == [0.0, 1.0, 0.0, 0.0]
    assert ff.predict(x).shape == (3,)
