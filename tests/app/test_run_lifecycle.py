"""A run's life in the window, driven as a person would: Train while the data set still loads, Stop
before it has loaded, close the window while a run is stopping, and a run that fails at its first step.
The slow parts are held by events the test releases (a data set that loads only when told, a final
checkpoint that saves only when told), never by sleeping."""
from __future__ import annotations

from pathlib import Path

import shiboken6
from PySide6.QtCore import Qt, QTimer

import layerloom.app.training.data_loader as data_loader
import layerloom.runtime.trainer as trainer_module
from layerloom.app.training.controller import RunState
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import latest_checkpoint, load_checkpoint
from layerloom.runtime.runs import read_json

from .helpers import Gate, settings, wait_run_end

LEFT = Qt.MouseButton.LeftButton


def train_lenet_while_its_data_loads(win, qtbot, tmp_path, monkeypatch):
    gate = Gate(data_loader.load_dataset)
    monkeypatch.setattr(data_loader, "load_dataset", gate)
    t = win.training
    t.set_runs_folder(tmp_path / "runs")
    win.files.open_preset(preset_path("lenet5"))
    win.actions_by_name["train_start"].trigger()          # ▶ Train: starts once the data set has loaded
    qtbot.waitUntil(gate.entered.is_set, timeout=10_000)
    assert t.run.state == RunState.LOADING_DATA and t.run.start_pending
    assert t.panel.stop.isEnabled() and not t.panel.start.isEnabled()
    assert win.actions_by_name["train_stop"].isEnabled() and "starts once" in t.panel.progress_text.text()
    assert t.panel.check_texts() == ["Loading MNIST sample (5,000 digits, offline)…"]      # not "Ready" yet
    return t, gate


def test_stop_while_the_data_set_loads_cancels_the_start(win, qtbot, tmp_path, monkeypatch):
    t, gate = train_lenet_while_its_data_loads(win, qtbot, tmp_path, monkeypatch)
    try:
        qtbot.mouseClick(t.panel.stop, LEFT)
        assert not t.run.start_pending and not t.panel.stop.isEnabled()
        assert not win.actions_by_name["train_stop"].isEnabled() and t.run.state == RunState.LOADING_DATA
        assert t.panel.progress_text.text() == ""
    finally:
        gate.opened.set()
    qtbot.waitUntil(lambda: t.run.state == RunState.READY, timeout=20_000)
    assert t.training.thread is None and not win.document.locked and t.panel.start.isEnabled()
    assert len(t.panel.examples.images) > 0                                      # the set did load


def test_train_while_the_data_set_loads_starts_once_it_has_loaded(win, qtbot, tmp_path, monkeypatch):
    t, gate = train_lenet_while_its_data_loads(win, qtbot, tmp_path, monkeypatch)
    assert t.training.thread is None
    gate.opened.set()
    qtbot.waitUntil(lambda: t.run.state == RunState.RUNNING, timeout=20_000)
    assert win.document.locked and not t.run.start_pending
    t.stop()
    wait_run_end(t, qtbot)
    assert t.run.state in (RunState.STOPPED, RunState.FINISHED) and not win.document.locked


