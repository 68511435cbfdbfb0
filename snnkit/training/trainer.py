"""The :class:`Trainer`: surrogate-gradient training of spiking (and ANN) classifiers.

Data: a map-style dataset with items ``(x [T, ...], label)`` (e.g. ``snnkit.data.load(...)``), a pair
of tensors ``(X [T, N, ...], Y [N])`` (``X [N, T, ...]`` with ``batch_first=True``), or any iterable of
ready batches ``(x [T, B, ...], y [B])`` (``[B, T, ...]`` with ``batch_first=True``). For datasets and
tensor pairs the trainer owns the order (a permutation per epoch from ``(seed, epoch)``), which is what
makes a resumed run bit-identical to an uninterrupted one; for foreign iterables a resume skips the
batches already seen, exact only when the iterable replays the same order.

Modes (``TrainerConfig.mode``):

* ``bptt``: one forward over the whole sequence, one backward.
* ``tbptt``: the sequence runs in chunks of ``tbptt_steps`` through ``model.run(x, state)``; the state is
  detached between chunks (:func:`snnkit.neurons.detach_state`) and each chunk is backpropagated at
  once, so the graph kept in memory spans one chunk. The loss of every chunk is the loss of the whole
  output so far with earlier chunks' outputs detached: the gradients summed over chunks are the
  truncated gradient of the one sequence loss. One optimiser step per batch.
* ``online`` (= ``sltt``), ``sltt_k``, ``ottt``: the instantaneous loss of every step, gradients with the
  route through time cut (SLTT, Meng et al. 2023; OTTT's presynaptic traces), computed by
  :mod:`snnkit.training.online`. Memory does not grow with T. They cannot learn dependencies that
  need credit assignment across steps; they learn rate and spatial codes well. With the
  ``ce_mean_membrane`` loss and an LI readout they use ``readout="mean"`` (the readout's route through
  time kept exactly, see :func:`snnkit.training.online.backward`).
"""
from __future__ import annotations

import contextlib
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

import torch
import torch.distributed as dist
from torch import Tensor, nn
from tqdm.auto import tqdm

from .. import kernels
from ..neurons import LI, SpikingLayer, detach_state
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainerConfig
from .distributed import init_distributed, world
from .losses import get_loss, predict
from .monitor import FiringRateMonitor
from . import online
from .regularizers import regularizer_from_config
from .schedules import STEPS_PER_BATCH, TimestepCurriculum, make_scheduler
from .seeding import rng_state, seed_everything, set_rng_state

Callback = Callable[[str, "Trainer", dict], None]
_ONLINE_METHODS = {"online": "sltt", "sltt": "sltt", "sltt_k": "sltt_k", "ottt": "ottt"}


