"""Intel Loihi 2 through Lava (lava-nc 0.10.0; bit-exact against Lava's models, not against silicon).

- :func:`quantize_for_loihi` (model -> :class:`LoihiNetwork` of :class:`LoihiLayer` s, per-layer error report);
- :func:`simulate`: vectorised bit-exact simulator of Lava's fixed-point LIF/Dense/DelayDense (and the
  floating-point models, ``mode="float"``);
- :func:`write_netx` / :func:`read_netx`: lava-dl netx HDF5 files;
- :func:`run_lava` / :func:`run_netx`: the real Lava runtime in a subprocess of ``.venv-lava``;
- :func:`enable_qat` / :func:`disable_qat`: quantisation-aware training;
- :func:`deploy`: quantise, run, and report the deployed accuracy;
- :func:`sigma_delta_network`: a ReLU ANN as Lava sigma-delta neurons (graded spikes);
- :func:`pair_stdp_to_loihi` / :func:`reward_stdp_to_loihi` / :func:`simulate_learning` /
  :func:`run_lava_learning`: plasticity on the chip
  (Loihi 2's learning engine, bit-exact with Lava's ``LearningDense``; see :mod:`.learning`).
"""
from .deploy import deploy
from .layer import (MAX_DELAY, ConvGeometry, LoihiLayer, check_delay_range, effective_weights, load_profile,
                    sign_mode_of, validate_network)
from .models import FixedPointModel, FloatModel, simulate
from .learning import (EngineRule, LoihiRewardSTDPMapping, LoihiSTDPMapping, pair_stdp_to_loihi, precision_limits,
                       reward_modulated_stdp_rule, reward_stdp_to_loihi, run_lava_learning, simulate_learning,
                       stdp_loihi_rule)
from .lava_runner import LavaTimeout, LavaUnavailable, lava_available, run_lava, run_netx, run_netx_files
from .netx import NetxIncompatible, read_netx, write_netx
from .qat import LoihiWeightFakeQuant, disable_qat, enable_qat, fake_quantize_weights
from .sigma_delta import SigmaDeltaNetwork, sigma_delta_network
from .quantize import LoihiNetwork, LoihiQuantizationWarning, quantize_for_loihi, quantize_weights, weight_scale

__all__ = ["SigmaDeltaNetwork", "sigma_delta_network", "deploy", "load_profile", "ConvGeometry", "FixedPointModel", "FloatModel", "LoihiLayer", "LoihiNetwork", "effective_weights", "sign_mode_of", "simulate",
           "validate_network", "LavaTimeout", "LavaUnavailable", "lava_available", "run_lava", "run_netx", "run_netx_files",
           "NetxIncompatible", "read_netx", "write_netx", "LoihiQuantizationWarning", "LoihiWeightFakeQuant", "disable_qat", "enable_qat",
           "fake_quantize_weights", "quantize_for_loihi", "quantize_weights", "weight_scale",
           "EngineRule", "LoihiRewardSTDPMapping", "LoihiSTDPMapping", "pair_stdp_to_loihi", "precision_limits",
           "reward_modulated_stdp_rule", "reward_stdp_to_loihi", "run_lava_learning", "simulate_learning",
           "stdp_loihi_rule", "MAX_DELAY", "check_delay_range"]
