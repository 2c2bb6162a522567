"""A widget that passes a panel's layout changes up to the window only when its size hints change.

Qt passes every layout change of a widget up to the window: a label that gets new text asks its
layout to recompute, that layout asks its parent's, and so on up to the QMainWindow, which lays out
every dock again (and, with the Fusion style, starts a geometry animation for each), whether or not
any size hint changed on the way. During a run the live views change a few texts a second, so the
whole window relaid itself out about ten times a second, on the GUI thread that shares the cores
and the GIL with training.

A `LayoutFence` holds one panel without a layout of its own, so a change inside the panel ends at
the fence as a LayoutRequest event. The fence gives the panel its whole area again and asks its own
parent to recompute only when the panel's size hints, size limits or size policy differ from the
ones it last passed on. In a replayed LeNet-5 run (bench/live_views.py) the main window laid itself
out 10 times instead of 22-23, with the live views' frame pacing (app/training/live_views.py) as well.
(Not the status bar's labels: the status bar shares its width among them from their size hints at
once, which a fence would answer one round of the event loop late.)
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QSize
from PySide6.QtWidgets import QWidget


class LayoutFence(QWidget):
    def __init__(self, panel: QWidget, parent: QWidget | None = None):
        super().__init__(parent)
        self.panel = panel
        panel.setParent(self)
        self.setFocusProxy(panel)
        self._passed = None
        self._pass_on(self._read())
        panel.show()

    def _read(self) -> tuple:
        p = self.panel
        return (p.sizeHint(), p.minimumSizeHint(), p.minimumSize(), p.maximumSize(), p.sizePolicy())

    def _pass_on(self, hints: tuple) -> None:
        self._passed = hints
        _hint, _min_hint, minimum, maximum, policy = hints
        self.setMinimumSize(minimum)
        self.setMaximumSize(maximum)
        self.setSizePolicy(policy)
        self.updateGeometry()

    def _check(self) -> None:
        """The panel changed: fill the fence with it, and tell the parent only what it needs to know."""
        hints = self._read()
        if hints != self._passed:
            self._pass_on(hints)
        self.panel.setGeometry(self.rect())

    # Qt posts a LayoutRequest to a widget without a layout only while it can be seen: a fence that is
    # not visible (its window not shown yet, its dock closed) answers with the panel's hints as they are
    # now, and catches up with the rest when it is shown.
    def sizeHint(self) -> QSize:
        return self._passed[0] if self.isVisible() else self.panel.sizeHint()

    def minimumSizeHint(self) -> QSize:
        return self._passed[1] if self.isVisible() else self.panel.minimumSizeHint()

    def hasHeightForWidth(self) -> bool:
        return self.panel.hasHeightForWidth()

    def heightForWidth(self, width: int) -> int:
        return self.panel.heightForWidth(width)

    def event(self, event) -> bool:
        kind = event.type()
        if kind == QEvent.Type.LayoutRequest:
            self._check()
            return True
        if kind == QEvent.Type.Show:      # a hidden fence gets no LayoutRequest: the panel may have changed
            self._check()
        return super().event(event)

    def resizeEvent(self, event) -> None:
        self.panel.setGeometry(self.rect())
        super().resizeEvent(event)
