"""Train ▸ Benchmark: the Benchmark tab (a row of app/docks.py) measuring a trained run of the open graph.

The measurement is runtime/latency.py's `benchmark`, exactly what `layerloom bench` prints, run in a
background `Job`; Cancel stops it between two measurements. While a training run is going, a
benchmark is refused: the two would share the CPU and the timings would measure the competition.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from layerloom.runtime.checkpoints import CheckpointError
from layerloom.runtime.export import ExportError
from layerloom.runtime.latency import BATCHES, BenchCancelled, benchmark

from .background import Job
from .exporting import run_label, runs_of
from .panels.bench_panel import BenchPanel


TALL_ENOUGH = 300


class Benchmarking(QObject):
    progressed = Signal(str)            # the backend being timed (emitted from the worker thread)
    finished = Signal(object)           # the report, once shown (None when it failed or was cancelled)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.panel = BenchPanel()
        self.job: Job | None = None
        self._cancel = False
        self.report: dict | None = None
        self.panel.start_requested.connect(self.start)
        self.panel.cancel_requested.connect(self.cancel)
        self.progressed.connect(lambda name: self.panel.say(f"Timing {name}…"))
        win.session.document_replaced.connect(lambda _doc: self.refresh())

    def show(self) -> None:
        dock = self.win.docks["benchmark"]
        dock.show()
        dock.raise_()
        if dock.height() < TALL_ENOUGH:          # five rows of the table and the note under it
            self.win.resizeDocks([dock], [TALL_ENOUGH], Qt.Orientation.Vertical)
        self.refresh()

    def refresh(self) -> None:
        runs = runs_of(self.win.document, Path(self.win.training.runs_base))
        self.panel.set_runs([(run_label(r), str(r.path)) for r in runs])

    def start(self) -> bool:
        """Measure the chosen run in the chosen formats; False (with the reason shown) when it cannot."""
        if self.job is not None:
            return False
        run = self.panel.run.currentData()
        formats = self.panel.chosen_formats()
        why = None
        if self.win.training.run.active:
            why = "A training run is going: it would share the CPU and spoil the timings. Measure when it ends."
        elif run is None:
            why = "There is no trained run of this graph to measure: train it first."
        elif not formats:
            why = "Choose at least one format."
        if why:
            self.panel.say(why, error=True)
            return False
        threads = self.panel.threads.value() or None
        self._cancel = False
        self.panel.set_busy(True)
        self.panel.say("Exporting and timing…")
        self.job = Job(lambda: benchmark(run, BATCHES, threads, formats=formats, progress=self.progressed.emit,
                                         cancelled=lambda: self._cancel),
                       "layerloom-benchmark", expected=(ExportError, CheckpointError, BenchCancelled))
        self.job.finished.connect(lambda job=self.job: self._done(job))
        self.job.start()
        return True

    def cancel(self) -> None:
        if self.job is not None:
            self._cancel = True
            self.panel.say("Cancelling after the current measurement…")

    def _done(self, job: Job) -> None:
        if job is not self.job:
            return
        self.job = None
        self.panel.set_busy(False)
        if job.error:
            self.panel.say("Cancelled." if self._cancel else f"The benchmark failed: {job.error}", error=not self._cancel)
            self.finished.emit(None)
            return
        self.report = job.result
        self.panel.show_report(job.result)
        self.finished.emit(job.result)

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Cancel a running measurement and wait for it (the window calls this when it closes)."""
        if self.job is not None:
            self._cancel = True
            if not self.job.wait(timeout_ms):
                from . import background
                background.keep_until_finished(self.job)
