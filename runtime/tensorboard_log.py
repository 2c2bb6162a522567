"""TensorBoard event files in every run folder, so people can keep the tools they use.

    runs/<run>/tensorboard/events.out.tfevents.*    `tensorboard --logdir runs`

`TensorBoardLog` is a trainer extension (see extensions.py): scalars `loss/train` (every
`every_steps` steps and per epoch), `loss/val`, `accuracy/val` and `lr`, with the global step as
x axis. `write_hparams` adds a trial's swept values and final metrics for TensorBoard's HParams
view; a sweep's coordinator calls it when a trial ends. Both use torch's SummaryWriter.
"""
from __future__ import annotations

import math
from pathlib import Path

SUBDIR = "tensorboard"


def _writer(run_dir):
    from torch.utils.tensorboard import SummaryWriter
    return SummaryWriter(log_dir=str(Path(run_dir) / SUBDIR))


class TensorBoardLog:
    def __init__(self, every_steps: int = 50):
        self.every_steps = max(1, int(every_steps))
        self.writer = None
        self._loss, self._n = 0.0, 0

    def _open(self, trainer):
        if self.writer is None and trainer.run_dir is not None:
            self.writer = _writer(trainer.run_dir)
        return self.writer

    def after_step(self, trainer, loss_value: float) -> None:
        self._loss += loss_value
        self._n += 1
        if trainer.step % self.every_steps == 0 and self._open(trainer) is not None:
            self.writer.add_scalar("loss/train_steps", self._loss / self._n, trainer.step)
            self._loss, self._n = 0.0, 0

    def epoch_end(self, trainer, row: dict) -> None:
        w = self._open(trainer)
        if w is None:
            return
        step = row["step"]
        for tag, key in (("loss/train", "train_loss"), ("loss/val", "val_loss"), ("accuracy/val", "val_accuracy"),
                         ("lr", "lr")):
            value = row.get(key)
            if isinstance(value, (int, float)) and math.isfinite(value):
                w.add_scalar(tag, value, step)
        w.flush()

    def finish(self, trainer, summary: dict) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def _hparam_value(v):
    if isinstance(v, (bool, int, float, str)):
        return v
    return str(v)


def write_hparams(run_dir, hparams: dict, metrics: dict) -> None:
    """Record a trial's swept values and its metrics (tag -> value) for TensorBoard's HParams view."""
    from torch.utils.tensorboard.summary import hparams as hparams_summary
    values = {k: _hparam_value(v) for k, v in hparams.items()}
    clean = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and math.isfinite(v)}
    w = _writer(run_dir)
    try:
        exp, ssi, sei = hparams_summary(values, clean)
        for summary in (exp, ssi, sei):
            w.file_writer.add_summary(summary)
        for tag, value in clean.items():
            w.add_scalar(tag, value)
    finally:
        w.close()
