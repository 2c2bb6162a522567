"""Counting the events one widget receives, for benchmarks of the window (a filter on that widget only:
an application-wide one would itself cost a Python call per event)."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject


class EventCounter(QObject):
    def __init__(self, widget, kind: QEvent.Type):
        super().__init__(widget)
        self.kind = kind
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event) -> bool:
        if event.type() == self.kind:
            self.count += 1
        return False
