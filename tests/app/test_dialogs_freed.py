"""A closed modal dialog is freed with what it holds: an imported model, its link to the run that trains."""
from __future__ import annotations

import gc
import weakref

from PySide6.QtCore import QEvent, Qt, QTimer
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.app.export_dialog import ExportDialog
from layerloom.app.import_dialog import ImportDialog
from layerloom.app.panels.code_view import CodeDialog


def _when_shown(kind, act):
    """Run `act(dialog)` once a modal dialog of `kind` is up (the action that opens it waits in exec)."""
    def look():
        dialog = QApplication.activeModalWidget()
        if isinstance(dialog, kind):
            act(dialog)
        else:
            QTimer.singleShot(20, look)
    QTimer.singleShot(0, look)


def _freed(win, kind) -> bool:
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    gc.collect()
    return not win.findChildren(kind)


def test_closed_export_and_code_dialogs_leave_nothing_behind(win):
    for _ in range(2):
        _when_shown(ExportDialog, lambda d: d.reject())
        win.exporting.open_dialog()
        _when_shown(CodeDialog, lambda d: d.reject())
        win.show_code()
    assert _freed(win, ExportDialog) and _freed(win, CodeDialog)


def test_a_closed_import_dialog_lets_its_model_go(win, tmp_path, qtbot):
    (tmp_path / "tiny.py").write_text("import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n"
                                      "        super().__init__()\n        self.fc = nn.Linear(6, 3)\n\n"
                                      "    def forward(self, x):\n        return self.fc(x)\n")
    models = []

    def import_then_close(dialog):
        dialog.kind.setCurrentIndex(dialog.kind.findData("python"))
        dialog.file_edit.setText(str(tmp_path / "tiny.py"))
        dialog.class_edit.setText("Net")
        dialog.shape_edit.setText("6")
        QTest.mouseClick(dialog.import_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
        models.append(weakref.ref(dialog.result.model))
        QTest.mouseClick(dialog.close_button, Qt.MouseButton.LeftButton)

    _when_shown(ImportDialog, import_then_close)
    win.importing.open_dialog()
    assert win.document.name == "Net"
    assert _freed(win, ImportDialog)
    assert models[0]() is None                  # the imported module and its weights are not kept