def test_closing_the_window_while_stopping_waits_for_the_checkpoint(win, ui, qtbot, dialogs, monkeypatch):
    gate = Gate(trainer_module.save_checkpoint, when=lambda: ui.run.state == RunState.STOPPING)
    monkeypatch.setattr(trainer_module, "save_checkpoint", gate)
    settings(ui, epochs=50, batch_size=16)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=30_000)
    thread = ui.training.thread
    win.session.undo_stack.setClean()
    qtbot.mouseClick(ui.panel.stop, LEFT)
    try:
        assert ui.run.state == RunState.STOPPING
        assert not ui.panel.stop.isEnabled() and not ui.panel.pause.isEnabled() and not ui.panel.start.isEnabled()
        qtbot.waitUntil(gate.entered.is_set, timeout=30_000)          # the trainer saves its last checkpoint
        assert ui.run.state == RunState.STOPPING and thread.isRunning()
        assert "Stopping: saving a checkpoint" in ui.panel.progress_text.text()
        QTimer.singleShot(0, gate.opened.set)     # fires only while close() waits in its own event loop
        assert win.close()
    finally:
        gate.opened.set()
    assert dialogs.texts("question") == []             # it was stopping already: nothing to ask
    assert (not shiboken6.isValid(thread) or thread.isFinished()) and ui.run.state == RunState.STOPPED
    run = ui.training.last_run_dir
    assert read_json(f"{run}/summary.json")["status"] == "stopped"
    assert load_checkpoint(latest_checkpoint(run)).meta["step"] >= 3
    assert not win.document.locked


def test_a_graph_that_raises_at_step_one_ends_failed_with_its_message(win, ui, qtbot, monkeypatch):
    real = trainer_module.compile_graph

    def compile_failing(*args, **kwargs):
        model = real(*args, **kwargs)
        forward = model.forward

        def failing(*a, **k):
            if model.training:
                raise RuntimeError("a deliberate fault in the forward pass")
            return forward(*a, **k)
        model.forward = failing
        return model

    monkeypatch.setattr(trainer_module, "compile_graph", compile_failing)
    states = []
    ui.run.state_changed.connect(lambda new, old: states.append(new))
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert states == [RunState.RUNNING, RunState.FAILED] and ui.run.state == RunState.FAILED
    text = ui.panel.message.text()
    assert text.startswith("Training failed: step 1:") and "a deliberate fault in the forward pass" in text
    assert ui.panel.message.isVisible() and "training failed" in ui.status_text.text()
    assert "Training failed: step 1" in win.statusBar().currentMessage()
    assert not win.document.locked and ui.panel.start.isEnabled()        # a failed run can be started again
    assert read_json(Path(ui.training.last_run_dir) / "summary.json")["status"] == "failed"


def test_opening_another_graph_cancels_a_start_that_waits_for_data(win, qtbot, tmp_path, monkeypatch):
    t, gate = train_lenet_while_its_data_loads(win, qtbot, tmp_path, monkeypatch)
    try:
        win.files.open_preset(preset_path("mlp"))                 # nothing runs yet: no question asked
        assert win.document.name != "LeNet-5" and not t.run.start_pending
        assert not t.panel.stop.isEnabled() and "starts once" not in t.panel.progress_text.text()
    finally:
        gate.opened.set()
    qtbot.waitUntil(lambda: t.run.state == RunState.READY, timeout=20_000)     # the MLP's data has loaded
    assert t.training.thread is None and not win.document.locked


def test_a_file_that_cannot_be_opened_mid_run_stops_nothing_and_asks_nothing(win, ui, qtbot, dialogs, tmp_path):
    """Opening a broken graph file during a run asked to stop it, stopped it, asked about unsaved changes,
    and only then said the file could not be opened: the run was lost for nothing."""
    from PySide6.QtWidgets import QMessageBox

    from .helpers import settings as set_values
    bad = tmp_path / "bad.loom.json"
    bad.write_text("{not json", encoding="utf-8")
    set_values(ui, epochs=50, batch_size=16)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 3, timeout=30_000)
    dialogs.answers += [QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.Discard]   # were it to ask
    dialogs.open_path = str(bad)
    win.actions_by_name["open"].trigger()
    assert [kind for kind, *_ in dialogs.shown] == ["warning"]              # only: it cannot be opened
    assert "bad.loom.json could not be opened" in dialogs.shown[0][2]
    assert ui.run.state in (RunState.RUNNING, RunState.FINISHED) and win.document.name == "LeNet-5"
    assert ui.run.state != RunState.STOPPED
    qtbot.mouseClick(ui.panel.stop, LEFT)
    wait_run_end(ui, qtbot)
