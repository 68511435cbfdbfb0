"""Training: the :class:`Trainer` (BPTT, truncated BPTT, online), losses for spiking readouts,
firing-rate regularisers and monitors, LR schedules, seeding, lossless checkpoints, data parallelism.

>>> from snnkit import training
>>> trainer = training.Trainer(model, {"epochs": 5, "loss": "ce_max_membrane", "lr": 2e-3}, out_dir="runs/x")
>>> history = trainer.fit(train_set, val_set)        # resume=True continues from runs/x/last.pt
>>> trainer.evaluate(test_set)["accuracy"]
"""
from .checkpoint import load_checkpoint, save_checkpoint
from .config import MODES, OPTIMIZERS, TrainerConfig
from .counter_current import CounterCurrent, time_mean
from .distributed import init_distributed, launch, world
from .losses import (LOSSES, ce_count_loss, ce_max_membrane_loss, ce_mean_membrane_loss, ce_softmax_sum_loss,
                     get_loss, mse_count_loss, predict, scores)
from .monitor import FiringRateMonitor, spiking_layers
from .regularizers import FiringRateRegularizer, RateBound, regularizer_from_config
from .schedules import SCHEDULES, make_scheduler
from .seeding import rng_state, seed_everything, set_rng_state
from .trainer import Trainer

__all__ = [
    "Trainer", "TrainerConfig", "MODES", "OPTIMIZERS", "SCHEDULES", "LOSSES",
    "ce_count_loss", "ce_max_membrane_loss", "ce_mean_membrane_loss", "ce_softmax_sum_loss", "mse_count_loss",
    "get_loss", "predict", "scores", "FiringRateMonitor", "spiking_layers", "FiringRateRegularizer", "RateBound",
    "regularizer_from_config", "make_scheduler", "seed_everything", "rng_state", "set_rng_state",
    "save_checkpoint", "load_checkpoint", "init_distributed", "launch", "world",
]
