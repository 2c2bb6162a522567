"""The wheel guard's filter (on every spin box and combo box, app/wheel_guard.py) sees an error another
handler left pending: it reaches sys.excepthook once, as it was raised, not wrapped in the guard's name.
Installed on the whole application here, the filter meets the error at the very next event."""
from __future__ import annotations

import sys
import traceback

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QGraphicsScene, QGraphicsView

from layerloom.app.wheel_guard import WheelGuard


class FailingScene(QGraphicsScene):
    def mousePressEvent(self, event):
        raise KeyError("the scene's press handler failed")


def test_an_error_in_a_scene_handler_is_reported_once_as_itself(qtbot, monkeypatch):
    reported = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: reported.append((kind, value, tb)))
    guard = WheelGuard()
    QApplication.instance().installEventFilter(guard)
    try:
        scene = FailingScene()
        view = QGraphicsView(scene)
        qtbot.addWidget(view)
        view.resize(200, 200)
        view.show()
        QTest.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=QPoint(50, 50))
    finally:
        QApplication.instance().removeEventFilter(guard)
    assert len(reported) == 1
    kind, value, tb = reported[0]
    assert kind is KeyError and "the scene's press handler failed" in str(value)
    assert "eventFilter" not in str(value)
    frames = [f.name for f in traceback.extract_tb(tb)]
    assert "mousePressEvent" in frames and "eventFilter" not in frames and "_filter" not in frames
