"""Architectures: spiking networks and their ANN twins (the same architecture with the spiking
nonlinearity replaced; ``model.twin_note`` says which), built by name.

>>> from snnkit import models
>>> snn = models.create("lmu", spiking=True, in_features=40, num_classes=10, steps=50)
>>> ann = models.create("lmu", spiking=False, in_features=40, num_classes=10, steps=50)
>>> models.names()          # every registered architecture; models.forms(name) -> (True, False) etc.

Sequence models take time-major input ``[T, B, F]``; image models (``*_image``, :mod:`.vision`) take
``[B, C, H, W]``. Spiking models return the readout ``[T, B, C]``; ANN twins return ``[1, B, C]`` or,
where the twin keeps the leaky readout, ``[T, B, C]`` (reduce both over dim 0 the same way). Pass
``steps=T`` in the config: models that need the sequence length use it, the others ignore it.
SpikeGPT as a language model: :class:`RWKVLanguageModel` and :func:`generate`. ANN-only baselines:
``s5``, ``tcn``, ``tsmixer``, ``kan``, ``biper``, ``ecapa_tdnn``, ``campp``, ``gru``, ``lstm`` (:mod:`.baselines`).
See :mod:`snnkit.models.registry` for the conventions.
"""
from .registry import create, describe_twin, forms, names, register, register_lazy, spec
from .build import build_model, model_from_checkpoint
from . import convnets as _convnets, lmu as _lmu, lsm as _lsm, mlp as _mlp  # noqa: F401  (register models)
from . import recurrent as _recurrent, rwkv as _rwkv, tdnn as _tdnn, transformers as _transformers  # noqa: F401
from . import baselines as _baselines, vision as _vision  # noqa: F401
from .convnets import SequenceAsImage, resnet_ann, vgg_ann
from .lmu import LegendreMemory, LMUFormer, LMULayer, LMUNet
from .lsm import LiquidStateMachine
from .mlp import FlatMLP, SpikingMLP
from .recurrent import DiagonalSSM, RNNClassifier, SSMNet
from .rwkv import WKV, RWKVBlock, RWKVLanguageModel, RWKVNet, generate
from .vision import MetaSpikeFormer, SpikingViT, distillation_loss
from .tdnn import TDNN
from .transformers import Attention, Mixer, SequenceTransformer, SpikeMaskSum

register_lazy("delay_net", lambda: __import__("snnkit.models.delaynet"))
describe_twin("delay_net", "the same delay layers with ReLU for each LIF (a sparse temporal conv net); equal parameters")

__all__ = ["create", "register", "register_lazy", "names", "forms", "spec", "build_model", "model_from_checkpoint",
           "SpikingMLP", "FlatMLP", "LegendreMemory", "LMULayer", "LMUNet", "LMUFormer",
           "DiagonalSSM", "SSMNet", "RNNClassifier", "WKV", "RWKVBlock", "RWKVNet", "RWKVLanguageModel", "generate",
           "SpikingViT", "MetaSpikeFormer", "distillation_loss",
           "describe_twin", "Attention", "SequenceTransformer", "Mixer", "SpikeMaskSum", "TDNN", "LiquidStateMachine",
           "vgg_ann", "resnet_ann", "SequenceAsImage"]
