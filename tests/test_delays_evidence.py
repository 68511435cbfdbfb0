"""Delays matter on a task decided by spike timing: learned delays beat no delays by a wide margin at
equal parameter count (the oracle is the task's construction: without delays, counts and instantaneous
coincidences carry no class information, so a memoryless network sits at chance)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

_PATH = Path(__file__).resolve().parents[1] / "examples" / "dcls" / "delay_task.py"
_SPEC = importlib.util.spec_from_file_location("delay_task_example", _PATH)
delay_task = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(delay_task)
compare_delay_modes, make_timing_task = delay_task.compare_delay_modes, delay_task.make_timing_task


def test_timing_task_has_no_count_information():
    x, y = make_timing_task(400, background=0.0, seed=3)
    counts = x.sum(0)  # [n, channels]
    assert torch.all(counts == 1)  # every channel fires exactly once in every class
    coincident = (x.sum(-1) > 1).any()
    assert not bool(coincident)  # no two pattern spikes share a time step
    assert len(torch.unique(y)) == 8


def test_learned_delays_beat_no_delays_at_equal_parameter_count():
    torch.set_num_threads(2)
    res = compare_delay_modes(epochs=20, n_train=384, n_test=512, seed=0)
    p = res["params"]
    assert abs(p["learned"] - p["none"]) <= 0.05 * p["none"] and abs(p["random"] - p["none"]) <= 0.05 * p["none"]
    assert res["none"] < res["chance"] + 0.15  # no delays: near chance
    assert res["learned_interpolated"] > res["none"] + 0.3  # as trained (Gaussian kernel, sigma 0.5)
    assert res["learned"] > res["none"] + 0.25  # rounded to integer delays
