"""Model registry: every architecture is built from ``(name, spiking, config)`` alone, so a checkpoint
that stores these three things (see :func:`spec`) can rebuild its model.

Conventions shared by every registered model:

* input is time-major ``[T, B, F]`` (``F`` = ``in_features``);
* a **spiking** model returns the readout membrane ``[T_out, B, num_classes]`` of a non-firing
  leaky-integrator layer (reduce it over dim 0 with max / mean / sum-of-softmax before the loss);
* an **ANN** twin returns logits as ``[1, B, num_classes]`` (or ``[T, B, num_classes]`` where it keeps the
  spiking model's leaky readout), so the same time reduction works for both;
* the ANN twin is the same architecture with the spiking nonlinearity replaced (LIF -> ReLU / GELU, a
  leaky rate unit, or the gated recurrence the paper compares with), never a narrower model; each ANN
  model made by :func:`create` carries ``twin_note``, one line saying which twin it is and why.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

from torch import nn

Builder = Callable[..., nn.Module]

_BUILDERS: dict[str, Builder] = {}
_FORMS: dict[str, tuple[bool, ...]] = {}
_LAZY: dict[str, Callable[[], None]] = {}
_TWIN_NOTES: dict[str, str] = {}


def register(name: str, forms: Iterable[bool] = (True, False), twin: str = "") -> Callable[[Builder], Builder]:
    """Decorator: register ``builder(spiking: bool, **config) -> nn.Module`` under ``name``.

    ``forms`` lists which values of ``spiking`` make sense (``(False,)`` for ANN-only baselines);
    ``twin`` says what the ANN form is relative to the spiking one (copied to ``model.twin_note``).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r} must be a non-empty string")

    def deco(builder: Builder) -> Builder:
        if name in _BUILDERS and _BUILDERS[name] is not builder:
            raise ValueError(f"model name {name!r} is already registered")
        _BUILDERS[name] = builder
        _FORMS[name] = tuple(bool(f) for f in forms)
        if twin:
            _TWIN_NOTES[name] = twin
        return builder

    return deco


def describe_twin(name: str, note: str) -> None:
    """Say what the ANN form of ``name`` is (for models registered elsewhere without ``twin=``)."""
    _TWIN_NOTES[name] = note


def register_lazy(name: str, loader: Callable[[], None]) -> None:
    """Register ``name`` only when first asked for: ``loader()`` imports the module that registers it
    (used for models whose dependencies may be absent)."""
    _LAZY[name] = loader


def _resolve_lazy() -> None:
    for name, loader in list(_LAZY.items()):
        try:
            loader()
        except ImportError:
            pass
        _LAZY.pop(name, None)


def names() -> list[str]:
    """Names of the registered models (lazily registered ones whose dependencies import)."""
    _resolve_lazy()
    return sorted(_BUILDERS)


def forms(name: str) -> tuple[bool, ...]:
    """The values of ``spiking`` that ``name`` supports."""
    _resolve_lazy()
    if name not in _BUILDERS:
        raise ValueError(f"unknown model name={name!r}; registered: {sorted(_BUILDERS)}")
    return _FORMS[name]


def create(name: str, spiking: bool = True, **config: Any) -> nn.Module:
    """Build model ``name`` in its spiking (``spiking=True``) or ANN form from keyword ``config``.

    The returned module carries ``snnkit_spec = {"name", "spiking", "config"}`` for checkpoints.
    """
    if not isinstance(spiking, bool):
        raise TypeError(f"spiking must be a bool; got {type(spiking).__name__} {spiking!r}")
    allowed = forms(name)
    if spiking not in allowed:
        have = ["spiking" if f else "ann" for f in allowed]
        raise ValueError(f"model {name!r} has no {'spiking' if spiking else 'ANN'} form; available forms: {have}")
    model = _BUILDERS[name](spiking=spiking, **config)
    model.snnkit_spec = {"name": name, "spiking": spiking, "config": dict(config)}  # type: ignore[assignment]
    if not spiking and not getattr(model, "twin_note", "") and _TWIN_NOTES.get(name):
        model.twin_note = _TWIN_NOTES[name]  # type: ignore[assignment]
    return model


def spec(model: nn.Module) -> dict[str, Any]:
    """``{"name", "spiking", "config"}`` of a model made by :func:`create` (``create(**spec)`` rebuilds it)."""
    s = getattr(model, "snnkit_spec", None)
    if s is None:
        raise ValueError(f"model of type {type(model).__name__} was not made by snnkit.models.create; no spec")
    return {"name": s["name"], "spiking": s["spiking"], "config": dict(s["config"])}
