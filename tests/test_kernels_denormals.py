"""``snnkit.kernels.flush_denormals``: denormal floats flushed to zero inside the block (checked through
torch's and the C++ engine's multi-threaded arithmetic), the previous setting restored after it, and the
Trainer's ``flush_denormals`` setting. (With this torch build these checks also pass when only
``torch.set_flush_denormal`` runs; setting every pool thread's flag as well is what took a saturated
Trainer step from 67 to 26 ms, measured in docs/engines.md, not asserted here.)"""
from __future__ import annotations

import pytest
import torch

from snnkit import kernels
from snnkit.kernels import lif_cpu

pytestmark = pytest.mark.skipif(lif_cpu.load() is None, reason=f"C++ engine not built: {lif_cpu.build_error()}")


def _doubled_denormals() -> torch.Tensor:
    """Denormals doubled by torch's arithmetic and by the C++ engine's (each runs on its thread pool,
    split over every thread: the tensors are large)."""
    by_torch = torch.full((1 << 22,), 1e-39, dtype=torch.float32) * 2
    xs = torch.full((2, 1 << 20), 1e-39, dtype=torch.float32)
    by_engine = lif_cpu.leaky_integrate_cpp(xs, torch.zeros(1 << 20), torch.tensor(1.0), False)[1]  # x + x
    return torch.cat([by_torch, by_engine])


@pytest.mark.parametrize("threads", [1, 2])
def test_denormals_flushed_on_every_thread_inside_and_restored_after(threads):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        assert bool((_doubled_denormals() != 0).all())  # denormals computed (the default)
        with kernels.flush_denormals():
            assert lif_cpu.load().denormals_flushed()
            assert not bool(_doubled_denormals().any())  # zero on every chunk
        assert not lif_cpu.load().denormals_flushed()
        assert bool((_doubled_denormals() != 0).all())
        torch.set_flush_denormal(True)  # a setting made before the block is kept after it
        lif_cpu.load().set_denormals_flushed(True)
        with kernels.flush_denormals():
            pass
        assert lif_cpu.load().denormals_flushed() and not bool(_doubled_denormals().any())
    finally:
        torch.set_flush_denormal(False)
        lif_cpu.load().set_denormals_flushed(False)
        torch.set_num_threads(before)


@pytest.mark.parametrize("flush", [True, False])
def test_trainer_flushes_denormals_while_it_trains(flush):
    from snnkit.neurons import LIF, Sequential
    from snnkit.training import Trainer

    seen: list[bool] = []
    model = Sequential(torch.nn.Linear(6, 8), LIF(tau_mem=4.0), torch.nn.Linear(8, 3), LIF(tau_mem=4.0))
    x, y = torch.rand(5, 16, 6) * 2, torch.randint(0, 3, (16,))
    trainer = Trainer(model, {"epochs": 1, "batch_size": 8, "loss": "ce_count", "progress": False,
                              "flush_denormals": flush},
                      callbacks=[lambda event, tr, info: seen.append(lif_cpu.load().denormals_flushed())])
    trainer.fit((x, y))
    assert seen and all(s == flush for s in seen)
    assert not lif_cpu.load().denormals_flushed()  # restored
