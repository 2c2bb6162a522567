"""The one owner of a training run's state in the window.

`RunController.state` is a `RunState`; every change goes through `move_to()`, which checks it against
`TRANSITIONS` and refuses (and logs) a move the table does not allow: nothing else sets the state.
The views (the Training panel's buttons, the status bar, the graph's read-only lock, the Train menu)
render it from `state_changed`; none keeps a running/paused flag of its own.

Inputs that move it:
- the readiness check (`set_readiness`): no run yet or a run has ended -> idle, loading_data or ready;
- the person (`start`, `pause`, `resume`, `stop`);
- the trainer, through the run thread (app/training/run_thread.py): `paused`/`resumed` events, and the
  end of the thread, whose final state comes from the run's own last event (folded by
  runtime/live.py's `LiveRun`, which the controller owns for each run).
"""
from __future__ import annotations

import logging
from enum import Enum

from PySide6.QtCore import QObject, Signal

from layerloom.runtime.live import LiveRun

from .run_thread import RunThread

log = logging.getLogger(__name__)


class RunState(str, Enum):
    IDLE = "idle"                    # no run; training cannot start yet (the check has a problem)
    LOADING_DATA = "loading_data"    # no run; the chosen data set is loading
    READY = "ready"                  # no run; the check passed and the data set is loaded
    RUNNING = "running"
    PAUSED = "paused"
    STOPPING = "stopping"            # Stop was pressed; the trainer saves a checkpoint and ends
    FINISHED = "finished"            # the last run ended: all its steps done
    FAILED = "failed"                # the last run ended with an error (`message` says which)
    STOPPED = "stopped"              # the last run was stopped (it kept a checkpoint)


S = RunState
ACTIVE = frozenset({S.RUNNING, S.PAUSED, S.STOPPING})      # a run thread exists; the graph is read-only
ENDED = frozenset({S.FINISHED, S.FAILED, S.STOPPED})        # the last run's result is on show
_AFTER_A_RUN = frozenset({S.IDLE, S.LOADING_DATA, S.RUNNING})

TRANSITIONS: dict[RunState, frozenset[RunState]] = {
    S.IDLE: frozenset({S.LOADING_DATA, S.READY, S.RUNNING}),        # running: resuming a run loads its own data
    S.LOADING_DATA: frozenset({S.IDLE, S.READY, S.RUNNING}),
    S.READY: frozenset({S.IDLE, S.LOADING_DATA, S.RUNNING}),
    S.RUNNING: frozenset({S.PAUSED, S.STOPPING, S.FINISHED, S.FAILED, S.STOPPED}),
    S.PAUSED: frozenset({S.RUNNING, S.STOPPING, S.FAILED}),
    S.STOPPING: frozenset({S.STOPPED, S.FINISHED, S.FAILED}),        # finished: the last step came first
    S.FINISHED: _AFTER_A_RUN,
    S.FAILED: _AFTER_A_RUN,
    S.STOPPED: _AFTER_A_RUN,
}
_ENDED_BY = {"finished": S.FINISHED, "stopped": S.STOPPED, "failed": S.FAILED}


