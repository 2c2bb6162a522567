"""A value typed in a field and not yet confirmed (no Enter, no Tab) when the person starts an action that
reads the graph or the settings, with a key or a click: the action takes what the field shows."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from .test_inspector_mid_edit import start_typing


def _run_settings(ui, qtbot) -> dict:
    qtbot.waitUntil(lambda: ui.run.active, timeout=20_000)
    values = ui.training.trainer.config.to_dict()      # what the run trains with
    ui.stop()
    qtbot.waitUntil(lambda: not ui.run.active, timeout=30_000)
    return values


def test_a_batch_size_typed_before_f5_is_the_run_s(ui, qtbot):
    box = ui.panel.settings.batch_size
    assert box.value() != 32
    start_typing(box, "32")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_F5)
    assert _run_settings(ui, qtbot)["batch_size"] == 32
    assert ui.win.document.training["batch_size"] == 32 and box.value() == 32


def test_a_parameter_typed_before_the_toolbar_s_train_is_trained(ui, qtbot):
    win = ui.win
    win.focus_block("fc1")
    start_typing(win.inspector.editor("out_features").main, "100")
    button = win.toolbar.widgetForAction(win.actions_by_name["train_start"])
    QTest.mouseClick(button, Qt.MouseButton.LeftButton)      # a tool button takes no focus: the field keeps it
    _run_settings(ui, qtbot)
    assert win.document.blocks["fc1"].params["out_features"] == 100
    assert ui.trained_doc.blocks["fc1"].params["out_features"] == 100
    assert not win.inspector.edit_error.isVisible()


def test_a_parameter_typed_before_ctrl_s_is_saved(win, tmp_path):
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    win.session.path = tmp_path / "lenet.loom.json"
    win.focus_block("fc1")
    start_typing(win.inspector.editor("out_features").main, "90")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier)
    saved = json.loads((tmp_path / "lenet.loom.json").read_text())
    assert next(b for b in saved["blocks"] if b["id"] == "fc1")["params"]["out_features"] == 90
    assert win.session.undo_stack.isClean()



def test_a_parameter_typed_before_close_is_a_change_to_ask_about(win, tmp_path, monkeypatch):
    from PySide6.QtWidgets import QMessageBox
    from layerloom.presets import preset_path
    win.files.open_preset(preset_path("lenet5"))
    win.session.undo_stack.setClean()
    win.focus_block("fc1")
    start_typing(win.inspector.editor("out_features").main, "90")
    asked = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda *a, **k: asked.append(a[2]) or QMessageBox.StandardButton.Cancel)
    assert win.files.maybe_save() is False          # Cancel: the typed value is kept, nothing closes
    assert len(asked) == 1 and win.document.blocks["fc1"].params["out_features"] == 90
