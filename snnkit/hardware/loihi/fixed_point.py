"""Former home of the Loihi layer and simulator, kept so that existing imports keep working.

What a layer is lives in :mod:`.layer`; how a chain of layers runs (one model per numeric mode) in
:mod:`.models`.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from .layer import (ACT_SHIFT, BIAS_EXP_MAX, BIAS_MANT_MAX, BIAS_MANT_MIN, DECAY_BITS, DECAY_UNITY,  # noqa: F401
                    MAX_DECAY, MAX_DELAY, MAX_VTH, SIGN_MODE_NAMES, SIGN_MODES, UV_HALF, VTH_SHIFT,
                    WEIGHT_EXP_RANGE, ConvGeometry, LoihiLayer, effective_weights, load_profile, sign_mode_of,
                    validate_network)
from .models import FixedPointModel, FloatModel, simulate  # noqa: F401


def with_float_params(layer: LoihiLayer, **changes: Any) -> LoihiLayer:
    """A copy of ``layer`` with some fields replaced (e.g. float ``du`` for ``mode="float"``)."""
    return replace(layer, **changes)
