"""File ▸ Import Model… during a run asks its questions first (stop the run? save the changes?) but stops the
run only when an import replaces the graph: cancelling the Import dialog leaves it training
(tests/app/test_replace_during_run.py states the rule for New and Open)."""
from __future__ import annotations

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from layerloom.app import importing

LEFT = Qt.MouseButton.LeftButton
SB = QMessageBox.StandardButton
TINY = ("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        super().__init__()\n"
        "        self.fc = nn.Linear(4, 3)\n\n    def forward(self, x):\n        return self.fc(x)\n")


def _running_with_changes(win, ui, qtbot):
    ui.panel.settings.epochs.setValue(50)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 2, timeout=30_000)
    win.session.edit("Rename the graph", lambda r: r.set_meta("name", "LeNet-5 (mine)"))
    assert ui.training.running and win.isWindowModified()


def test_cancelling_the_import_dialog_leaves_the_run_training(win, ui, qtbot, dialogs):
    _running_with_changes(win, ui, qtbot)
    seen = []

    def cancel():                                   # inside the dialog's own modal loop, as a person would
        dialog = QApplication.activeModalWidget()
        if dialog is None:                          # not shown yet (a run being stopped first): look again
            QTimer.singleShot(20, cancel)
            return
        seen.append((type(dialog).__name__, ui.run.active))
        dialog.reject()
    QTimer.singleShot(0, cancel)
    dialogs.answers += [SB.Yes, SB.Discard]          # stop training: yes; unsaved changes: discard
    win.actions_by_name["import_model"].trigger()
    assert [t.split("\n")[0] for t in dialogs.texts("question")][-2:] == [
        "Stop training and import a model?", "“LeNet-5 (mine)” has changes that are not saved. Save them first?"]
    assert seen == [("ImportDialog", True)]          # the run trained on while the dialog was open
    assert ui.run.active and ui.training.running     # nothing was imported: nothing stopped
    assert win.document.name == "LeNet-5 (mine)"


def test_an_import_that_replaces_the_graph_stops_the_run_first(win, ui, qtbot, dialogs, monkeypatch, tmp_path):
    _running_with_changes(win, ui, qtbot)
    model_py = tmp_path / "tiny.py"
    model_py.write_text(TINY)
    shown = []
    monkeypatch.setattr(importing, "run_modal", lambda dialog: shown.append(dialog) or dialog.show())
    dialogs.answers += [SB.Yes, SB.Discard]
    win.actions_by_name["import_model"].trigger()
    dialog = shown[0]
    qtbot.addWidget(dialog)
    assert ui.run.active                              # asked, not yet stopped
    dialog.kind.setCurrentIndex(dialog.kind.findData("python"))
    dialog.file_edit.setText(str(model_py))
    dialog.class_edit.setText("Net")
    dialog.shape_edit.setText("4")
    qtbot.mouseClick(dialog.import_button, LEFT)
    qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
    assert dialog.status.text().startswith("Imported into tiny.loom.json"), dialog.status.text()
    assert not ui.run.active and not ui.training.running      # stopped, then the import opened
    assert win.session.path == dialog.written and "fc" in win.document.blocks
    assert len(dialogs.texts("question")) == 2                # nothing asked twice
    qtbot.mouseClick(dialog.close_button, LEFT)
