"""What a training run shows (desktop app and command line): the trainer's events folded into numpy arrays.

Qt-free. `LiveRun.apply(event)` is cheap (an append into preallocated arrays, a dict update) and
returns which views became stale ("curves", "progress", "maps", "prediction", "epoch", "state");
the views redraw from this model on a timer, at most about 30 times a second, however fast events
arrive. Buffers grow by doubling, so a long run costs amortised O(1) per event.
"""
from __future__ import annotations

import math
import time

import numpy as np

from .runs import read_metrics

SMOOTHING = 0.6     # weight of the exponential moving average of the step loss (TensorBoard-style)
HEALTH_SAMPLES = 2000  # health samples kept for the live blocks × steps strip (every 50 steps: 100,000 steps)


class Series:
    """Columns of float64 that grow by appending rows; `col(name)` is a view of the filled part."""

    def __init__(self, columns: tuple[str, ...], capacity: int = 1024):
        self.columns = columns
        self._index = {c: i for i, c in enumerate(columns)}
        self._data = np.full((len(columns), max(16, capacity)), np.nan)
        self.n = 0

    def append(self, *values: float) -> None:
        if self.n == self._data.shape[1]:
            grown = np.full((len(self.columns), self._data.shape[1] * 2), np.nan)
            grown[:, :self.n] = self._data
            self._data = grown
        self._data[:, self.n] = values
        self.n += 1

    def col(self, name: str) -> np.ndarray:
        return self._data[self._index[name], :self.n]

    def last(self, name: str) -> float | None:
        return float(self._data[self._index[name], self.n - 1]) if self.n else None

    def __len__(self) -> int:
        return self.n


def format_duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "–"
    s = int(round(max(0.0, seconds)))
    if s >= 3600:
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    return f"{s // 60}:{s % 60:02d}"