class _Runner(nn.Module):
    """What DDP wraps: ``forward(x, state, chunked)`` runs the model whole (``model(x)``, so forward hooks
    fire) or continues from ``state`` layer by layer (``layer.run``), reporting spikes to the monitor."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        self.monitor: FiringRateMonitor | None = None

    def forward(self, x: Tensor, state: list[Any] | None, chunked: bool) -> tuple[Tensor, list[Any] | None]:
        if not chunked:
            return self.model(x), None
        layers = list(self.model) if isinstance(self.model, nn.Sequential) else None
        if layers is None:
            return self.model.run(x, state)
        state = [None] * len(layers) if state is None else state
        new_state: list[Any] = []
        for layer, s in zip(layers, state):
            if hasattr(layer, "run"):
                x, s = layer.run(x, s)
                if self.monitor is not None and isinstance(layer, SpikingLayer):
                    self.monitor.observe(layer, x)
            else:
                x = layer(x)
            new_state.append(s)
        return x, new_state


class Trainer:
    """Train and evaluate a classifier whose output is time-major ``[T, B, C]``.

    Args:
        model: the network (``snnkit.models.create(...)`` models are rebuilt from checkpoints).
        config: a :class:`TrainerConfig` or a mapping of its fields.
        out_dir: where ``last.pt`` / ``best.pt`` checkpoints go (``None``: nothing written).
        extra: more entries stored in every checkpoint (e.g. ``{"data": {...}}`` so a tool can reload the data).
        timesteps: a :class:`~snnkit.training.schedules.TimestepCurriculum`: each epoch trains and
            evaluates on the first ``timesteps.steps_at(epoch)`` steps of every batch.
        callbacks: ``fn(event, trainer, info)`` for events ``"step"``, ``"checkpoint"``, ``"epoch"``.

    ``fit`` returns the history (one dict per epoch). Checkpoints are written on rank 0 every
    ``checkpoint_every`` steps, at each epoch end, and when the run is interrupted (Ctrl-C finishes
    the current step, saves, then raises ``KeyboardInterrupt``).
    """

    def __init__(self, model: nn.Module, config: TrainerConfig | dict | None = None,
                 out_dir: str | Path | None = None, callbacks: Iterable[Callback] = (),
                 extra: dict[str, Any] | None = None, timesteps: TimestepCurriculum | None = None) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module; got {type(model).__name__}")
        if config is None:
            config = TrainerConfig()
        elif not isinstance(config, TrainerConfig):
            config = TrainerConfig.from_dict(config)
        self.config = config
        self.out_dir = None if out_dir is None else Path(out_dir)
        self.callbacks = list(callbacks)
        self.extra = dict(extra or {})
        self.timesteps = timesteps
        self.device = torch.device(config.device)
        self.rank, self.world_size = init_distributed()
        self.model = model.to(self.device)
        self.loss_fn = get_loss(config.loss)
        self.regularizer = regularizer_from_config(config.rate_reg)
        if config.mode != "bptt" and not hasattr(model, "run"):
            raise ValueError(f"trainer.mode={config.mode!r} needs a model with run(x, state) (an "
                             f"snnkit.neurons.Sequential); {type(model).__name__} has none; allowed: 'bptt'")
        if config.batch_size % self.world_size:
            raise ValueError(f"trainer.batch_size={config.batch_size} must be divisible by the number of "
                             f"processes ({self.world_size})")
        self.optimizer = self._make_optimizer()
        self.scheduler: Any = None
        self.history: list[dict[str, Any]] = []
        self.position = {"epoch": 0, "batch_index": 0, "global_step": 0}
        self._permutation: Tensor | None = None
        self._best: float | None = None
        self._bad_epochs = 0
        self._stop_requested = False
        self._in_update = False
        self._step_rng: dict[str, Any] | None = None
        self._totals = torch.zeros(3, dtype=torch.float64)  # this epoch so far: loss sum, correct, count
        self._monitor_sums: dict[str, Any] | None = None  # the epoch's firing-rate sums, restored on resume
        self.config_changes: list[dict[str, Any]] = []
        self.last_checkpoint: Path | None = None  # the newest last.pt written (for "saved at ..." messages)
        self._runner = _Runner(self.model)
        self._ddp: nn.Module = self._runner
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel
            self._ddp = DistributedDataParallel(self._runner)

    # ------------------------------------------------------------------ setup
    def _make_optimizer(self) -> torch.optim.Optimizer:
        c, params = self.config, [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("model has no trainable parameters")
        if c.optimizer == "adam":
            return torch.optim.Adam(params, lr=c.lr, weight_decay=c.weight_decay)
        if c.optimizer == "adamw":
            return torch.optim.AdamW(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.SGD(params, lr=c.lr, momentum=c.momentum, weight_decay=c.weight_decay)

    # ------------------------------------------------------------------ data
    def _as_source(self, data: Any) -> tuple[str, Any, int]:
        """Classify the data: ``("dense", (X [T, N, ...], Y), N)``, ``("dataset", ds, N)`` or ``("iterable", it, -1)``."""
        if isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(d, Tensor) for d in data):
            X, Y = data
            if self.config.batch_first:
                X = X.transpose(0, 1)
            if X.dim() < 3 or Y.dim() != 1 or X.shape[1] != Y.shape[0]:
                raise ValueError(f"data must be (X [T, N, ...], Y [N]) (or X [N, T, ...] with batch_first=True); "
                                 f"got X {tuple(data[0].shape)}, Y {tuple(Y.shape)}")
            return "dense", (X, Y.long()), int(Y.shape[0])
        if hasattr(data, "dense") and hasattr(data, "__len__"):
            X, Y = data.dense()  # time-major by contract of snnkit.data datasets
            return "dense", (X, Y.long()), int(Y.shape[0])
        if hasattr(data, "__getitem__") and hasattr(data, "__len__") and not isinstance(data, torch.utils.data.DataLoader):
            return "dataset", data, len(data)
        if isinstance(data, Iterable):
            return "iterable", data, -1
        raise TypeError(f"data must be a dataset of (x [T, ...], label), a tensor pair or an iterable of batches; "
                        f"got {type(data).__name__}")

    def _gather(self, kind: str, src: Any, idx: Tensor) -> tuple[Tensor, Tensor]:
        if kind == "dense":
            X, Y = src
            return X[:, idx], Y[idx]
        from ..data import collate_time_major
        return collate_time_major([src[int(i)] for i in idx])

    def _permutation_for(self, epoch: int, n: int) -> Tensor:
        g = torch.Generator()
        g.manual_seed(self.config.seed * 1_000_003 + epoch)
        return torch.randperm(n, generator=g)

    def _batches(self, kind: str, src: Any, n: int, epoch: int, start: int) -> Iterator[tuple[int, Tensor, Tensor]]:
        """This rank's shard of each global batch from ``start`` on (the order fixed by seed and epoch)."""
        if kind == "iterable":
            for i, (x, y) in enumerate(src):
                if i >= start:
                    yield i, (x.transpose(0, 1) if self.config.batch_first else x), y
            return
        if self._permutation is None or len(self._permutation) != n:
            self._permutation = self._permutation_for(epoch, n)
        B = self.config.batch_size
        shard = B // self.world_size
        for b in range(start, n // B):  # drop_last: every step sees a full global batch
            idx = self._permutation[b * B + self.rank * shard: b * B + (self.rank + 1) * shard]
            x, y = self._gather(kind, src, idx)
            yield b, x, y

    def _to(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.timesteps is not None:
            x = x[:self.timesteps.steps_at(self.position["epoch"])]
        return x.to(self.device, non_blocking=True).float(), y.to(self.device, non_blocking=True).long()

    # ------------------------------------------------------------------ one step
    def _chunk_steps(self, T: int) -> int:
        return {"bptt": T, "tbptt": self.config.tbptt_steps}[self.config.mode]

    def train_step(self, x: Tensor, y: Tensor, monitor: FiringRateMonitor | None = None) -> dict[str, float]:
        """One optimiser step on a batch ``x [T, B, ...]``; returns loss and accuracy of the batch."""
        with self._engine_settings():
            return self._train_step(x, y, monitor)

    def _train_step(self, x: Tensor, y: Tensor, monitor: FiringRateMonitor | None) -> dict[str, float]:
        self.model.train()
        self.optimizer.zero_grad(set_to_none=True)
        if self.config.mode in _ONLINE_METHODS:
            return self._online_step(x, y, monitor)
        T = x.shape[0]
        k = self._chunk_steps(T)
        chunked = self.config.mode != "bptt"
        chunks = x.split(k, 0) if chunked else (x,)
        state: list[Any] | None = None
        done: list[Tensor] = []
        loss_value, reg_value = 0.0, 0.0
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            sync = self._ddp.no_sync() if (self.world_size > 1 and not last) else _nullcontext()
            with sync:
                out, state = self._ddp(chunk, state, chunked)
                full = torch.cat(done + [out], 0) if done else out
                loss = self.loss_fn(full, y)
                total = loss
                if self.regularizer is not None and monitor is not None and monitor.outputs:
                    reg = self.regularizer(monitor.outputs, chunk.shape[0] / T)
                    total = total + reg
                    reg_value += float(reg.detach())
                total.backward()
            if monitor is not None:
                monitor.clear()
            done.append(out.detach())
            state = detach_state(state)
            loss_value = float(loss.detach())
        self._update()
        output = torch.cat(done, 0)
        correct = int((predict(output, self.config.loss) == y).sum())
        return {"loss": loss_value + reg_value, "correct": correct, "count": int(y.numel())}

    def _online_step(self, x: Tensor, y: Tensor, monitor: FiringRateMonitor | None) -> dict[str, float]:
        if self.regularizer is not None:
            raise ValueError(f"trainer.rate_reg is not supported with trainer.mode={self.config.mode!r}; allowed: "
                             "bptt, tbptt")
        # a mean-membrane loss on an LI readout: the readout's route through time is kept exactly
        mean = self.config.loss == "ce_mean_membrane" and isinstance(self.model, nn.Sequential) \
            and isinstance(self.model[-1], LI)
        output, loss = online.backward(self.model, x, y, self.loss_fn, _ONLINE_METHODS[self.config.mode],
                                       k=self.config.sltt_steps or None,
                                       observe=None if monitor is None else monitor.observe,
                                       readout="mean" if mean else "step")
        if monitor is not None:
            monitor.clear()
        self._update()
        correct = int((predict(output, self.config.loss) == y).sum())
        return {"loss": loss, "correct": correct, "count": int(y.numel())}

    def _update(self) -> None:
        if self.config.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self._in_update = True
        self.optimizer.step()
        if self.scheduler is not None and self.config.schedule in STEPS_PER_BATCH:
            self.scheduler.step()

    # ------------------------------------------------------------------ fit
    def fit(self, train_data: Any, val_data: Any = None, resume: str | Path | bool | None = None,
            allow_config_change: bool = False) -> list[dict[str, Any]]:
        """Train for ``config.epochs`` epochs (fewer with early stopping).

        ``resume``: a checkpoint path, or ``True`` for ``out_dir/last.pt`` when it exists; the run
        continues at the exact batch where the checkpoint was taken. If this trainer's config differs
        from the checkpoint's, resuming is refused (:class:`ConfigChangedError` lists the differences)
        unless ``allow_config_change=True``: then the new settings apply from here on and the change
        is recorded in :attr:`config_changes` (and in the checkpoints). While ``fit`` runs, ``out_dir``
        is locked: a second trainer on the same folder gets :class:`RunFolderBusyError`.
        """
        with self._run_folder_lock(), self._engine_settings():
            return self._fit(train_data, val_data, resume, allow_config_change)

    def _engine_settings(self) -> Any:
        """The engine settings the config asks for while the trainer computes: event-driven synapses,
        denormals flushed to zero."""
        stack = contextlib.ExitStack()
        if self.config.event_driven:
            stack.enter_context(kernels.use_event_driven())
        if self.config.flush_denormals:
            stack.enter_context(kernels.flush_denormals())
        return stack

    def _fit(self, train_data: Any, val_data: Any, resume: str | Path | bool | None,
             allow_config_change: bool) -> list[dict[str, Any]]:
        c = self.config
        kind, src, n = self._as_source(train_data)
        if kind != "iterable" and n < c.batch_size:
            raise ValueError(f"trainer.batch_size={c.batch_size} is larger than the training set ({n} samples)")
        steps_per_epoch = n // c.batch_size if kind != "iterable" else max(_len_or(src, 1), 1)
        self.scheduler = make_scheduler(c.schedule, self.optimizer, c.epochs, steps_per_epoch, **c.schedule_options)
        resume_path = self._resume_path(resume)
        if resume_path is not None:
            ckpt = load_checkpoint(resume_path, map_location=self.device)
            changes = self._config_differences(ckpt)
            if changes and not allow_config_change:
                raise ConfigChangedError(resume_path, changes)
            try:
                self.load_state(ckpt)
            except (KeyError, TypeError, RuntimeError, AttributeError, IndexError) as err:
                from ..errors import InvalidFileError
                short = " ".join(str(err).split())[:300] or type(err).__name__
                raise InvalidFileError(resume_path, "state", type(err).__name__,
                                       f"the model, optimiser and position of this run ({short})") from err
            self.last_checkpoint = resume_path
            if changes:
                self._apply_config_change(changes, steps_per_epoch)
        else:
            seed_everything(c.seed)
        monitor = FiringRateMonitor(self.model)
        self._runner.monitor = monitor
        previous_handler = self._install_sigint()
        self._in_update = False
        try:
            while self.position["epoch"] < c.epochs and not self._early_stopped():
                self._train_epoch(kind, src, n, steps_per_epoch, val_data, monitor)
        except KeyboardInterrupt:
            if not self._in_update:
                self._save("last.pt")
                self._emit("checkpoint", {"reason": "interrupt", **self.position})
            raise
        finally:
            self._restore_sigint(previous_handler)
            monitor.remove()
            self._runner.monitor = None
        return self.history

    def _train_epoch(self, kind: str, src: Any, n: int, steps_per_epoch: int, val_data: Any,
                     monitor: FiringRateMonitor) -> None:
        c, epoch = self.config, self.position["epoch"]
        monitor.reset()
        if self.position["batch_index"] == 0 or self._monitor_sums is None:
            self._totals = torch.zeros(3, dtype=torch.float64)  # loss sum, correct, count
        else:  # resumed mid-epoch: the epoch's record counts the batches before the checkpoint too
            monitor.load_counts(self._monitor_sums)
        self._monitor_sums = None
        totals = self._totals
        if self.position["batch_index"] == 0 or self._permutation is None:
            self._permutation = None if kind == "iterable" else self._permutation_for(epoch, n)
        # disable=None: tqdm turns itself off when stderr is not a terminal (logs, pipes, CI)
        bar = tqdm(total=steps_per_epoch, initial=self.position["batch_index"], desc=f"epoch {epoch + 1}/{c.epochs}",
                   disable=True if (not c.progress or self.rank != 0) else None, leave=False, dynamic_ncols=True)
        for b, x, y in self._batches(kind, src, n, epoch, self.position["batch_index"]):
            self._step_rng = rng_state()  # what a checkpoint taken inside this step must restore
            x, y = self._to(x, y)
            stats = self.train_step(x, y, monitor)
            totals += torch.tensor([stats["loss"] * stats["count"], stats["correct"], stats["count"]], dtype=torch.float64)
            self.position["batch_index"] = b + 1
            self.position["global_step"] += 1
            self._step_rng, self._in_update = None, False
            bar.update(1)
            bar.set_postfix(loss=f"{stats['loss']:.3f}", acc=f"{stats['correct'] / max(stats['count'], 1):.3f}")
            self._emit("step", {**self.position, **stats})
            self._monitor_sums = monitor.counts()
            if c.checkpoint_every and self.position["global_step"] % c.checkpoint_every == 0:
                self._save("last.pt")
                self._emit("checkpoint", {"reason": "every", **self.position})
            if self._stop_requested:
                raise KeyboardInterrupt
        bar.close()
        if self.world_size > 1:
            dist.all_reduce(totals)
        record: dict[str, Any] = {"epoch": epoch + 1, "train_loss": float(totals[0] / max(totals[2], 1)),
                                  "train_accuracy": float(totals[1] / max(totals[2], 1)),
                                  "lr": float(self.optimizer.param_groups[0]["lr"]),
                                  "rates": monitor.rates()}
        if self.timesteps is not None:
            record["timesteps"] = self.timesteps.steps_at(epoch)
        if val_data is not None:
            ev = self.evaluate(val_data)
            record.update(val_loss=ev["loss"], val_accuracy=ev["accuracy"])
        self.history.append(record)
        if self.scheduler is not None and c.schedule not in STEPS_PER_BATCH:
            if c.schedule == "plateau":
                self.scheduler.step(record.get("val_loss", record["train_loss"]))
            else:
                self.scheduler.step()
        improved = self._track_best(record)
        self.position.update(epoch=epoch + 1, batch_index=0)
        self._permutation = None
        self._totals, self._monitor_sums = torch.zeros(3, dtype=torch.float64), None
        self._save("last.pt")
        if improved:
            self._save("best.pt")
        self._emit("epoch", record)
        if c.progress and self.rank == 0:
            msg = f"epoch {epoch + 1}: loss {record['train_loss']:.4f} acc {record['train_accuracy']:.3f}"
            if "val_accuracy" in record:
                msg += f" | val loss {record['val_loss']:.4f} acc {record['val_accuracy']:.3f}"
            tqdm.write(msg)

    def _track_best(self, record: dict[str, Any]) -> bool:
        metric = self.config.early_stopping_metric
        value = record.get(metric, record["train_loss"] if metric != "val_accuracy" else None)
        if value is None:
            return False
        score = -value if metric == "val_accuracy" else value
        if self._best is None or score < self._best:
            self._best, self._bad_epochs = score, 0
            return True
        self._bad_epochs += 1
        return False

    def _early_stopped(self) -> bool:
        p = self.config.early_stopping_patience
        return p is not None and self._bad_epochs >= p

    # ------------------------------------------------------------------ evaluate
    @torch.no_grad()
    def evaluate(self, data: Any) -> dict[str, Any]:
        """Loss, accuracy and per-layer firing rates on ``data`` (whole sequences, eval mode)."""
        with self._engine_settings():
            return self._evaluate(data)

    def _evaluate(self, data: Any) -> dict[str, Any]:
        kind, src, n = self._as_source(data)
        was_training = self.model.training
        self.model.eval()
        outer = self._runner.monitor
        if outer is not None:
            outer.enabled = False  # the training monitor must not see evaluation batches
        monitor = FiringRateMonitor(self.model, keep_outputs=False)
        loss_sum, correct, count = 0.0, 0, 0
        try:
            if kind == "iterable":
                batches: Iterable = ((x.transpose(0, 1) if self.config.batch_first else x, y) for x, y in src)
            else:
                bs = self.config.eval_batch_size
                batches = (self._gather(kind, src, torch.arange(i, min(i + bs, n))) for i in range(0, n, bs))
            for x, y in batches:
                x, y = self._to(x, y)
                out = self.model(x)
                loss_sum += float(self.loss_fn(out, y)) * y.numel()
                correct += int((predict(out, self.config.loss) == y).sum())
                count += int(y.numel())
        finally:
            monitor.remove()
            if outer is not None:
                outer.enabled = True
            self.model.train(was_training)
        return {"loss": loss_sum / max(count, 1), "accuracy": correct / max(count, 1), "count": count,
                "rates": monitor.rates()}

    # ------------------------------------------------------------------ checkpoints
    def state(self) -> dict[str, Any]:
        """Everything needed to continue exactly: see :mod:`snnkit.training.checkpoint`."""
        spec = getattr(self.model, "snnkit_spec", None) or {}
        perm = self._permutation
        rng = getattr(self, "_step_rng", None) or rng_state()
        return {
            **self.extra,
            "model": {"name": spec.get("name"), "spiking": spec.get("spiking"), "config": dict(spec.get("config", {})),
                      "state_dict": self.model.state_dict()},
            "optimizer": self.optimizer.state_dict(),
            "scheduler": None if self.scheduler is None else self.scheduler.state_dict(),
            "rng": rng,
            "position": {**self.position, "seed": self.config.seed,
                         "permutation": None if perm is None else perm.clone()},
            "trainer": {"config": self.config.to_dict(), "history": self.history, "best": self._best,
                        "bad_epochs": self._bad_epochs, "world_size": self.world_size,
                        "epoch_totals": self._totals.clone(), "epoch_rates": self._monitor_sums,
                        "config_changes": self.config_changes},
        }

    def load_state(self, ckpt: dict[str, Any]) -> None:
        """Restore a :meth:`state` (model, optimiser, scheduler, RNG, data position, history)."""
        self.model.load_state_dict(ckpt["model"]["state_dict"])
        self.optimizer.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        pos = ckpt["position"]
        if pos.get("seed") != self.config.seed:
            raise ValueError(f"checkpoint was trained with seed={pos.get('seed')}; this trainer has "
                             f"trainer.seed={self.config.seed}: resume with the same seed")
        self.position = {k: int(pos[k]) for k in ("epoch", "batch_index", "global_step")}
        self._permutation = pos.get("permutation")
        t = ckpt.get("trainer", {})
        self.history = list(t.get("history", []))
        self._best, self._bad_epochs = t.get("best"), int(t.get("bad_epochs", 0))
        totals = t.get("epoch_totals")
        if self.position["batch_index"] and isinstance(totals, Tensor) and totals.shape == (3,):
            self._totals = totals.to(torch.float64).cpu().clone()
            self._monitor_sums = t.get("epoch_rates") if isinstance(t.get("epoch_rates"), dict) else None
        self.config_changes = list(t.get("config_changes") or [])
        set_rng_state(ckpt["rng"])

    # settings that do not change the run's arithmetic may differ on resume
    _RESUME_FREE = ("progress", "device", "checkpoint_every", "eval_batch_size")

    def _config_differences(self, ckpt: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        old = (ckpt.get("trainer") or {}).get("config") or {}
        new = self.config.to_dict()
        return {k: (old.get(k), new[k]) for k in new
                if k not in self._RESUME_FREE and k in old and old.get(k) != new[k]}

    def _apply_config_change(self, changes: dict[str, tuple[Any, Any]], steps_per_epoch: int) -> None:
        """Resume with new settings: optimiser hyper-parameters and the schedule follow the new config
        (the schedule is rebuilt and advanced to the current position); the change is recorded."""
        import warnings

        c = self.config
        for group in self.optimizer.param_groups:
            group.update(lr=c.lr, initial_lr=c.lr, weight_decay=c.weight_decay)
            if "momentum" in group:
                group["momentum"] = c.momentum
        self.scheduler = make_scheduler(c.schedule, self.optimizer, c.epochs, steps_per_epoch, **c.schedule_options)
        if self.scheduler is not None and c.schedule != "plateau":
            steps = self.position["global_step"] if c.schedule in STEPS_PER_BATCH else self.position["epoch"]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # "scheduler.step() before optimizer.step()": on purpose
                for _ in range(steps):
                    self.scheduler.step()
        self.config_changes.append({"epoch": self.position["epoch"], "global_step": self.position["global_step"],
                                    "changes": {k: {"was": a, "now": b} for k, (a, b) in changes.items()}})

    def _run_folder_lock(self) -> Any:
        """Hold ``out_dir/.lock`` (flock, released even if the process is killed) for one fit."""
        import contextlib
        import os

        if self.out_dir is None or self.rank != 0:
            return contextlib.nullcontext()
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows: no lock
            return contextlib.nullcontext()

        @contextlib.contextmanager
        def hold() -> Iterator[None]:
            assert self.out_dir is not None
            self.out_dir.mkdir(parents=True, exist_ok=True)
            path = self.out_dir / ".lock"
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    owner = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
                    raise RunFolderBusyError(f"run folder {str(self.out_dir)!r} is in use by another trainer "
                                             f"(pid {owner}); wait for it to finish or choose another out_dir") from None
                os.ftruncate(fd, 0)
                os.pwrite(fd, str(os.getpid()).encode(), 0)
                yield
            finally:
                os.close(fd)  # releases the lock

        return hold()

    def _save(self, name: str) -> Path | None:
        if self.out_dir is None or self.rank != 0:
            return None
        path = save_checkpoint(self.out_dir / name, self.state())
        if name == "last.pt":
            self.last_checkpoint = path
        return path

    def _resume_path(self, resume: str | Path | bool | None) -> Path | None:
        if resume is None or resume is False:
            return None
        if resume is True:
            if self.out_dir is None:
                raise ValueError("resume=True needs out_dir (where last.pt lives)")
            p = self.out_dir / "last.pt"
            return p if p.is_file() else None
        return Path(resume)

    # ------------------------------------------------------------------ interrupts, callbacks
    @property
    def stop_requested(self) -> bool:
        """True once Ctrl-C (SIGINT) was received: the current step finishes, then a checkpoint is saved."""
        return self._stop_requested

    def request_stop(self) -> None:
        """Ask :meth:`fit` to stop after the current step (checkpoint, then ``KeyboardInterrupt``)."""
        self._stop_requested = True

    def _install_sigint(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return None

        def handler(signum: int, frame: Any) -> None:
            if self._stop_requested:  # second Ctrl-C: stop now
                raise KeyboardInterrupt
            self._stop_requested = True
            if self.rank == 0 and self.config.progress:
                tqdm.write("interrupt: finishing this step, saving a checkpoint (Ctrl-C again to stop at once)")

        self._stop_requested = False
        return signal.signal(signal.SIGINT, handler)

    def _restore_sigint(self, previous: Any) -> None:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)

    def _emit(self, event: str, info: dict) -> None:
        for cb in self.callbacks:
            cb(event, self, info)


class RunFolderBusyError(RuntimeError):
    """Another trainer holds the run folder's lock."""


class ConfigChangedError(ValueError):
    """``--resume`` with a config that differs from the checkpoint's (and no permission to apply it)."""

    def __init__(self, path: Path, changes: dict[str, tuple[Any, Any]]) -> None:
        self.changes = changes
        listed = ", ".join(f"{k}: {a!r} -> {b!r}" for k, (a, b) in changes.items())
        super().__init__(f"cannot resume from {str(path)!r}: the config changed ({listed}); use the "
                         "checkpoint's settings, or allow_config_change=True (--allow-config-change) to apply "
                         "the new ones from here on and record the change")


class _nullcontext:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: Any) -> None:
        return None


def _len_or(obj: Any, default: int) -> int:
    try:
        return len(obj)
    except TypeError:
        return default

