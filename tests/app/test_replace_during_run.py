"""Opening, starting or importing another graph during a run stops the run only once nothing asked
afterwards can be cancelled: Cancel at "save changes?" or in the Open dialog leaves it training."""
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from layerloom.presets import preset_path

LEFT = Qt.MouseButton.LeftButton
SB = QMessageBox.StandardButton


def _running(win, ui, qtbot):
    s = ui.panel.settings
    s.epochs.setValue(50)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 2, timeout=30_000)
    win.session.edit("Rename the graph", lambda r: r.set_meta("name", "LeNet-5 (mine)"))
    assert win.isWindowModified() and ui.training.running


def test_cancel_at_save_changes_leaves_the_run_training(win, ui, qtbot, dialogs):
    """Yes to "Stop training?" stopped the run at once; Cancel at the next question then kept the graph
    open, with its run stopped all the same."""
    _running(win, ui, qtbot)
    dialogs.answers += [SB.Yes, SB.Cancel]                   # stop: yes; unsaved changes: cancel
    assert not win.files.new()
    assert [t.split("\n")[0] for t in dialogs.texts("question")][-2:] == [
        "Stop training and start a new graph?", "“LeNet-5 (mine)” has changes that are not saved. Save them first?"]
    assert ui.training.running and win.document.name == "LeNet-5 (mine)"
    dialogs.answers += [SB.Yes, SB.Cancel]                   # closing the window: the same questions, the same Cancel
    assert not win.close() and win.isVisible()
    assert dialogs.texts("question")[-2].startswith("Stop training and close Layerloom?")
    assert ui.training.running and win.isWindowModified()
    dialogs.answers += [SB.Yes, SB.Discard]
    assert win.files.open_preset(preset_path("mlp"))
    assert not ui.training.running and win.document.name != "LeNet-5 (mine)"


def test_cancelling_the_open_dialog_asks_nothing_and_stops_nothing(win, ui, qtbot, dialogs):
    _running(win, ui, qtbot)
    asked = len(dialogs.texts("question"))
    dialogs.open_path = ""                                   # the Open dialog cancelled
    assert not win.files.open()
    assert len(dialogs.texts("question")) == asked and ui.training.running


def test_declining_a_graphs_code_leaves_the_run_training(win, ui, qtbot, dialogs, tmp_path, monkeypatch):
    """Yes to "Stop training?", Discard, then Cancel at "Run code from this graph?": nothing opened, so the run
    goes on (it was stopped before the code question was asked)."""
    from layerloom.app import files

    from .helpers import opaque_graph
    monkeypatch.setenv("LAYERLOOM_TRUST_RECORD", str(tmp_path / "trusted-code.json"))
    model, graph = opaque_graph(tmp_path, "from torch import nn\n\nclass Twice(nn.Module):\n    def forward(self, x):\n"
                                          "        return 2 * x\n")
    _running(win, ui, qtbot)
    code_asked = []
    monkeypatch.setattr(files, "run_modal", lambda box: code_asked.append(box.text()) or SB.Cancel)
    for opening in (lambda: win.files.open(str(graph)), lambda: win.files.open_preset(graph)):
        dialogs.answers += [SB.Yes, SB.Discard]          # stop: yes; unsaved changes: discard; its code: cancel
        assert not opening()
        assert code_asked and str(model.resolve()) in code_asked[-1]
        assert ui.training.running and win.document.name == "LeNet-5 (mine)"
    monkeypatch.setattr(files, "run_modal", lambda box: SB.Ok)      # its code allowed: now the run stops
    dialogs.answers += [SB.Yes, SB.Discard]
    assert win.files.open(str(graph))
    assert not ui.training.running and win.document.name == "Theirs"


def test_a_run_stuck_in_a_long_validation_is_left_to_end_without_holding_the_window(ui, qtbot, monkeypatch):
    """New or Close during a long validation waited twice (8 s with the window painting, then 8 s frozen)."""
    import threading
    from layerloom.app.training import ui as ui_module
    from layerloom.runtime import trainer as trainer_module
    inside, release = threading.Event(), threading.Event()
    validate = trainer_module.Trainer._validate

    def slow(self, steps):
        inside.set()
        release.wait(60)
        return validate(self, steps)
    monkeypatch.setattr(trainer_module.Trainer, "_validate", slow)
    ui.panel.settings.epochs.setValue(1)
    ui.train()
    qtbot.waitUntil(inside.is_set, timeout=60_000)
    thread = ui.training.thread
    waits = []
    shutdown = ui.run.shutdown
    monkeypatch.setattr(ui.run, "shutdown", lambda ms: waits.append(ms) or shutdown(ms))
    try:
        assert ui.stop_and_wait(timeout_ms=200)                # the window is free: New or Close goes on
        assert waits == [0] and thread.isRunning() and not ui.run.active      # and the run ends by itself
        assert ui.win.statusBar().currentMessage() == ui_module.LEFT_TO_END
        folder = ui.live.started["run_dir"]
        assert ui.runs.training_path == Path(folder) and not ui.runs.change.isEnabled()   # it still writes there
    finally:
        release.set()
    assert thread.wait(60_000)
    qtbot.waitUntil(lambda: not ui.runs.training, timeout=10_000)
    row = next(r for r in ui.runs.runs if r.path == Path(folder))
    # Stop came during its last epoch's validation: the validation ends at its first batch, and the run keeps a
    # checkpoint at the end of the epoch's training (a resume validates the epoch: tests/runtime/test_stop_in_validation)
    assert ui.runs._status(row) == row.summary["status"] == "stopped"
