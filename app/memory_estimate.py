"""Training memory, estimated off the GUI thread for the Summary and the Training panel's check.

`MemoryEstimator.request(doc, analysis, data, config)` asks for the estimate of training the graph
with the training settings `config`; a copy of the graph (with its finished analysis, which is never
changed after it is made) is compiled on fake tensors and measured in a QThread (runtime/memory_report.py), so the window never waits for it. Only the latest request matters:
one made while another runs replaces any queued before it, and moving blocks (which changes no
shape) asks for nothing new. `changed` tells the views; `state` is "idle", "estimating", "done" or
"failed", with `estimate`, `check` (does it fit the device now) or `message`.
"""
from __future__ import annotations

import json

from PySide6.QtCore import QObject, Signal

from layerloom.graph.fileformat import network_part
from layerloom.runtime.epoch_plan import run_batch
from layerloom.runtime.memory import EstimateCancelled, cancellable

from . import background

CONFIG_KEYS = ("batch_size", "optimizer", "momentum", "device", "loss")


def _request_key(graph: dict, data, config: dict, train_size: int | None = None) -> str:
    """What an estimate depends on: the network, the data's facts and the settings, with the batch the run would
    really use (a set's size known only now changes nothing while the batch is smaller than the set)."""
    network = {**network_part(graph), "weights": graph.get("weights")}
    chosen = {k: config.get(k) for k in CONFIG_KEYS}
    if isinstance(chosen["batch_size"], int):
        chosen["batch_size"] = run_batch(chosen["batch_size"], train_size)
    return json.dumps([network, data, chosen], sort_keys=True, default=str)


def _estimate(graph: dict, analysis, data, config: dict, cancelled, train_size: int | None = None):
    """In the worker thread: the estimate and whether it fits (raises ValueError with a sentence)."""
    from layerloom.graph.fileformat import graph_from_dict
    from layerloom.runtime.memory_report import fit_check, settings_estimate

    doc = graph_from_dict(graph)
    with cancellable(cancelled):
        est = settings_estimate(doc, config, analysis=analysis, data=data, train_size=train_size)
        return est, fit_check(est, doc, analysis)


class MemoryEstimator(QObject):
    changed = Signal()

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.state = "idle"
        self.key: str | None = None       # the request the state describes
        self.estimate = None
        self.check = None
        self.message = ""
        self.jobs = background.Latest("layerloom-memory", expected=(ValueError, EstimateCancelled), parent=self)
        self.jobs.done.connect(self._finished)
        self._closed = False
        # the size of the training set the settings choose, when it has loaded (None: not known); a run
        # trains with a batch no larger than that, and so is estimated (set by the Training panel)
        self.train_size = lambda: None

    def request(self, doc, analysis, data, config: dict) -> None:
        """Estimate training `doc` (analysed as `analysis` with the data set's facts `data`) with the
        training settings `config`, unless that is what the current state already describes."""
        from layerloom.graph.fileformat import graph_to_dict

        if self._closed:
            return
        graph = graph_to_dict(doc)
        train_size = self.train_size()
        key = _request_key(graph, data, config, train_size)
        if key == self.key:
            return
        self.key = key
        if analysis is None or analysis.errors:
            self.jobs.drop_queued()
            self.state, self.estimate, self.check = "failed", None, None
            self.message = "not estimated while the graph has errors"
            self.changed.emit()
            return
        self.state, self.estimate, self.check, self.message = "estimating", None, None, ""
        self.jobs.cancel_running()            # its answer is no longer wanted
        config = dict(config)
        self.jobs.submit(key, lambda job: _estimate(graph, analysis, data, config, lambda: job.cancelled,
                                                    train_size))
        self.changed.emit()

    def _finished(self, job) -> None:
        if job.key == self.key and not job.cancelled:
            if job.result is not None:
                self.state = "done"
                self.estimate, self.check = job.result
            else:
                self.state, self.message = "failed", f"not estimated: {job.error}"
            self.changed.emit()

    def cancel(self) -> None:
        """Give up the estimate in progress (a run is starting: it would compete for the CPU); the next
        request starts afresh."""
        self.jobs.drop_queued()
        self.jobs.cancel_running()
        if self.state == "estimating":
            self.key, self.state = None, "idle"
            self.changed.emit()

    def wait(self, timeout_ms: int = 60_000) -> bool:
        """Block until the latest request is answered (tests, screenshots)."""
        return self.jobs.wait(timeout_ms)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """The window is closing: ask for nothing more, give up the estimate in progress at its next phase
        and wait for it (a phase of a recurrent network can take seconds)."""
        self._closed = True
        return self.jobs.shutdown(timeout_ms)
