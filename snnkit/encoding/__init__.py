"""Encoders (values -> time-major spikes) and decoders (spikes or membranes -> values).

    current = snnkit.encoding.direct_encode(images, steps=50)         # [50, B, ...], the values at every step
    spikes = snnkit.encoding.rate_encode(images, steps=50)            # [50, B, ...]
    spikes = snnkit.encoding.latency_encode(images, steps=50)         # one spike per pixel
    events = snnkit.encoding.delta_encode(signal, threshold=0.1)      # [T, B, 2, ...] ON/OFF
    events = snnkit.encoding.dvs_encode(saccade_frames(images, 30))  # DVS-style events from still images
    cells  = snnkit.encoding.population_encode(x, 16, low=0, high=1)  # Gaussian receptive fields
    rates  = snnkit.encoding.rate_decode(out_spikes)                  # [B, ...]
"""
from .decoders import (delta_decode, first_spike_decode, latency_decode, membrane_decode, population_decode,
                       rate_decode, spike_count)
from .dvs import dvs_encode, saccade_frames
from .encoders import delta_encode, direct_encode, latency_encode, latency_times, population_encode, rate_encode

__all__ = ["direct_encode", "rate_encode", "latency_encode", "latency_times", "delta_encode", "population_encode", "rate_decode",
           "spike_count", "first_spike_decode", "latency_decode", "membrane_decode", "delta_decode",
           "population_decode", "dvs_encode", "saccade_frames"]
