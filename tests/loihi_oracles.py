"""Float-model oracles for quantised Loihi networks, shared by tests/test_loihi_mappings.py and
tests/test_backends_table.py (not a test file itself)."""
from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn

from snnkit.hardware.loihi import LoihiNetwork, simulate


def without_biases(model: nn.Module) -> nn.Module:
    """A copy with every bias set to 0, BatchNorms' running means included (their shift folds into the
    synapse's bias on Loihi): Lava's one step of latency per layer lets a bias integrate one step early."""
    unbiased = copy.deepcopy(model)
    with torch.no_grad():
        for pname, p in unbiased.named_parameters():
            if pname.rsplit(".", 1)[-1] == "bias":
                p.zero_()
        for m in unbiased.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.zero_()
    return unbiased


def layer_by_layer(net: LoihiNetwork, model: nn.Module, x: torch.Tensor) -> tuple[list[float], float | None]:
    """Each Loihi layer run on the float model's input to it (``x``, then the float model's spikes of the
    layer before, read by hooks on the neurons ``net.report`` names), so that quantisation differences do
    not compound: ``(spike agreement of each spiking layer, membrane error ||dv|| / ||v|| of a membrane
    readout, else None)``; a summing readout is compared with the running sum of the model's output.
    Meant for models without biases (see :func:`without_biases`): Lava's latency lets a bias integrate one
    step before the input arrives, which the float model does not."""
    acts: dict[str, np.ndarray] = {}
    hooks = [model.get_submodule(r["name"]).register_forward_hook(
        lambda _m, _i, out, name=r["name"]: acts.__setitem__(name, out.detach().numpy())) for r in net.report[:-1]]
    try:
        with torch.no_grad():
            ref = model(x).numpy()
    finally:
        for h in hooks:
            h.remove()
    T, B = x.shape[:2]
    first = net.graded_input(x) if net.input_scale is not None else x.numpy().astype(bool)
    inputs = [first] + [acts[r["name"]].astype(bool) for r in net.report[:-1]]
    agreement, error = [], None
    for i, layer in enumerate(net.layers):
        src = inputs[i].reshape(T, B, -1)
        run = simulate([layer], np.concatenate([src, np.zeros_like(src[:1])]))
        if i < len(net.layers) - 1 or net.readout == "spikes":
            want = (inputs[i + 1] if i < len(net.layers) - 1 else ref).reshape(T, B, -1).astype(bool)
            agreement.append(float((run["spikes"][0][1:] == want).mean()))
        else:
            v = run["v"][0][1:] / net.scales[-1]
            want = ref.reshape(v.shape)
            want = want.cumsum(0) if net.readout == "sum" else want
            error = float(np.linalg.norm(v - want) / np.linalg.norm(want))
    return agreement, error
