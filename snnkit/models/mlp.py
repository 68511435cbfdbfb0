"""Feed-forward spiking MLP and its ANN twins.

Spiking form: ``snnkit.neurons.Sequential(Linear, LIF, ..., Linear, LI)`` on ``[T, B, F]``; it returns the
readout membrane ``[T, B, C]`` and streams with ``model.step(x_t, state)``.

ANN twins (``twin=`` in the config), each the same layers with the spiking nonlinearity replaced:

* ``"relu"`` (default): every LIF becomes ``nn.ReLU``, the rate a LIF with subtractive reset approaches
  for a steady input (the ANN-to-SNN conversion correspondence). Same Linear layers, widths, LI readout
  and parameter count; only the spikes become real-valued rates.
* ``"rate"``: every LIF becomes a :class:`~snnkit.models._common.RateUnit`, the LIF's leaky membrane
  (same ``tau_mem``, no reset) followed by ReLU: keeps the membrane's memory. It learns worse than
  ``"relu"`` on MNIST-1D (0.26 vs 0.44 after 4 epochs: the unreset membrane grows ~10x its input).
* ``"flat"``: the old twin, a ReLU MLP on the flattened sequence ``[B, T*F]`` (needs ``steps``) with
  the **same hidden width** (matched by architecture, not by parameters: parameter matching squeezed
  it into a few-unit bottleneck). Its parameter count is larger; both counts are reported.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..neurons import LI, LIF, Sequential
from ._common import RateUnit, check_input, check_int
from .registry import register

TWINS = ("rate", "relu", "flat")
TWIN_NOTES = {
    "rate": "same layers and widths, each LIF replaced by its leaky membrane + ReLU (no spikes); equal parameters",
    "relu": "same layers and widths, each LIF replaced by ReLU (the LIF's steady-state rate); equal parameters",
    "flat": "ReLU MLP of the same hidden width on the flattened sequence (sees all T steps at once); "
            "more parameters (its first layer has T times the fan-in)",
}


def _mlp_params(fan_in: int, hidden: int, layers: int, classes: int) -> int:
    return fan_in * hidden + hidden + (layers - 1) * (hidden * hidden + hidden) + hidden * classes + classes


def matched_width(target: int, fan_in: int, layers: int, classes: int) -> int:
    """Hidden width whose MLP parameter count is closest to ``target`` (may be a bottleneck: report it)."""
    best, best_err = 1, None
    for h in range(1, 8192):
        err = abs(_mlp_params(fan_in, h, layers, classes) - target)
        if best_err is None or err < best_err:
            best, best_err = h, err
        elif _mlp_params(fan_in, h, layers, classes) > target:
            break
    return best


def _layers(in_features: int, num_classes: int, hidden: int, layers: int, unit, tau_out: float) -> list[nn.Module]:
    mods: list[nn.Module] = []
    width = in_features
    for _ in range(layers):
        mods += [nn.Linear(width, hidden), unit()]
        width = hidden
    return mods + [nn.Linear(width, num_classes), LI(tau_mem=tau_out)]


class SpikingMLP(Sequential):
    """``Linear -> LIF`` x ``layers``, then ``Linear -> LI`` readout."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128, layers: int = 1,
                 tau_mem: float = 10.0, tau_out: float = 10.0, v_th: float = 1.0, reset: str = "subtract") -> None:
        super().__init__(*_layers(in_features, num_classes, hidden, layers,
                                  lambda: LIF(tau_mem=tau_mem, v_th=v_th, reset=reset, detach_reset=True), tau_out))
        self.in_features = in_features

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return super().forward(x)


class TwinMLP(nn.Module):
    """The ANN twin of :class:`SpikingMLP`: identical layers, each LIF replaced by ``RateUnit`` (``"rate"``)
    or ``nn.ReLU`` (``"relu"``). Returns the LI readout membrane ``[T, B, C]`` as the SNN does."""

    def __init__(self, in_features: int, num_classes: int, hidden: int = 128, layers: int = 1,
                 tau_mem: float = 10.0, tau_out: float = 10.0, twin: str = "relu") -> None:
        super().__init__()
        if twin not in ("rate", "relu"):
            raise ValueError(f"twin={twin!r} must be 'rate' or 'relu' for TwinMLP")
        unit = (lambda: RateUnit(tau_mem)) if twin == "rate" else nn.ReLU
        self.net = nn.Sequential(*_layers(in_features, num_classes, hidden, layers, unit, tau_out))
        self.in_features, self.twin = in_features, twin

    def forward(self, x: Tensor) -> Tensor:
        check_input(x, self.in_features)
        return self.net(x)


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
              reset: str = "subtract", twin: str = "relu") -> nn.Module:
    """``create("mlp", spiking, in_features=F, num_classes=C, hidden=128, layers=1, twin="relu")``;
    ``steps`` is needed only by ``twin="flat"``. ``reset`` is the LIF reset of the spiking form ("hard"
    is the one NIR and Loihi can express). The ANN form carries ``twin_note`` saying what it is."""
    check_int("in_features", in_features)
    check_int("num_classes", num_classes)
    check_int("hidden", hidden)
    check_int("layers", layers)
    if twin not in TWINS:
        raise ValueError(f"twin={twin!r} must be one of {TWINS}")
    if spiking:
        return SpikingMLP(in_features, num_classes, hidden, layers, tau_mem, tau_out, reset=reset)
    if twin == "flat":
        if steps is None:
            raise ValueError("steps=None: twin='flat' flattens [T, B, F]; pass steps=T (sequence length)")
        model: nn.Module = FlatMLP(in_features, check_int("steps", steps), num_classes, hidden, layers)
    else:
        model = TwinMLP(in_features, num_classes, hidden, layers, tau_mem, tau_out, twin)
    model.twin_note = TWIN_NOTES[twin]  # type: ignore[assignment]
    return model
