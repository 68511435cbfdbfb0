"""Feed-forward spiking MLP and its parameter-matched ANN twin.

Spiking form: ``snnkit.neurons.Sequential(Linear, LIF, ..., Linear, LI)`` on ``[T, B, F]``; it returns the
readout membrane ``[T, B, C]`` and streams with ``model.step(x_t, state)``.

ANN twin: a ReLU MLP on the **flattened sequence** ``[B, T*F]`` (it sees every time step, as the SNN
does; averaging over time would throw away the timing that most spiking tasks encode). Its hidden width
is chosen so its parameter count is as close as possible to the spiking model's; this needs the
sequence length ``steps`` in the config.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..neurons import LI, LIF, Sequential
from ._common import check_input, check_int
from .registry import register


def _mlp_params(fan_in: int, hidden: int, layers: int, classes: int) -> int:
    return fan_in * hidden + hidden + (layers - 1) * (hidden * hidden + hidden) + hidden * classes + classes


def matched_width(target: int, fan_in: int, layers: int, classes: int) -> int:
    """Hidden width whose MLP parameter count is closest to ``target``."""
    best, best_err = 1, None
    for h in range(1, 8192):
        err = abs(_mlp_params(fan_in, h, layers, classes) - target)
        if best_err is None or err < best_err:
            best, best_err = h, err
        elif _mlp_params(fan_in, h, layers, classes) > target:
            break
    return best


class SpikingMLP(Sequential):
    """``Linear -> LIF`` x ``layers``, then ``Linear -> LI`` readout."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128, layers: int = 1,
                 tau_mem: float = 10.0, tau_out: float = 10.0, v_th: float = 1.0, reset: str = "subtract") -> None:
        mods: list[nn.Module] = []
        width = in_features
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), LIF(tau_mem=tau_mem, v_th=v_th, reset=reset, detach_reset=True)]
            width = hidden
        mods += [nn.Linear(width, num_classes), LI(tau_mem=tau_out)]
        super().__init__(*mods)
        self.in_features = in_features

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return super().forward(x)


class FlatMLP(nn.Module):
    """ReLU MLP on the flattened sequence ``[T, B, F] -> [B, T*F] -> logits [1, B, C]``."""

    def __init__(self, in_features: int, steps: int, num_classes: int, hidden: int, layers: int = 1) -> None:
        super().__init__()
        self.in_features, self.steps = in_features, steps
        mods: list[nn.Module] = []
        width = in_features * steps
        for _ in range(layers):
            mods += [nn.Linear(width, hidden), nn.ReLU()]
            width = hidden
        mods.append(nn.Linear(width, num_classes))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        if x.shape[0] != self.steps:
            raise ValueError(f"x has {x.shape[0]} time steps; this flat MLP was built for steps={self.steps}")
        return self.net(x.transpose(0, 1).reshape(x.shape[1], -1)).unsqueeze(0)


@register("mlp")
def build_mlp(spiking: bool, in_features: int, num_classes: int, hidden: int = 128, layers: int = 1,
              steps: int | None = None, tau_mem: float = 10.0, tau_out: float = 10.0,
              reset: str = "subtract") -> nn.Module:
    """``create("mlp", spiking, in_features=F, num_classes=C, hidden=128, layers=1, steps=T)``;
    ``steps`` is required for the ANN twin. ``reset`` is the LIF reset of the spiking form ("hard" is
    the one NIR and Loihi can express); the ANN twin ignores it."""
    check_int("in_features", in_features)
    check_int("num_classes", num_classes)
    check_int("hidden", hidden)
    check_int("layers", layers)
    if spiking:
        return SpikingMLP(in_features, num_classes, hidden, layers, tau_mem, tau_out, reset=reset)
    if steps is None:
        raise ValueError("steps=None: the ANN twin of 'mlp' flattens [T, B, F]; pass steps=T (sequence length)")
    check_int("steps", steps)
    target = _mlp_params(in_features, hidden, layers, num_classes)
    width = matched_width(target, in_features * steps, layers, num_classes)
    return FlatMLP(in_features, steps, num_classes, width, layers)
