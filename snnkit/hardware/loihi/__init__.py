"""Intel Loihi 2 through Lava: fixed-point quantisation, a bit-exact simulator of Lava's models,
lava-dl netx files, and a runner of the real Lava runtime in a subprocess."""
from .fixed_point import LoihiLayer, effective_weights, sign_mode_of, simulate, validate_network
from .lava_runner import LavaTimeout, LavaUnavailable, lava_available, run_lava, run_netx

__all__ = ["LoihiLayer", "effective_weights", "sign_mode_of", "simulate", "validate_network",
           "LavaTimeout", "LavaUnavailable", "lava_available", "run_lava", "run_netx"]
