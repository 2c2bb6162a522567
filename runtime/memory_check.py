"""The memory estimate checked against a real run: a trainer extension that compares memory.py's estimate with
what the device used in the first training step."""
from __future__ import annotations

from .epoch_plan import run_batch
from .memory import MemoryEstimate, estimate_training_memory


class MemoryCheck:
    """A trainer extension: after the first training step, the estimate against what the device
    actually used, as a `memory` event (estimate_bytes, actual_bytes, ratio). The trainer adds it on
    CUDA, where `torch.cuda.max_memory_allocated` measures; `measure` can be given elsewhere."""

    def __init__(self, measure=None):
        self.measure = measure
        self.estimate: MemoryEstimate | None = None
        self._done = False

    def setup(self, trainer) -> None:
        cfg = trainer.config
        try:
            self.estimate = estimate_training_memory(
                trainer.doc, run_batch(cfg.batch_size, len(trainer.train_set)), cfg.optimizer
                if cfg.optimizer in ("sgd", "adam", "adamw") else "adam", str(trainer.device),
                data=trainer.data_context, loss=cfg.loss)
        except Exception as exc:     # an estimate that cannot be made never stops training
            trainer.emit({"type": "memory", "error": f"{type(exc).__name__}: {exc}"})
        if self.measure is None and trainer.device.type == "cuda":
            import torch
            torch.cuda.reset_peak_memory_stats(trainer.device)
            self.measure = lambda: torch.cuda.max_memory_allocated(trainer.device)

    def after_step(self, trainer, loss_value=None) -> None:
        if self._done or self.estimate is None or self.measure is None:
            return
        self._done = True
        actual = int(self.measure())
        trainer.emit({"type": "memory", "step": trainer.step, "estimate_bytes": self.estimate.peak_bytes,
                      "actual_bytes": actual, "ratio": self.estimate.peak_bytes / actual if actual else None,
                      "categories": dict(self.estimate.categories), "method": self.estimate.method})
