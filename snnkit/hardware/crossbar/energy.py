"""Energy and latency per inference from a simple analytic model (aihwkit has none).

Per read of one array (one input vector through ``rows x cols`` devices):

- DAC: ``e_dac_pj`` per driven (non-zero) row; binary spikes drive only the rows that spiked;
- cells: ``v_read^2 * G_ij * t_integrate`` summed over the devices of driven rows, each row's voltage
  scaled by its input relative to the vector's largest input (``|x_i| / max |x|``);
- ADC: ``e_adc_pj`` per column conversion;
- latency: ``t_integrate_ns + ceil(cols / adcs_per_array) * t_adc_ns`` (ADCs shared by columns).

Arrays of one layer run in parallel; reads that belong to one sample (time steps of an SNN, positions
of a convolution) run one after the other, and so do layers. Digital work (bias, neuron updates,
partial-sum accumulation) is not counted. The numbers are orders of magnitude for comparing
mappings, not a circuit simulation.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import Any

import torch
from torch import Tensor, nn

from ..profiles import CROSSBAR_SCHEMA


def _default(key: str) -> Any:
    return CROSSBAR_SCHEMA["energy"][key].default


@dataclass
class EnergyModel:
    """Per-read constants of the analytic model (see the module docstring). Their defaults and allowed
    values are those of a profile's ``[energy]`` table (:data:`snnkit.hardware.profiles.CROSSBAR_SCHEMA`),
    defined there once."""

    e_dac_pj: float = _default("e_dac_pj")
    e_adc_pj: float = _default("e_adc_pj")
    v_read: float = _default("v_read")
    t_integrate_ns: float = _default("t_integrate_ns")
    t_adc_ns: float = _default("t_adc_ns")
    adcs_per_array: int = _default("adcs_per_array")

    def __post_init__(self) -> None:
        for f in fields(self):
            problem = CROSSBAR_SCHEMA["energy"][f.name].problem(getattr(self, f.name))
            if problem is not None:
                raise ValueError(f"EnergyModel {f.name}{problem}")

    def read_latency_ns(self, cols: int) -> float:
        return self.t_integrate_ns + math.ceil(cols / self.adcs_per_array) * self.t_adc_ns


def energy_from_profile(profile: dict) -> EnergyModel:
    return EnergyModel(**profile["energy"])


@torch.no_grad()
def estimate_energy(model: nn.Module, x: Tensor, batch_dim: int = 1) -> dict[str, Any]:
    """Run ``model(x)`` once with energy counters on and return energy and latency per inference.

    Args:
        model: a model returned by :func:`snnkit.hardware.crossbar.simulate`.
        x: one batch of inputs; ``batch_dim`` is its batch axis (1 for time-major ``[T, B, ...]``,
            0 for an ANN's ``[B, ...]``).

    Returns ``{"energy_pj", "latency_ns", "layers": [{"name", "arrays", "reads_per_inference",
    "energy_pj", "dac_pj", "adc_pj", "cell_pj", "latency_ns"}, ...]}``, all per inference (per sample).
    """
    from .layers import crossbar_layers  # local: layers imports this module

    batch = x.shape[batch_dim]
    layers = crossbar_layers(model)
    if not layers:
        raise ValueError("model has no crossbar layers; pass a model returned by simulate()")
    for _, layer in layers:
        layer.array.count_energy = True
        layer.array.stats = dict.fromkeys(layer.array.stats, 0.0)
    try:
        model(x)
    finally:
        for _, layer in layers:
            layer.array.count_energy = False
    report = []
    for name, layer in layers:
        arr, e = layer.array, layer.array.config.energy
        s = arr.stats
        cols_per_array = [hi - lo for lo, hi in arr.col_ranges]
        adc = e.e_adc_pj * s["reads"] * sum(cols_per_array)
        dac = e.e_dac_pj * s["active_rows"]
        cell = s["cell_energy_pj"]
        reads = s["reads"] / batch
        latency = reads / len(arr.row_ranges) * max(e.read_latency_ns(c) for c in cols_per_array)
        report.append({"name": name, "arrays": arr.n_arrays, "reads_per_inference": reads,
                       "energy_pj": (adc + dac + cell) / batch, "dac_pj": dac / batch, "adc_pj": adc / batch,
                       "cell_pj": cell / batch, "latency_ns": latency})
    return {"energy_pj": sum(r["energy_pj"] for r in report), "latency_ns": sum(r["latency_ns"] for r in report),
            "layers": report}