class LiveRun:
    """The state of one run as the views show it."""

    def __init__(self, clock=time.monotonic):
        self.clock = clock
        self.reset()

    def reset(self, started: dict | None = None) -> None:
        self.started: dict | None = started
        total = int(started["total_steps"]) if started else 0
        self.steps = Series(("step", "loss", "smooth", "lr"), capacity=min(max(total, 256), 200_000))
        self.epochs = Series(("epoch", "step", "train_loss", "val_loss", "val_accuracy", "lr"), capacity=64)
        self.maps: dict[str, dict] = {}          # block id -> latest feature_maps event
        self.prediction: dict | None = None
        self.health: dict | None = None          # the latest `health` event (runtime/health.py)
        self.health_problems: dict = {}          # (block, code) -> problem, every one seen in this run
        self.health_steps: list[int] = []        # the steps health was sampled at, and per block its
        self.health_grad: dict[str, list[float]] = {}   # output-gradient RMS at each (nan: not measured)
        self.last_epoch: dict | None = None      # the latest epoch_end event (confusion, grid, ...)
        self.state = "running" if started else "idle"   # running | paused | finished | stopped | failed | idle
        self.message = ""
        self.summary: dict | None = None
        self.checkpoint: str | None = None
        self.step = int(started["start_step"]) if started else 0
        self.epoch = 0
        self.epoch_progress = 0.0
        self.samples_per_s = 0.0
        self.lr = float(started["config"]["lr"]) if started else None
        self.thread_choice: dict | None = None   # the latest `threads` event (a measured choice)
        self._ema, self._ema_n = 0.0, 0
        self._active = 0.0                        # seconds spent running (pauses excluded)
        self._since = self.clock() if started else None
        self._steps_at_start = self.step

    def _record_health(self, step: int, blocks: dict) -> None:
        """One health sample into the blocks × steps table (the most recent HEALTH_SAMPLES kept). Rows are
        the blocks with weights (those with a parameter-gradient norm): the layers a person tunes."""
        n = len(self.health_steps)
        for block, stats in blocks.items():
            if (stats.get("grad_rms") is not None and stats.get("param_grad_norm") is not None
                    and block not in self.health_grad):
                self.health_grad[block] = [float("nan")] * n
        for block, row in self.health_grad.items():
            g = (blocks.get(block) or {}).get("grad_rms")
            row.append(float(g) if g is not None else float("nan"))
        self.health_steps.append(step)
        if len(self.health_steps) > HEALTH_SAMPLES:
            del self.health_steps[0]
            for row in self.health_grad.values():
                del row[0]

    def _epochs_before(self, run_dir) -> None:
        """A resumed run: the epochs it ended before it stopped (its metrics.csv), so that its curves and
        its last validation go on from there rather than from nothing."""
        for row in read_metrics(run_dir):
            if row["step"] <= self.step:
                self.epochs.append(*(math.nan if row.get(k) is None else row[k] for k in self.epochs.columns))
                self.epoch = max(self.epoch, row["epoch"])

    # -- events -------------------------------------------------------------------------------
    def apply(self, e: dict) -> set[str]:
        t = e.get("type")
        if t == "started":
            self.reset(e)
            if e.get("resumed_from") and e.get("run_dir"):
                self._epochs_before(e["run_dir"])
            return {"curves", "progress", "state", "maps", "prediction", "epoch", "started"}
        if t == "step":
            loss = float(e["loss"])
            self._ema = SMOOTHING * self._ema + (1 - SMOOTHING) * loss
            self._ema_n += 1
            smooth = self._ema / (1 - SMOOTHING ** self._ema_n)
            self.steps.append(e["step"], loss, smooth, e["lr"])
            self.step, self.epoch = int(e["step"]), int(e["epoch"])
            self.epoch_progress = float(e["epoch_progress"])
            self.samples_per_s, self.lr = float(e["samples_per_s"]), float(e["lr"])
            return {"curves", "progress"}
        if t == "epoch_end":
            self.epochs.append(e["epoch"], e["step"], e["train_loss"], e["val_loss"], e["val_accuracy"], e["lr"])
            self.last_epoch = e
            self.epoch = int(e["epoch"])
            return {"curves", "epoch", "progress"}
        if t == "feature_maps":
            self.maps[e["block"]] = e
            return {"maps"}
        if t == "prediction":
            self.prediction = e
            return {"prediction"}
        if t == "health":
            self.health = e
            self._record_health(int(e.get("step", self.step)), e.get("blocks") or {})
            for p in e.get("problems", ()):
                self.health_problems[(p["block"], p["code"])] = p
            return {"health"}
        if t == "paused":
            self._pause_clock()
            self.state = "paused"
            return {"state", "progress"}
        if t == "resumed":
            self._since = self.clock()
            self.state = "running"
            return {"state", "progress"}
        if t == "threads":
            self.thread_choice = e
            return {"progress"}
        if t == "lr_changed":
            self.lr = float(e["lr"])
            return {"state", "progress"}
        if t == "checkpoint":
            self.checkpoint = e["path"]
            self.step = max(self.step, int(e.get("step", 0)))   # steps between the last step event and here
            return {"progress"}
        if t == "finished":
            self._pause_clock()
            self.summary = e.get("summary")
            self.step = int((self.summary or {}).get("steps", self.step))
            self.state = "stopped" if e.get("stopped") else "finished"
            return {"state", "progress", "curves"}       # a run shorter than an epoch validates only now
        if t == "failed":
            self._pause_clock()
            self.step = max(self.step, int(e.get("step") or 0))
            self.state, self.message = "failed", str(e.get("message", ""))
            return {"state", "progress", "curves"}       # the curves say the run ended (and how far it got)
        return set()

    def _pause_clock(self) -> None:
        if self._since is not None:
            self._active += self.clock() - self._since
            self._since = None

    # -- derived ------------------------------------------------------------------------------
    @property
    def total_steps(self) -> int:
        return int(self.started["total_steps"]) if self.started else 0

    @property
    def epochs_total(self) -> int:
        return int(self.started["epochs"]) if self.started else 0

    @property
    def active_seconds(self) -> float:
        return self._active + (self.clock() - self._since if self._since is not None else 0.0)

    @property
    def fraction(self) -> float:
        return min(1.0, self.step / self.total_steps) if self.total_steps else 0.0

    def eta(self) -> float | None:
        """Seconds left at the pace so far (validation included), or None before the first steps."""
        done = self.step - self._steps_at_start
        left = self.total_steps - self.step
        if done <= 0 or self.total_steps <= 0:
            return None
        return self.active_seconds / done * left

    @property
    def ended(self) -> bool:
        """The run is over: finished, stopped or failed."""
        return self.state in ("finished", "stopped", "failed")

    def threads_text(self) -> str:
        """"Threads: 2 (chosen by measuring: ...)" or "(set by LAYERLOOM_THREADS)"; "" before a run."""
        if not self.started:
            return ""
        from .threads import choice_text
        return choice_text(self.started.get("threads"), self.started.get("threads_source", ""), self.thread_choice,
                           ended=self.ended)

    def progress_text(self, short: bool = False) -> str:
        """"Epoch 2/5 · step 120/315 · 9,120 samples/s · ETA 0:12"; short: "epoch 2/5 · 38% · ETA 0:12"."""
        if not self.started:
            return ""
        parts = [f"{'epoch' if short else 'Epoch'} {max(1, self.epoch)}/{self.epochs_total}",
                 f"{self.fraction:.0%}" if short else f"step {self.step:,}/{self.total_steps:,}"]
        if self.state in ("running", "paused") and self.samples_per_s and not short:
            parts.append(f"{self.samples_per_s:,.0f} samples/s")
        if self.state == "running":
            parts.append(f"ETA {format_duration(self.eta())}")
        elif self.state == "paused":
            parts.append("paused")
        else:
            parts.append(f"{self.state} in {format_duration(self.active_seconds)}")
        return " · ".join(parts)
