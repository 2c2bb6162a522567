"""A mouse wheel over a spin box or combo box that does not have the keyboard focus scrolls the panel
it sits in; it never changes the value. (Scrolling a long Inspector would otherwise change whatever
field passes under the pointer, with no undo entry for settings.)

The application's style (`GuardStyle`, the Fusion style with one addition) guards every spin box and
combo box as Qt polishes it, before it is first shown: it gives the widget StrongFocus (a click or Tab
focuses it, a wheel does not) and installs the one `WheelGuard` filter on it. A wheel over its line
edit reaches it too, as Qt passes the ignored event on to the parent. The filter sees only those
widgets' events: an application-wide Python filter was called for every event of every object, some
25,000 while a window is built, and made building it nearly twice as slow.

A Python handler that raised while Qt delivered an event synchronously (a scene's mousePressEvent under a
`sendEvent` from Python, say) leaves its error pending, and the next Python code Qt calls (the filter or
the style) raises it: they hand that error to sys.excepthook as it was, once, instead of raising it
again wrapped in their own name. In the style it surfaces at the call of the base style's polish, which it
stopped before it ran: that call is made again, so the widget is polished and guarded all the same.
"""
from __future__ import annotations

import sys

from PySide6.QtCore import QCoreApplication, QEvent, QObject, Qt
from PySide6.QtWidgets import QAbstractScrollArea, QAbstractSpinBox, QApplication, QComboBox, QProxyStyle, QWidget

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
    """The filter on each guarded widget: a wheel it does not have the focus for scrolls its panel."""

    def eventFilter(self, obj, event) -> bool:
        try:
            return self._filter(obj, event)
        except BaseException as exc:            # most often an earlier handler's error, pending until now
            _report(exc)
            return False

    def _filter(self, obj, event) -> bool:
        if event.type() != QEvent.Type.Wheel:
            return False
        target = _guarded(obj)
        if target is None or target.hasFocus() or (isinstance(target, QComboBox) and target.view().isVisible()):
            return False
        area = _scroll_area_of(target)
        if area is not None:
            QCoreApplication.sendEvent(area.verticalScrollBar() if not event.angleDelta().x() else
                                       area.horizontalScrollBar(), event)
        return True        # the value stays as it was either way


class GuardStyle(QProxyStyle):
    """A style (`base`, a QStyleFactory key) that guards each spin box and combo box as it polishes it."""

    def polish(self, target):
        try:
            result = super().polish(target)   # (a palette is polished in place)
        except BaseException as exc:          # an error pending from an earlier handler stopped the call before
            _report(exc)                      # the base style's polish ran: reported, and the call made again
            result = super().polish(target)
        try:
            if isinstance(target, GUARDED):
                guard(target)
        except BaseException as exc:
            _report(exc)
        return result


def guard(widget: QWidget) -> None:
    """Guard one spin box or combo box (the style does so for every one it polishes)."""
    if widget.focusPolicy() == Qt.FocusPolicy.WheelFocus:
        widget.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
    widget.installEventFilter(_the_guard())


def _report(exc: BaseException) -> None:
    sys.excepthook(type(exc), exc, _outside_this_module(exc.__traceback__))


def _outside_this_module(tb):
    """The traceback from the first frame that is not this module's (all of it when the error is its own)."""
    first = tb
    while first is not None and first.tb_frame.f_code.co_filename == __file__:
        first = first.tb_next
    return first or tb


_guard: WheelGuard | None = None


def _the_guard() -> WheelGuard:
    global _guard
    if _guard is None:
        _guard = WheelGuard()
    return _guard


def install(app: QApplication) -> None:
    """Guard every spin box and combo box of the application: its style becomes a GuardStyle over the
    style it has (no change when it is one already). Widgets that exist are polished again by Qt."""
    if not isinstance(app.style(), GuardStyle):
        app.setStyle(GuardStyle(app.style().name() or "Fusion"))
