"""Training helpers for learnable delays (the DCLS recipe, REFERENCE.md section 4).

- :class:`SigmaSchedule`: the Gaussian width starts wide (``D / 2``) and decays exponentially to an
  effective 0.5 steps over a chosen fraction of training (a quarter in the paper); it is not learned.
- :func:`delay_param_groups`: optimiser parameter groups so delays get their own learning rate
  (100x the weights' in the paper) and no weight decay.
- :func:`clamp_all_delays`: keep delays in ``[0, D - 1]`` after every optimiser step.
- :func:`freeze_delays` (re-exported from :mod:`.delays`): round delays and switch to one-hot kernels
  for evaluation and export.

Typical loop::

    groups = delay_param_groups(model, lr=1e-3, delay_lr=0.1, weight_decay=1e-5)
    opt = torch.optim.Adam(groups)
    sched = SigmaSchedule(model, total_epochs=150, decay_fraction=0.25)
    for epoch in range(150):
        for x, y in loader:
            ...; opt.step(); clamp_all_delays(model)
        sched.step()
    freeze_delays(model)
"""
from __future__ import annotations

from typing import Any

from torch import nn

from .. import _checks
from .delays import SIGMA_FINAL, DelayedLinear, delayed_layers, freeze_delays

__all__ = ["SigmaSchedule", "sigma_at", "delay_param_groups", "clamp_all_delays", "freeze_delays",
           "delay_parameters", "DCLSRecipe"]


def sigma_at(epoch: float, total_epochs: int, sigma_init: float, sigma_final: float = SIGMA_FINAL,
             decay_fraction: float = 0.25) -> float:
    """Sigma after ``epoch`` epochs: ``sigma_init * r ** epoch`` with ``r`` chosen so that sigma reaches
    ``sigma_final`` at ``decay_fraction * total_epochs``; constant afterwards."""
    _checks.positive("total_epochs", total_epochs)
    _checks.positive("sigma_init", sigma_init)
    _checks.positive("sigma_final", sigma_final)
    if not 0.0 <= decay_fraction <= 1.0:
        raise ValueError(f"decay_fraction={decay_fraction!r} must lie in [0, 1]")
    end = decay_fraction * total_epochs
    if epoch >= end:
        return float(sigma_final)
    return float(sigma_init * (sigma_final / sigma_init) ** (epoch / end))


class SigmaSchedule:
    """Sets ``sigma`` of every :class:`DelayedLinear` in ``model``; call :meth:`step` once per epoch
    (or per batch with ``total_epochs`` counted in steps). ``sigma_init`` defaults to each layer's
    ``max_delay / 2``."""

    def __init__(self, model: nn.Module, total_epochs: int, decay_fraction: float = 0.25,
                 sigma_init: float | None = None, sigma_final: float = SIGMA_FINAL) -> None:
        self.layers = delayed_layers(model)
        self.total_epochs, self.decay_fraction = total_epochs, decay_fraction
        self.sigma_final = sigma_final
        self.sigma_init = [float(sigma_init if sigma_init is not None else m.max_delay / 2) for m in self.layers]
        self.epoch = 0
        self._apply()

    def _apply(self) -> None:
        for m, s0 in zip(self.layers, self.sigma_init):
            m.sigma.fill_(sigma_at(self.epoch, self.total_epochs, s0, self.sigma_final, self.decay_fraction))

    def step(self) -> None:
        self.epoch += 1
        self._apply()

    def current(self) -> list[float]:
        return [float(m.sigma) for m in self.layers]

    def state_dict(self) -> dict[str, Any]:
        return {"epoch": self.epoch}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.epoch = int(state["epoch"])
        self._apply()


def delay_parameters(model: nn.Module) -> list[nn.Parameter]:
    """The learnable delay tensors of ``model`` (one per learned :class:`DelayedLinear`)."""
    return [m.delays for m in delayed_layers(model) if isinstance(m.delays, nn.Parameter)]


def delay_param_groups(model: nn.Module, lr: float, delay_lr: float | None = None,
                       weight_decay: float = 0.0, delay_weight_decay: float = 0.0) -> list[dict[str, Any]]:
    """Two optimiser groups: everything else (``lr``, ``weight_decay``) and the delays (``delay_lr``,
    default ``100 * lr`` as in the recipe; no weight decay, which would pull delays to 0). Each group
    carries ``"name"`` (``"weights"`` / ``"delays"``) so schedulers can treat them separately."""
    _checks.positive("lr", lr)
    delay_lr = 100.0 * lr if delay_lr is None else delay_lr
    _checks.positive("delay_lr", delay_lr)
    delays = delay_parameters(model)
    ids = {id(p) for p in delays}
    others = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    groups = [{"params": others, "lr": lr, "weight_decay": weight_decay, "name": "weights"}]
    if delays:
        groups.append({"params": delays, "lr": delay_lr, "weight_decay": delay_weight_decay, "name": "delays"})
    return groups


def clamp_all_delays(model: nn.Module) -> None:
    """Clamp every layer's delays into ``[0, max_delay - 1]`` (call after each optimiser step)."""
    for m in delayed_layers(model):
        if isinstance(m, DelayedLinear):
            m.clamp_delays()



class DCLSRecipe:
    """The recipe's per-step and per-epoch actions as a trainer callback ``fn(event, trainer, info)``
    (events ``"step"`` and ``"epoch"`` of :class:`snnkit.training.Trainer`): clamp delays after every
    optimiser step, advance the sigma schedule after every epoch, and, with :meth:`attach`, give the
    delays their own optimiser group (``delay_lr``, default 100x the weights' lr).

    Usage: ``recipe = DCLSRecipe(model, epochs); recipe.attach(trainer); trainer.callbacks.append(recipe)``
    before ``trainer.fit``; then :func:`freeze_delays` before evaluation/export.
    """

    def __init__(self, model: nn.Module, total_epochs: int, decay_fraction: float = 0.25,
                 delay_lr: float | None = None, sigma_init: float | None = None) -> None:
        self.model, self.delay_lr = model, delay_lr
        self.sigma = SigmaSchedule(model, total_epochs, decay_fraction, sigma_init)

    def attach(self, trainer: Any) -> None:
        """Rebuild ``trainer.optimizer`` with a separate group for the delays (same optimiser class,
        same weight lr and weight decay); call before ``fit`` so schedulers see both groups."""
        old = trainer.optimizer
        g = old.param_groups[0]
        groups = delay_param_groups(self.model, lr=g["lr"], delay_lr=self.delay_lr,
                                    weight_decay=g.get("weight_decay", 0.0))
        defaults = {k: v for k, v in old.defaults.items() if k not in ("lr", "weight_decay")}
        trainer.optimizer = type(old)(groups, **defaults)

    def __call__(self, event: str, trainer: Any = None, info: Any = None) -> None:
        if event == "step":
            clamp_all_delays(self.model)
        elif event == "epoch":
            self.sigma.step()
