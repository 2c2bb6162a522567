"""How the run state looks: the Training panel's buttons, the Train menu's actions, the status bar,
the graph's read-only lock and the run's final message. Everything here renders the RunController's
state (controller.py) when it changes; nothing keeps a running/paused flag of its own. A part of
TrainingUI (app/training/ui.py), which it is mixed into."""
from __future__ import annotations

import math
from pathlib import Path

from PySide6.QtCore import QTimer

from layerloom.runtime.config import ConfigError, TrainConfig

from .controller import ACTIVE, ENDED, RunState

READ_ONLY = "the graph is read-only while it trains; press Stop (or wait for the run to end) to edit it"
PENDING_TEXT = "Training starts once the data set has loaded (Stop cancels)."
ENDED_WORDS = {RunState.FINISHED: "Training finished", RunState.STOPPED: "Training stopped",
               RunState.FAILED: "Training failed"}


class StateViews:
    """The run-state half of TrainingUI: its methods use the TrainingUI's panels, actions and run."""

    def _state_changed(self, new: RunState, old: RunState) -> None:
        if new in ACTIVE and old not in ACTIVE:          # a run began: the graph is read-only
            doc = self.session.document
            self._lock(doc)
            self.runs.set_training(True)          # its folder is named by the trainer's `started` event
            self.status.show()
            self.status_text.setText(f"Starting {doc.name}…")
            self.session.message.emit("Training started: the graph is read-only until the run ends.")
        self._render_state()
        if old in ACTIVE and new not in ACTIVE:
            self._run_ended(new)

    def _render_state(self) -> None:
        run = self.run
        state = run.state
        self.panel.set_state(state.value, stoppable=run.start_pending)
        self.start_action.setEnabled(state not in ACTIVE)
        self.pause_action.setEnabled(state in (RunState.RUNNING, RunState.PAUSED))
        self.stop_action.setEnabled(state in (RunState.RUNNING, RunState.PAUSED) or run.start_pending)
        message = self.panel.message.text()
        if state == RunState.PAUSED:
            self.panel.show_message("Paused. You can change the learning rate, then resume.")
            if not message.startswith("Paused"):     # just paused: the field it speaks of comes into sight, once
                QTimer.singleShot(0, self._learning_rate_in_sight)     # the message has taken its room
        elif state == RunState.RUNNING and message.startswith("Paused"):
            self.panel.show_message("")
        if run.start_pending:
            self.panel.set_progress(0.0, PENDING_TEXT)
        elif self.panel.progress_text.text() == PENDING_TEXT:
            self.panel.set_progress(0.0, "")
        if state in ACTIVE or state in ENDED:
            self._show_progress()

    def _learning_rate_in_sight(self) -> None:
        self.panel.settings_scroll.ensureWidgetVisible(self.panel.settings.lr, 0, 8)

    def _run_ended(self, state: RunState) -> None:
        """The run thread has ended: every text becomes final now, and the graph editable again."""
        self._unlock_all()
        self.runs.set_training(False)
        self._redraw(everything=True)
        if state == RunState.FAILED and self.live.started is None:      # refused by its setup: never began
            self.plots.refused(self.run.message)
            self.epochs.refused()                      # the run before's validation stays on show
        self._show_result(state)
        if self.run.last_run_dir:
            self.runs.show_run(self.run.last_run_dir)     # that one folder, not every run's again
        else:                                             # it ended before its folder was made
            self.runs.refresh()
        if state == RunState.FAILED:     # the reason stays in the status bar longer than a note does
            message = self.run.message.rstrip()
            ended = "" if message.endswith((".", "!", "?")) else "."       # a message is one sentence, or more
            self.win.statusBar().showMessage(f"Training failed: {message}{ended} The graph can be edited again.",
                                             15000)
        else:
            self.session.message.emit(f"{ENDED_WORDS.get(state, 'Training ended')}: the graph can be edited again.")
        if self.restore_typed():
            pass                          # a resumed run: the panel holds again what it held before Resume
        elif dict(self.session.document.training) != getattr(self, "_loaded_section", None):
            self.load_from_document()     # the section changed during the run (an undo): the panel shows it now
        else:
            self._restore_settings_lr()
        self.recheck()      # last: it may move the state on (e.g. to idle), which renders itself

    def _show_result(self, state: RunState) -> None:
        live = self.live
        if state == RunState.FAILED:
            self.panel.show_message(f"Training failed: {self.run.message}", "error")
            self.dock.raise_()
            return
        s = live.summary or {}
        acc = s.get("val_accuracy")
        if not isinstance(acc, float) and len(live.epochs):      # stopped before its first epoch since resuming
            acc = live.epochs.last("val_accuracy")
        acc_text = f", validation accuracy {acc * 100:.2f}%" if isinstance(acc, float) and math.isfinite(acc) else ""
        health = self._health_text()
        self.panel.show_message(f"Run {state.value}{acc_text}. Checkpoint and metrics are in "
                                f"{Path(self.run.last_run_dir or '').name}." + (f" {health}" if health else ""),
                                "warning" if health else "info")

    def _restore_settings_lr(self) -> None:
        """A learning rate changed while paused applied to that run only: the settings (and so the next run)
        go back to the graph's own learning rate."""
        doc = self.session.document
        try:
            lr = TrainConfig.from_sources(doc.training).lr
        except ConfigError:
            return
        if self.panel.settings.lr.value() != lr:
            self.panel.settings.lr.setValue(lr)

    def _lock(self, doc) -> None:
        if not doc.locked:
            self.session.set_locked(doc, READ_ONLY)
            self._locked.append(doc)

    def _unlock_all(self) -> None:
        for doc in self._locked:
            if doc.locked == READ_ONLY:
                self.session.set_locked(doc, None)
        self._locked.clear()
