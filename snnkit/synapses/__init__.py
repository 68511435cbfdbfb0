"""Synapses: time-distributed layers over ``[T, B, ...]`` (delays and recurrence live here too)."""
from .time_distributed import SeqConv1d, SeqConv2d, TimeDistributed

__all__ = ["TimeDistributed", "SeqConv1d", "SeqConv2d"]
