"""Resistive-memory crossbar simulation (PCM, RRAM) as swappable stages.

- profiles: TOML files (``hardware/pcm.toml``, ``rram.toml``, ``ideal.toml``) via
  :func:`snnkit.hardware.profiles.load`; :meth:`CrossbarConfig.from_profile` builds the stages.
- stages: conductance mapping (:class:`DifferentialMapping`, :class:`SingleDeviceMapping`, bit slicing),
  device models (:class:`PCMDevice`, :class:`LevelDevice`, :class:`IdealDevice`), tiling and programming
  (:class:`CrossbarArray`), periphery (:class:`Periphery`: DAC/ADC, output noise, IR drop), global drift
  compensation, energy/latency (:class:`EnergyModel`, :func:`estimate_energy`).
- models: :func:`simulate` (any model's Linear/Conv layers on programmed crossbars), :func:`drift_to`,
  :func:`set_compensation`, :func:`hardware_aware` (noise-injection training), :func:`drift_study`.
- the seed system: :class:`ResistiveLSM`, a spiking reservoir whose weights are the programming noise
  of the devices, with a ridge-regression readout.
"""
from .array import CrossbarArray, CrossbarConfig, as_config
from .devices import DeviceModel, IdealDevice, LevelDevice, PCMDevice, ProgrammedSlice
from .drift_study import DEFAULT_TIMES, drift_study, drift_table_markdown, plot_drift_study
from .energy import EnergyModel, estimate_energy
from .layers import (CrossbarConv, CrossbarLinear, crossbar_layers, drift_to, hardware_aware, program,
                     set_compensation, simulate)
from .lsm import ResistiveLSM
from .mapping import ConductanceMapping, DifferentialMapping, SingleDeviceMapping
from .periphery import Periphery, quantize

__all__ = [
    "CrossbarConfig", "CrossbarArray", "as_config",
    "DeviceModel", "IdealDevice", "LevelDevice", "PCMDevice", "ProgrammedSlice",
    "ConductanceMapping", "DifferentialMapping", "SingleDeviceMapping",
    "Periphery", "quantize", "EnergyModel", "estimate_energy",
    "CrossbarLinear", "CrossbarConv", "crossbar_layers", "simulate", "program", "drift_to",
    "set_compensation", "hardware_aware",
    "drift_study", "drift_table_markdown", "plot_drift_study", "DEFAULT_TIMES", "ResistiveLSM",
]
