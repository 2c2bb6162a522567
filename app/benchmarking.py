"""Train ▸ Benchmark: the Benchmark tab (a row of app/docks.py) measuring a trained run of the open graph.

The measurement is runtime/latency.py's `benchmark`, exactly what `layerloom bench` prints, run in a
background `Job`; Cancel stops it between two measurements. While a training run is going, a
benchmark is refused: the two would share the CPU and the timings would measure the competition. A run
started while it measures is not refused (training matters more than a benchmark): the report says its
timings are spoilt. A report belongs to the graph whose run it measured: another graph opened clears the
table, and a measurement still going for the old one is cancelled, its result never shown.
"""
from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Qt, Signal

from layerloom.graph.quoting import shown
from layerloom.runtime.checkpoints import CheckpointError
from layerloom.runtime.export import ExportError
from layerloom.runtime.latency import BATCHES, BenchCancelled, benchmark

from .background import Job
from .exporting import run_label, runs_of
from .panels.bench_panel import BenchPanel


TALL_ENOUGH = 390        # the five rows of a full report, the notes under it, and a warning
SHARED = "a training run shared the CPU while this was measured: measure again for clean timings"


class Benchmarking(QObject):
    progressed = Signal(str)            # the backend being timed (emitted from the worker thread)
    finished = Signal(object)           # the report, once shown (None when it failed or was cancelled)

    def __init__(self, win):
        super().__init__(win)
        self.win = win
        self.panel = BenchPanel()
        self.job: Job | None = None
        self._cancel = False
        self._measuring: tuple[str, str] | None = None   # the job's (graph name, run folder)
        self._shared = False              # a training run was going at some moment of the job
        self._dropped = False             # another graph was opened: the job's result is not shown
        self.report: dict | None = None
        self.panel.start_requested.connect(self.start)
        self.panel.cancel_requested.connect(self.cancel)
        self.progressed.connect(self._progressed)
        win.session.document_replaced.connect(self._document_replaced)
        win.training.run.state_changed.connect(self._training_changed)

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

    def _document_replaced(self, _doc) -> None:
        """Another graph is open: the report on show and a measurement still going were the old graph's."""
        self.report = None
        if self.job is None:
            self.panel.clear_report()
        else:
            self._cancel = self._dropped = True
            self.panel.clear_report(f"Another graph is open: stopping the measurement of {self._measured_text()} "
                                    "after the current one…")
        self.refresh()

    def _training_changed(self, _new, _old) -> None:
        if self.job is not None and self.win.training.run.active:
            self._shared = True

    def _progressed(self, name: str) -> None:
        if not self._cancel:              # (one emitted just before a Cancel arrives after it)
            self.panel.say(f"Timing {name}…")

    def _measured_text(self) -> str:
        graph, folder = self._measuring or ("the graph", "")
        return f"{shown(graph, 80)} (run folder {shown(folder, 80)})" if folder else shown(graph, 80)

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
        self._cancel = self._shared = self._dropped = False
        self._measuring = (self.win.document.name, Path(run).name)
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
        dropped, self._dropped = self._dropped, False
        if dropped:                       # measured for a graph no longer open: not this graph's report
            self.panel.say(f"Stopped measuring {self._measured_text()}: another graph was opened. Open that graph "
                           "again to measure its run.")
            self.finished.emit(None)
            return
        if job.error:
            self.panel.say("Cancelled." if self._cancel else f"The benchmark failed: {job.error}", error=not self._cancel)
            self.finished.emit(None)
            return
        shared = self._shared or self.win.training.run.active
        self.report = job.result
        self.panel.show_report(job.result, self._measuring[1] if self._measuring else "", SHARED if shared else "")
        self.finished.emit(job.result)

    def shutdown(self, timeout_ms: int = 30_000) -> None:
        """Cancel a running measurement and wait for it (the window calls this when it closes)."""
        if self.job is not None:
            self._cancel = True
            if not self.job.wait(timeout_ms):
                from . import background
                background.keep_until_finished(self.job)
