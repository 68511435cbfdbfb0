"""The DCLS schedule: the weights follow torch's own OneCycleLR (oracle) while the delay group, at its
own 100x learning rate, follows a cosine decay (analytic)."""
import math

import pytest
import torch

from snnkit.training.schedules import make_scheduler


def test_dcls_onecycle_matches_torch_onecycle_for_weights_and_cosine_for_delays():
    w, d = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(2))
    opt = torch.optim.Adam([{"params": [w], "lr": 1e-3, "name": "weights"},
                            {"params": [d], "lr": 0.1, "name": "delays"}])
    sched = make_scheduler("dcls_onecycle", opt, epochs=4, steps_per_epoch=25, max_lr_factor=5.0)
    ref_opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))], lr=1e-3)
    ref = torch.optim.lr_scheduler.OneCycleLR(ref_opt, max_lr=5e-3, total_steps=100, pct_start=0.3)
    for step in range(100):
        assert opt.param_groups[0]["lr"] == pytest.approx(ref_opt.param_groups[0]["lr"], rel=1e-6, abs=1e-12)
        assert opt.param_groups[1]["lr"] == pytest.approx(0.1 * (1 + math.cos(math.pi * step / 100)) / 2, abs=1e-12)
        opt.step()
        sched.step()
        ref_opt.step()
        ref.step()
    with pytest.raises(ValueError):
        make_scheduler("dcls_onecycle", opt, 4, 25, max_lr=1.0)
