"""A mouse wheel over a spin box or combo box that does not have the keyboard focus scrolls the panel
it sits in; it never changes the value. (Scrolling a long Inspector would otherwise change whatever
field passes under the pointer, with no undo entry for settings.)

One `WheelGuard` filters the whole application. It also gives those widgets StrongFocus (a click or
Tab focuses them, a wheel does not), so a wheel turned over them does not focus them first.

A Python handler that raised while Qt delivered an event (a scene's mousePressEvent, say) leaves its error
pending, and the next Python code Qt calls (this filter, for the very next event) raises it: the filter
hands that error to sys.excepthook as it was, once, instead of raising it again wrapped in its own name.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QWidget

GUARDED = (QAbstractSpinBox, QComboBox)


def _guarded(obj) -> QWidget | None:
    """The spin box or combo box `obj` is, or is part of (its line edit), else None."""
    w = obj
    for _ in range(3):
        if isinstance(w, GUARDED):
            return w
        if not isinstance(w, QWidget) or w.isWindow():
            return None
        w = w.parentWidget()
    return None


def _scroll_area_of(widget: QWidget) -> QAbstractScrollArea | None:
    w = widget.parentWidget()
    while w is not None:
        if isinstance(w, QAbstractScrollArea) and not isinstance(w, GUARDED):
            return w
        if w.isWindow():
            return None
        w = w.parentWidget()
    return None


class WheelGuard(QObject):
    def eventFilter(self, obj, event) -> bool:
        try:
            return self._filter(obj, event)
        except BaseException as exc:            # most often an earlier handler's error, pending until now
            sys.excepthook(type(exc), exc, _outside_this_filter(exc.__traceback__))
            return False

    def _filter(self, obj, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.Polish and isinstance(obj, GUARDED):
            if obj.focusPolicy() == Qt.FocusPolicy.WheelFocus:
                obj.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
            return False
        if kind != QEvent.Type.Wheel:
            return False
        target = _guarded(obj)
        if target is None or target.hasFocus() or (isinstance(target, QComboBox) and target.view().isVisible()):
            return False
        area = _scroll_area_of(target)
        if area is not None:
            QCoreApplication.sendEvent(area.verticalScrollBar() if not event.angleDelta().x() else
                                       area.horizontalScrollBar(), event)
        return True        # the value stays as it was either way


def _outside_this_filter(tb):
    """The traceback from the first frame that is not this module's (all of it when the error is the filter's)."""
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename == __file__:
        first = first.tb_next
    return first or tb


_guard: WheelGuard | None = None


def install(app: QApplication) -> WheelGuard:
    """Filter every widget of the application (once per process)."""
    global _guard
    if _guard is None:
        _guard = WheelGuard()
        app.installEventFilter(_guard)
    return _guard