class RunController(QObject):
    state_changed = Signal(object, object)    # the new RunState, the old one
    pending_changed = Signal(bool)            # a start waits for the data set (or no longer does)
    folded = Signal(object)                   # the set of views a trainer event made stale (LiveRun.apply)
    event = Signal(object)                    # the trainer event itself, after folding

    def __init__(self, parent: QObject | None = None, runner: RunThread | None = None):
        super().__init__(parent)
        self.runner = runner or RunThread(self)
        self.state = RunState.IDLE
        self.live = LiveRun()
        self.message = ""                 # why the last run failed
        self.start_pending = False        # ▶ Train was pressed: start once the data set has loaded
        self.runner.event.connect(self._on_event)
        self.runner.running_changed.connect(self._thread_changed)

    # -- the one way the state changes -------------------------------------------------------------
    def move_to(self, new: RunState, why: str = "") -> bool:
        """Change the state if the table allows it; False (and a log line) when it does not."""
        old = self.state
        if new == old:
            return True
        if new not in TRANSITIONS[old]:
            log.warning("run state: %s -> %s refused%s", old.value, new.value, f" ({why})" if why else "")
            return False
        self.state = new
        self.state_changed.emit(new, old)
        return True

    @property
    def active(self) -> bool:
        return self.state in ACTIVE

    @property
    def last_run_dir(self) -> str | None:
        """The folder of the last run started in this window (None before the first)."""
        return self.runner.last_run_dir

    def can_start(self) -> bool:
        return self.state == S.READY or self.state in ENDED

    # -- the readiness check ------------------------------------------------------------------------
    def set_readiness(self, loading: bool, ready: bool) -> None:
        """What the check says about starting now. During a run it changes nothing; after one, the
        result stays on show while training could start again."""
        if self.active:
            return
        target = S.LOADING_DATA if loading else S.READY if ready else S.IDLE
        if self.state in ENDED and target == S.READY:
            return
        if target == S.IDLE:
            self._set_pending(False)          # the data set failed to load, or the check found a problem
        self.move_to(target, "readiness check")

    def forget(self) -> None:
        """Another graph is open: the last run's result is no longer on show."""
        if self.active:
            return
        self.cancel_start()                 # a start asked for the graph that was open
        self.live = LiveRun()
        self.message = ""
        if self.state in ENDED:
            self.move_to(S.IDLE, "another graph")

    def _set_pending(self, pending: bool) -> None:
        if pending != self.start_pending:
            self.start_pending = pending
            self.pending_changed.emit(pending)

    # -- the person -----------------------------------------------------------------------------------
    def request_start(self) -> None:
        """▶ Train while the data set loads: the run starts once it has loaded (Stop cancels that)."""
        if self.state == S.LOADING_DATA:
            self._set_pending(True)

    def cancel_start(self) -> None:
        """A start that waits for the data set no longer happens."""
        self._set_pending(False)

    def start(self, doc, values: dict, runs_base, bundle=None, resume: str | None = None) -> bool:
        """Start a run of `doc` (or resume the run folder `resume`)."""
        if self.active or S.RUNNING not in TRANSITIONS[self.state]:
            log.warning("run state: start refused in %s", self.state.value)
            return False
        self._set_pending(False)
        self.live = LiveRun()
        self.message = ""
        self.runner.start(doc, values, runs_base, data=bundle, resume=resume)
        return True

    def pause(self) -> None:
        if self.state == S.RUNNING:
            self.runner.pause()          # the state follows the trainer's `paused` event

    def resume(self) -> None:
        if self.state == S.PAUSED:
            self.runner.resume()

    def toggle_pause(self) -> None:
        self.resume() if self.state == S.PAUSED else self.pause()

    def stop(self) -> None:
        """Stop a run (it keeps a checkpoint), or cancel a start that waits for its data set."""
        if self.state in (S.RUNNING, S.PAUSED):
            if self.move_to(S.STOPPING, "stop"):
                self.runner.stop()
        self.cancel_start()

    def set_lr(self, lr: float) -> None:
        if self.state == S.PAUSED:
            self.runner.set_lr(lr)

    def shutdown(self, timeout_ms: int) -> bool:
        """Stop the run and wait for its thread (the window is closing)."""
        self.stop()
        return self.runner.shutdown(timeout_ms)

    # -- the run thread -------------------------------------------------------------------------------
    def _on_event(self, event: dict) -> None:
        dirty = self.live.apply(event)
        kind = event.get("type")
        if kind == "paused" and self.state == S.RUNNING:
            self.move_to(S.PAUSED, "trainer paused")
        elif kind == "resumed" and self.state == S.PAUSED:
            self.move_to(S.RUNNING, "trainer resumed")
        self.folded.emit(dirty)
        self.event.emit(event)

    def _thread_changed(self, running: bool) -> None:
        if running:
            self.move_to(S.RUNNING, "run thread started")
            return
        end = _ENDED_BY.get(self.live.state)
        if end is None:      # the thread ended without the run's last event (it was abandoned on close)
            end = S.STOPPED if self.state == S.STOPPING else S.FAILED
            if end == S.FAILED:
                self.live.message = self.live.message or "the run ended without saying how"
        if end == S.FAILED:
            self.message = self.live.message
        if self.state == S.PAUSED and end != S.FAILED:
            self.move_to(S.STOPPING, "run ended while paused")
        self.move_to(end, "run thread ended")
