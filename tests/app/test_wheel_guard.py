"""The wheel guard's filter (on every spin box and combo box, app/wheel_guard.py) sees an error another
handler left pending: it reaches sys.excepthook once, as it was raised, not wrapped in the guard's name.
Installed on the whole application in the first test, the filter meets the error at the very next event; in
the second, the application's style (GuardStyle) meets it as it polishes the next widget."""
from __future__ import annotations

import sys
import traceback

from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QComboBox, QGraphicsScene, QGraphicsView, QVBoxLayout, QWidget

from layerloom.app.wheel_guard import GuardStyle, WheelGuard, install


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


class FailsWhenPolished(QWidget):
    """A panel part whose own handler fails as Qt polishes it, before the combo box beside it."""

    def event(self, event):
        if event.type() == QEvent.Type.Polish:
            raise KeyError("the panel's polish handler failed")
        return super().event(event)


def test_an_error_pending_when_the_style_polishes_a_combo_box_is_reported_once_and_the_box_still_guarded(
        qtbot, monkeypatch):
    """The style's own path: no filter on the application; showing the panel polishes the failing part, then the
    combo box, and the error left pending by the first surfaces in GuardStyle.polish for the second."""
    reported = []
    monkeypatch.setattr(sys, "excepthook", lambda kind, value, tb: reported.append((kind, value, tb)))
    install(QApplication.instance())          # what the window does; no change when the style is a GuardStyle
    assert isinstance(QApplication.style(), GuardStyle)
    panel = QWidget()
    qtbot.addWidget(panel)
    layout = QVBoxLayout(panel)
    layout.addWidget(FailsWhenPolished())
    combo = QComboBox()
    combo.addItems(["sgd", "adam", "adamw"])
    layout.addWidget(combo)
    panel.show()                              # raised nothing here: the style reported it
    assert len(reported) == 1
    kind, value, tb = reported[0]
    assert kind is KeyError and "the panel's polish handler failed" in str(value) and "polish()" not in str(value)
    frames = [f.name for f in traceback.extract_tb(tb)]
    assert frames[-1] == "event" and "polish" not in frames
    # the combo box was polished (by Fusion, which turns hover on) and guarded all the same
    assert combo.testAttribute(Qt.WidgetAttribute.WA_Hover)
    assert combo.focusPolicy() == Qt.FocusPolicy.StrongFocus
    at = QPointF(combo.rect().center())
    wheel = QWheelEvent(at, combo.mapToGlobal(at), QPoint(), QPoint(0, -120), Qt.MouseButton.NoButton,
                        Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(combo, wheel)
    assert combo.currentIndex() == 0          # a wheel over it does not change the optimizer
