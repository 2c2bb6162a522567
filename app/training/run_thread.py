"""The bridge between the Qt-free Trainer and the GUI: the Trainer runs in a QThread.

The Trainer calls its callback in the training thread; the thread turns each event into a queued
Qt signal, so slots run in the GUI thread. Step events arrive at most ~20 a second and feature maps
once a second (the runtime throttles them); the views coalesce what they receive and redraw
on their own timer. Events carry small numpy arrays, never live tensors.

The thread has no event loop of its own: it ends when `Trainer.run()` returns, so `shutdown()` can
wait for it from the GUI thread without needing the GUI thread to deliver anything.
"""
from __future__ import annotations

from PySide6.QtCore import QObject, QThread, Signal

from layerloom.runtime.health import HealthCollector
from layerloom.runtime.tensorboard_log import TensorBoardLog
from layerloom.runtime.taps import FeatureTaps
from layerloom.runtime.trainer import Trainer

from .. import background



# Feature maps are captured once a second (and at each epoch's last step): live, and cheap for the
# training thread (a copy of the tapped blocks' outputs) and for the GUI thread (a redraw of the maps
# and the prediction); app/training/live_views.MIN_INTERVAL_MS says what was measured.
TAP_INTERVAL_S = 1.0


class _TrainingThread(QThread):
    event = Signal(object)     # one trainer event (a dict), emitted from the training thread

    def __init__(self, trainer: Trainer):
        super().__init__()
        self.setObjectName("layerloom-training")
        self.trainer = trainer
        trainer.callback = self.event.emit

    def run(self) -> None:
        self.trainer.run()     # never raises: problems end in a `failed` event


class RunThread(QObject):
    """Start, control and stop one training run's thread from the GUI thread. It keeps no run state of
    its own beyond whether the thread exists: the run controller (controller.py) owns the state."""

    event = Signal(object)       # every trainer event, in the GUI thread
    running_changed = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.trainer: Trainer | None = None
        self.thread: _TrainingThread | None = None
        self.taps = FeatureTaps(interval=TAP_INTERVAL_S)
        self.last_run_dir: str | None = None

    @property
    def running(self) -> bool:
        return self.thread is not None

    def start(self, doc, config: dict, runs_base, data=None, resume=None) -> None:
        if self.running:
            raise RuntimeError("a training run is already going")
        self.taps.new_run()
        self.trainer = Trainer(doc, config, None, runs_base=runs_base, taps=self.taps, data=data, resume=resume,
                               extensions=[HealthCollector(), TensorBoardLog()])   # health.csv, TensorBoard files
        self.thread = _TrainingThread(self.trainer)
        self.thread.event.connect(self._forward)
        self.thread.finished.connect(self._thread_finished)
        self.thread.start()
        self.running_changed.emit(True)

    def _forward(self, event: dict) -> None:
        if event.get("type") == "started":
            self.last_run_dir = event.get("run_dir")
        self.event.emit(event)

    def _thread_finished(self) -> None:
        thread = self.thread
        if thread is not None and thread.isFinished():
            self._release(thread)

    def _release(self, thread: QThread) -> None:
        thread.wait()
        thread.deleteLater()
        self.thread = None
        self.running_changed.emit(False)

    def pause(self) -> None:
        if self.running:
            self.trainer.pause()

    def resume(self) -> None:
        if self.running:
            self.trainer.resume()

    def stop(self) -> None:
        if self.running:
            self.trainer.stop()

    def set_lr(self, lr: float) -> None:
        if self.running:
            self.trainer.set_lr(lr)

    def tap(self, block_ids) -> None:
        self.taps.set_blocks(block_ids)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop and wait for the thread (used when the window closes). The Trainer checks for stop before
        every step and saves a checkpoint, so this returns within about a step and a checkpoint.
        Events still queued for the GUI are dropped; a thread that outlives the timeout is kept alive
        (a running QThread must never be destroyed) and the run is left to finish its step."""
        thread = self.thread
        if thread is None:
            return True
        self.trainer.stop()
        ok = thread.wait(timeout_ms)
        try:
            thread.event.disconnect(self._forward)
        except (RuntimeError, TypeError):
            pass
        if ok:
            self._release(thread)
        else:
            background.keep_until_finished(thread)
            self.thread = None
            self.running_changed.emit(False)
        return ok
