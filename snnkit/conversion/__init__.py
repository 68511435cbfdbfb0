"""ANN -> SNN conversion built on ``torch.fx``.

::

    from snnkit import conversion
    snn = conversion.convert(ann, x_calib, T=32, normalisation="percentile", percentile=99.9)
    logits = conversion.snn_logits(snn, x, T=64)          # or snn(conversion.encode(x, 64)).mean(0)

Supported ANN operations: see :data:`SUPPORTED`. BatchNorm is folded into the preceding layer,
Dropout removed, ReLU / clipped ReLU / QCFS become IF neurons (reset by subtraction, or to 0), max pooling
becomes :class:`SpikeMaxPool`. Train with :class:`QCFS` (:func:`use_qcfs`) for low-T conversion;
diagnose with :func:`accuracy_vs_T`, :func:`layer_correlations`, :func:`synaptic_operations`.
"""
from .calibrate import balance_thresholds, calibrate_biases, choose_v_init, finetune
from .convert import Conversion, convert, convert_detailed, encode, fold_scales, snn_logits
from .diagnostics import (accuracy_vs_T, ann_accuracy, layer_correlations, plot_accuracy_vs_T,
                          synaptic_operations)
from .graph import SUPPORTED, UnsupportedOperationError, canonicalize, fold_batchnorm
from .modules import QCFS, ChannelScale, ConvertedIF, ConvertedLIF, SpikeMaxPool, use_qcfs

__all__ = [
    "convert", "convert_detailed", "Conversion", "encode", "snn_logits", "fold_scales",
    "balance_thresholds", "calibrate_biases", "choose_v_init", "finetune",
    "accuracy_vs_T", "ann_accuracy", "layer_correlations", "plot_accuracy_vs_T", "synaptic_operations",
    "SUPPORTED", "UnsupportedOperationError", "canonicalize", "fold_batchnorm",
    "QCFS", "use_qcfs", "ChannelScale", "ConvertedIF", "ConvertedLIF", "SpikeMaxPool",
]
