"""ANN -> SNN conversion: ReLU-like activations become IF neurons (reset by subtraction, or to 0
with ``reset="zero"``) whose threshold is the activation scale ``lambda`` measured on calibration
data; their 0/1 spikes carry amplitude ``lambda``, which is folded into the next weight layer
wherever the graph allows."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Iterable

import torch
from torch import Tensor, fx, nn

from .. import _checks
from ..encoding import direct_encode, rate_encode
from ..neurons import Sequential as SpikingSequential
from ..synapses import TimeDistributed
from . import graph as G
from .modules import RESETS, ChannelScale, ConvertedIF, ConvertedLIF, SpikeMaxPool
from .normalise import activation_scales

ENCODINGS = ("direct", "rate")
NEURONS = ("if", "lif")


def encode(x: Tensor, T: int, encoding: str = "direct", generator: torch.Generator | None = None) -> Tensor:
    """Batch-major ANN input ``[B, ...]`` -> time-major SNN input ``[T, B, ...]``.

    ``"direct"`` repeats the analog input at every step (the first layer integrates a constant
    current); ``"rate"`` draws Bernoulli spikes with probability ``x`` (``x`` must lie in [0, 1])."""
    _checks.one_of("encoding", encoding, ENCODINGS)
    if not (isinstance(T, int) and T >= 1):
        raise ValueError(f"T={T!r} must be an int >= 1")
    if encoding == "direct":
        return direct_encode(x, T)
    if bool((x < 0).any()) or bool((x > 1).any()):
        raise ValueError(f"encoding='rate' needs inputs in [0, 1]; got range [{float(x.min()):.3g}, "
                         f"{float(x.max()):.3g}] (use encoding='direct' or rescale)")
    return rate_encode(x, T, generator=generator)


def snn_logits(snn: nn.Module, x: Tensor, T: int, encoding: str = "direct") -> Tensor:
    """Mean over T of the SNN output for batch-major input ``x``: the ANN-comparable logits."""
    return snn(encode(x, T, encoding)).mean(0)


@dataclass
class Conversion:
    """What :func:`convert_detailed` returns.

    ``snn``: the converted network (``snnkit.neurons.Sequential`` when the ANN is a chain, else an fx
    ``GraphModule``), input ``[T, B, ...]``, output ``[T, B, ...]`` (average over T for logits).
    ``ann``: the canonical ANN it was made from (BatchNorm folded, Dropout removed), whose activation
    modules have the same names as the neurons in ``snn`` (see ``sites``).
    ``thresholds``: the activation scale used for each site. ``options``: the conversion settings.
    ``v_init_scores``: with ``v_init="auto"``, each candidate's ``{"agreement", "mse"}`` with the ANN
    on the calibration subset (see :func:`snnkit.conversion.choose_v_init`); else None."""

    snn: nn.Module
    ann: nn.Module
    sites: list[str]
    thresholds: dict[str, Tensor]
    options: dict[str, Any] = field(default_factory=dict)
    v_init_scores: dict[float, dict[str, float]] | None = None


def _neuron(kind: str, lam: Tensor, v_init: float, tau_mem: float, surrogate: str, reset: str) -> nn.Module:
    if kind == "if":
        return ConvertedIF(lam, v_init=v_init, surrogate=surrogate, reset=reset)
    return ConvertedLIF(lam, tau_mem=tau_mem, v_init=v_init, surrogate=surrogate, reset=reset)


def _build_unfolded(canon: fx.GraphModule, scales: dict[str, Tensor], neuron: str, v_init: float,
                    tau_mem: float, surrogate: str, reset: str) -> tuple[fx.GraphModule, dict[str, str]]:
    """The SNN graph with every activation replaced by neuron -> ChannelScale(lambda)."""
    snn = copy.deepcopy(canon)
    scale_of: dict[str, str] = {}
    for node in list(snn.graph.nodes):
        if node.op != "call_module":
            continue
        m = snn.get_submodule(node.target)
        if isinstance(m, nn.Linear):
            continue  # nn.Linear already maps [T, B, F]
        if isinstance(m, G.WEIGHT_LAYERS + G.POOLS_AVG + G.RESHAPES):
            G.swap_module(snn, node, TimeDistributed(m))
        elif isinstance(m, G.POOLS_MAX):
            G.swap_module(snn, node, SpikeMaxPool(m))
        elif isinstance(m, G.ACTIVATIONS):
            site = str(node.target)
            lam = scales[site]
            G.swap_module(snn, node, _neuron(neuron, lam, v_init, tau_mem, surrogate, reset))
            name = G.free_name(snn, G.sequential_name(site) + "_scale")
            snn.add_submodule(name, ChannelScale(lam))
            with snn.graph.inserting_after(node):
                scaled = snn.graph.call_module(name, (node,))
            node.replace_all_uses_with(scaled, delete_user_cb=lambda user: user is not scaled)
            scale_of[site] = name
    snn.recompile()
    return snn, scale_of


def _channel_commuting(m: nn.Module) -> bool:
    """Modules through which a positive per-channel factor passes unchanged (pooling, Flatten)."""
    inner = m.module if isinstance(m, TimeDistributed) else m
    return isinstance(m, SpikeMaxPool) or isinstance(inner, G.POOLS_AVG + (nn.Flatten,))


def fold_scales(snn: fx.GraphModule) -> fx.GraphModule:
    """Fold every :class:`ChannelScale` into the weight layer it feeds when only pooling/Flatten lie
    between them and nothing else reads the scaled tensor; the neurons then emit plain 0/1 spikes."""
    for node in list(snn.graph.nodes):
        if node.op != "call_module" or not isinstance(snn.get_submodule(node.target), ChannelScale):
            continue
        scale = snn.get_submodule(node.target).scale
        cur, flatten_seen = node, False
        while len(cur.users) == 1:
            user = next(iter(cur.users))
            if user.op != "call_module" or not _channel_commuting(snn.get_submodule(user.target)):
                break
            inner = snn.get_submodule(user.target)
            flatten_seen |= isinstance(getattr(inner, "module", inner), nn.Flatten)
            cur = user
        if len(cur.users) != 1:
            continue
        consumer = next(iter(cur.users))
        if consumer.op != "call_module":
            continue
        layer = snn.get_submodule(consumer.target)
        layer = layer.module if isinstance(layer, TimeDistributed) else layer
        if not isinstance(layer, G.WEIGHT_LAYERS) or getattr(layer, "groups", 1) != 1:
            continue
        factor = scale.flatten().to(layer.weight)
        with torch.no_grad():
            if isinstance(layer, nn.Linear):
                n_in = layer.in_features
                if factor.numel() not in (1, n_in):
                    if not flatten_seen or n_in % factor.numel():
                        continue
                    factor = factor.repeat_interleave(n_in // factor.numel())  # [C] -> [C*H*W]
                layer.weight.mul_(factor.reshape(1, -1) if factor.numel() > 1 else factor)
            else:
                if factor.numel() not in (1, layer.in_channels):
                    continue
                shape = (1, -1) + (1,) * (layer.weight.dim() - 2)
                layer.weight.mul_(factor.reshape(shape) if factor.numel() > 1 else factor)
        node.replace_all_uses_with(node.args[0])
        snn.graph.erase_node(node)
    snn.graph.lint()
    snn.recompile()
    snn.delete_all_unused_submodules()
    return snn


def convert_detailed(ann: nn.Module, calibration_data: Tensor | Iterable, T: int = 32, *,
                     normalisation: str = "percentile", percentile: float = 99.9, channel_wise: bool = False,
                     v_init: float | str = 0.5, neuron: str = "if", tau_mem: float = 100.0,
                     threshold_balancing: bool = False, bias_calibration: bool = False,
                     encoding: str = "direct", fold: bool = True, batch_size: int = 256,
                     calibration_samples: int = 1024, surrogate: str = "atan", reset: str = "subtract",
                     structure_only: bool = False) -> Conversion:
    """Convert ``ann`` and return the :class:`Conversion` (SNN, canonical ANN, sites, thresholds).

    Args:
        ann: the trained ANN (any mode; converted as in eval mode). See :data:`graph.SUPPORTED`.
        calibration_data: ANN inputs ``[N, ...]`` (or an iterable of batches / ``(x, y)`` tuples).
        T: time steps used by the post-conversion calibrations (the SNN itself runs at any T).
        normalisation: ``"max"`` or ``"percentile"`` of the activations on the calibration data.
        percentile: the percentile for ``normalisation="percentile"`` (Rueckauer et al. 2017: 99.9).
        channel_wise: one threshold per channel instead of one per layer.
        v_init: initial membrane as a fraction of the threshold (0.5 halves the mean rate error), or
            ``"auto"``: of 0, 0.25 and 0.5, the one whose SNN agrees best with the ANN on the calibration
            subset at ``T`` (see :func:`snnkit.conversion.choose_v_init`; chosen before the
            threshold and bias calibrations, which then run with it). ``options["v_init"]`` holds the
            value used, :attr:`Conversion.v_init_scores` each candidate's agreement and error.
        neuron: ``"if"`` or ``"lif"`` (``tau_mem`` for the latter).
        reset: what a neuron's membrane does after a spike: ``"subtract"`` the threshold (keeps the
            residual charge; the accurate default) or go to ``"zero"`` (Diehl et al. 2015; loses the
            residue, so it needs more steps for the same accuracy). ``reset="zero", v_init=0.0`` is the
            setting Loihi 2 runs (Lava's LIF resets to 0 and starts at 0; with ``channel_wise=False``,
            as Loihi holds one threshold per layer).
        threshold_balancing: after the data-based scales, set each layer's threshold layer by layer to
            the chosen max/percentile of its input current in the running SNN (Sengupta et al. 2019).
        bias_calibration: layer by layer, shift the bias feeding each neuron population by the mean
            difference between the ANN activation and the SNN rate x threshold at ``T``.
        encoding: ``"direct"`` (analog input repeated) or ``"rate"`` (Bernoulli) for the calibrations.
        fold: fold spike amplitudes into the next weight layers (0/1 spikes, exporter friendly).
        calibration_samples: at most this many samples are simulated by the calibrations.
        structure_only: skip the calibrations but build the same modules (used when loading a file).
    """
    _checks.one_of("neuron", neuron, NEURONS)
    _checks.one_of("encoding", encoding, ENCODINGS)
    _checks.one_of("reset", reset, RESETS)
    auto = isinstance(v_init, str)
    if auto and (v_init != "auto" or structure_only):
        raise ValueError(f"v_init={v_init!r} must be a fraction of the threshold in [0, 1) or 'auto' "
                         f"(which needs calibration data, not structure_only)")
    if not auto and not (isinstance(v_init, (int, float)) and not isinstance(v_init, bool) and 0.0 <= v_init < 1.0):
        raise ValueError(f"v_init={v_init!r} must be in [0, 1) (a fraction of the threshold) or 'auto'")
    if not (isinstance(T, int) and T >= 1):
        raise ValueError(f"T={T!r} must be an int >= 1")
    canon = G.canonicalize(ann)
    sites = [str(n.target) for n in canon.graph.nodes
             if n.op == "call_module" and isinstance(canon.get_submodule(n.target), G.ACTIVATIONS)]
    scales, _, _ = activation_scales(canon, sites, calibration_data, normalisation, percentile,
                                     channel_wise, batch_size)
    snn, scale_of = _build_unfolded(canon, scales, neuron, 0.0 if auto else float(v_init), tau_mem, surrogate, reset)
    device = next((p.device for p in canon.parameters()), torch.device("cpu"))
    snn.to(device)  # thresholds and scales were computed on the CPU
    v_init_scores = None
    if auto:
        from .calibrate import calibration_subset, choose_v_init
        xs = calibration_subset(calibration_data, calibration_samples, batch_size)
        v_init, v_init_scores = choose_v_init(snn, canon, sites, xs, T, encoding, batch_size)
    if structure_only and bias_calibration:
        from .calibrate import producer_bias
        for site in sites:
            producer_bias(snn, site)  # creates the bias parameters the calibration would have created
    elif threshold_balancing or bias_calibration:
        from .calibrate import balance_thresholds, calibrate_biases, calibration_subset
        if not auto:
            xs = calibration_subset(calibration_data, calibration_samples, batch_size)
        if threshold_balancing:
            balance_thresholds(snn, sites, scale_of, xs, T, normalisation, percentile, channel_wise,
                               encoding, batch_size)
        if bias_calibration:
            calibrate_biases(snn, canon, sites, scale_of, xs, T, encoding, batch_size)
    thresholds = {s: snn.get_submodule(s).v_th.detach().clone() for s in sites}
    if fold:
        snn = fold_scales(snn)
    is_chain = G.chain(canon) is not None
    options = dict(T=T, normalisation=normalisation, percentile=percentile, channel_wise=channel_wise,
                   v_init=v_init, neuron=neuron, tau_mem=tau_mem, threshold_balancing=threshold_balancing,
                   bias_calibration=bias_calibration, encoding=encoding, fold=fold, surrogate=surrogate, reset=reset)
    names = [G.sequential_name(s) if is_chain else s for s in sites]
    return Conversion(snn=G.as_sequential(snn, SpikingSequential), ann=G.as_sequential(canon, nn.Sequential),
                      sites=names, thresholds=dict(zip(names, thresholds.values())), options=options,
                      v_init_scores=v_init_scores)


def convert(ann: nn.Module, calibration_data: Tensor | Iterable, T: int = 32, **options: Any) -> nn.Module:
    """Convert a trained ANN into an SNN of IF neurons running on ``[T, B, ...]`` (reset by subtraction;
    ``reset="zero", v_init=0.0`` for Loihi 2).

    The result is ``snnkit.neurons.Sequential`` when the ANN is a chain, else an fx ``GraphModule``;
    its output ``[T, B, ...]`` averaged over T approximates the ANN output (see :func:`snn_logits`).
    Keyword options are those of :func:`convert_detailed`. Unsupported operations raise
    :class:`snnkit.conversion.UnsupportedOperationError` naming the operation and its place.
    """
    return convert_detailed(ann, calibration_data, T, **options).snn
