"""Room in the status bar: its permanent labels (the analysis summary, the training status) give way to a
temporary message, so "Training stopped: the graph can be edited again." is shown in full even at 1280 px.

`ElidedLabel` shows as much of its text as fits, ending in "…", with the full text in its tooltip.
`StatusRoom` watches the bar: while a message is shown, it caps the labels' widths so the message fits
(each label gives up room in proportion to what it can spare); when the message goes, the caps go too.
"""
from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject, QSize, Qt, Signal
from PySide6.QtWidgets import QLabel, QStatusBar, QWidget

MIN_WIDTH = 60          # a label never shrinks below this (a few words and "…")
MESSAGE_MARGIN = 28     # the bar's left margin and the gap before the first permanent widget
UNCAPPED = 16_777_215   # QWIDGETSIZE_MAX


class ElidedLabel(QLabel):
    """A one-line label that elides its text to its width; `text()` is always the full text."""
    text_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._tip = ""
        self.setTextFormat(Qt.TextFormat.PlainText)

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def elided(self) -> bool:
        return super().text() != self._full

    def setText(self, text: str) -> None:
        if text == self._full:
            return
        self._full = text
        self._elide()
        self.updateGeometry()
        self.text_changed.emit()

    def setToolTip(self, tip: str) -> None:
        self._tip = tip
        self._elide()

    def full_width(self) -> int:
        m = self.contentsMargins()
        return self.fontMetrics().horizontalAdvance(self._full) + m.left() + m.right() + 2

    def sizeHint(self) -> QSize:
        return QSize(self.full_width(), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(MIN_WIDTH, self.full_width()), super().minimumSizeHint().height())

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        m = self.contentsMargins()
        room = self.width() - m.left() - m.right() - 2
        shown = self._full if self.full_width() <= self.width() else \
            self.fontMetrics().elidedText(self._full, Qt.TextElideMode.ElideRight, max(0, room))
        super().setText(shown)
        tip = self._full if shown != self._full else ""
        super().setToolTip("\n\n".join(t for t in (tip, self._tip) if t))


class StatusRoom(QObject):
    """Shares the status bar's width between a temporary message and the permanent labels."""

    def __init__(self, bar: QStatusBar):
        super().__init__(bar)
        self.bar = bar
        self.entries: list[tuple[QWidget, ElidedLabel, int]] = []     # (widget in the bar, its label, cap)
        bar.messageChanged.connect(self.refresh)
        bar.installEventFilter(self)

    def add(self, label: ElidedLabel, container: QWidget | None = None, cap: int = UNCAPPED) -> None:
        """`label` (inside `container`, the widget added to the bar, if it is not the label itself) may
        shrink for a message; `cap` is its widest when no message is shown."""
        self.entries.append((container or label, label, cap))
        label.setMaximumWidth(cap)
        label.text_changed.connect(self.refresh)
        (container or label).installEventFilter(self)

    def eventFilter(self, watched, event) -> bool:
        if event.type() in (QEvent.Type.Resize, QEvent.Type.Show, QEvent.Type.Hide) and \
                (watched is self.bar or event.type() != QEvent.Type.Resize):
            self.refresh()
        return False

    def refresh(self, *_args) -> None:
        if not shiboken6.isValid(self.bar):      # the window is being torn down (children hide first)
            return
        visible = [(box, label, cap) for box, label, cap in self.entries if not box.isHidden()]
        message = self.bar.currentMessage()
        if not message:
            for box, label, cap in self.entries:
                self._cap(box, label, cap)
            return
        wants = [min(cap, label.full_width()) for _box, label, cap in visible]
        spacing = max(0, self.bar.layout().spacing()) if self.bar.layout() else 6
        others = sum(max(0, box.sizeHint().width() - label.sizeHint().width()) + spacing
                     for box, label, _cap in visible if box is not label)
        others += spacing * len(visible) + (16 if self.bar.isSizeGripEnabled() else 0)
        room = self.bar.width() - self.bar.fontMetrics().horizontalAdvance(message) - MESSAGE_MARGIN - others
        over = sum(wants) - room
        spare = [max(0, w - min(MIN_WIDTH, w)) for w in wants]
        for (_box, label, _cap), want, can in zip(visible, wants, spare):
            give = 0 if over <= 0 or not sum(spare) else min(can, -(-over * can // sum(spare)))
            self._cap(_box, label, max(min(MIN_WIDTH, want), want - give))

    @staticmethod
    def _cap(box: QWidget, label: ElidedLabel, width: int) -> None:
        if label.maximumWidth() == width:
            return
        label.setMaximumWidth(width)
        if box is not label and box.layout() is not None:
            box.layout().invalidate()        # a widget inside a widget: its box must ask the bar again
        box.updateGeometry()
