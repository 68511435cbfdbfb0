"""Data-parallel training with ``torch.nn.parallel.DistributedDataParallel``.

Start with ``torchrun --nproc_per_node N -m snnkit train CONFIG`` or ``snnkit train CONFIG --nproc N``
(which calls :func:`launch`). Each process reads ``RANK`` / ``WORLD_SIZE`` from the environment;
:func:`init_distributed` joins the group (gloo on CPU, nccl on CUDA). The trainer splits every global
batch into ``WORLD_SIZE`` equal shards, so N processes take the same optimiser steps as one process
on the same global batch.
"""
from __future__ import annotations

import atexit
import logging
import os
import signal
import threading
import time
from typing import Sequence

import torch
import torch.distributed as dist

_log = logging.getLogger(__name__)


def world() -> tuple[int, int]:
    """``(rank, world_size)``; ``(0, 1)`` outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group described by the torchrun environment, if any; returns ``(rank, world)``."""
    if dist.is_available() and dist.is_initialized():
        return world()
    size = int(os.environ.get("WORLD_SIZE", "1"))
    if size <= 1:
        return 0, 1
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but this torch build has no torch.distributed")
    backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
    _exit_with_launcher()
    dist.init_process_group(backend=backend, init_method="env://")
    # Leave the group before the interpreter tears down: gloo's threads still running at exit make
    # the process abort ("terminate called without an active exception") now and then.
    atexit.register(_leave_group)
    return world()


def _exit_with_launcher(poll_s: float = 0.5) -> None:
    """End this worker when the process that started it (snnkit train --nproc / torchrun) dies.

    A launcher killed with SIGKILL cannot stop its workers; they would keep training and writing the
    run folder. The worker watches its parent: once it is re-parented (the launcher is gone) it
    terminates itself. A thread polling ``getppid`` works wherever the launcher forked from."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(poll_s)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(10)
        os._exit(1)  # SIGTERM was handled or ignored somewhere: leave anyway

    threading.Thread(target=watch, name="snnkit-launcher-watch", daemon=True).start()


def _leave_group() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def launch(nproc: int, argv: Sequence[str]) -> int:
    """Run ``python -m snnkit *argv`` in ``nproc`` processes through ``torch.distributed.run``
    (a standalone rendezvous on this machine). Returns the exit code."""
    if isinstance(nproc, bool) or not isinstance(nproc, int) or nproc < 1:
        raise ValueError(f"nproc={nproc!r} must be an integer >= 1")
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    args = ["--standalone", f"--nproc_per_node={nproc}", "--module", "snnkit", *argv]
    from torch.distributed.elastic.multiprocessing.api import SignalException
    os.environ["SNNKIT_LAUNCHED"] = "1"  # workers inherit it: the launcher reports interruptions once
    try:
        torchrun.main(args)
    except ChildFailedError as err:
        _log.error("a training process failed: %s", err)
        return 1
    except SignalException as err:  # Ctrl-C / SIGTERM reached the launcher: the workers were stopped
        raise KeyboardInterrupt(f"interrupted ({err.sigval.name})") from None
    return 0
