"""Local plasticity: traces, rules that attach to a synapse, and the rules themselves.

One mechanism (:class:`PlasticityRule`): a rule wraps a synapse (``nn.Linear``, ``nn.Conv1d/2d``,
a delayed linear layer or a weight tensor, through :func:`view_of`), is stepped once per simulation
step with pre- and post-synaptic activity of a batch, and delivers its weight change immediately,
into ``weight.grad`` for an optimiser, or into an accumulator. A third factor (reward, error,
neuromodulator) is the ``modulator`` argument of ``step``::

    stdp = PairSTDP(fc, tau_pre=20, tau_post=20, a_plus=0.01, a_minus=0.012, update="grad")
    for x_t in inputs.unbind(0):
        s_t, state = lif.step(fc(x_t), state)
        stdp.step(x_t, s_t)                  # or stdp.step(x_t, s_t, modulator=reward)
    optimizer.step()

Rules: :class:`PairSTDP`, :class:`TripletSTDP`, :class:`RewardModulatedSTDP` (with :func:`mstdp`,
:func:`mstdpet`), :class:`EProp` / :func:`eprop_gradients`, :class:`Oja`, :class:`BCM`,
:class:`SoftHebb`, :class:`HLOP`, :class:`AstrocyteGatedSTDP` (NALSM); reservoir readouts
:class:`RecursiveLeastSquares` (FORCE) and :class:`ErrorModulatedHebbian`; homeostasis: :class:`AdaptiveThreshold`, :func:`winner_take_all`,
:func:`lateral_inhibition`.
"""
from .astrocyte import Astrocyte, AstrocyteGatedSTDP
from .eprop import EProp, EPropState, eprop_gradients
from .hebbian import BCM, Oja, SoftHebb
from .hlop import HLOP
from .modulated import ModulatedHebbianAdaptation
from .homeostasis import AdaptiveThreshold, lateral_inhibition, winner_take_all
from .readout import ErrorModulatedHebbian, RecursiveLeastSquares
from .rule import UPDATES, PlasticityRule
from .stdp import PairSTDP, TripletSTDP
from .synapse_views import ConvView, DelayedDenseView, DenseView, SynapseView, view_of
from .three_factor import RewardModulatedSTDP, mstdp, mstdpet
from .traces import TraceParameters, trace_multistep, trace_step

__all__ = [
    "PlasticityRule", "UPDATES",
    "SynapseView", "DenseView", "ConvView", "DelayedDenseView", "view_of",
    "TraceParameters", "trace_step", "trace_multistep",
    "PairSTDP", "TripletSTDP",
    "RewardModulatedSTDP", "mstdp", "mstdpet",
    "EProp", "EPropState", "eprop_gradients",
    "Oja", "BCM", "SoftHebb", "HLOP",
    "AdaptiveThreshold", "winner_take_all", "lateral_inhibition",
    "Astrocyte", "AstrocyteGatedSTDP", "RecursiveLeastSquares", "ErrorModulatedHebbian",
]
