"""Room in the status bar: its permanent labels (the analysis summary, the training status) give way to a
temporary message, so "Training stopped: the graph can be edited again." is shown in full even at 1280 px.

`ElidedLabel` shows its text, or the longest of its shorter forms that fits (the part that matters kept:
"Training: 38% · ETA 0:12" rather than "Training: epoch 2/5 · 38% · ET…"), else as much of the shortest as
fits, ending in "…"; the full text is in its tooltip whenever it is not shown.
`MessageBar` is the window's status bar: where even then its message does not fit (the narrowest window), it
is cut with "…" like the labels beside it, and the whole message is its tooltip.
`StatusRoom` watches the bar: while a message is shown, it caps the labels' widths so the message fits
(each label gives up room in proportion to what it can spare); when the message goes, the caps go too.
"""
from __future__ import annotations

import shiboken6
from PySide6.QtCore import QEvent, QObject, QRect, QSize, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QLabel, QSizeGrip, QStatusBar, QStyle, QStyleOption, QToolTip, QWidget

MIN_WIDTH = 60          # a label never shrinks below this (a few words and "…")
MESSAGE_MARGIN = 28     # the bar's left margin and the gap before the first permanent widget
UNCAPPED = 16_777_215   # QWIDGETSIZE_MAX


class ElidedLabel(QLabel):
    """A one-line label that fits its text to its width (a shorter form, else "…"); `text()` is always the
    full text."""
    text_changed = Signal()

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._full = ""
        self._shorter: tuple[str, ...] = ()      # shorter forms of the text, longest first
        self._tip = ""
        self.setTextFormat(Qt.TextFormat.PlainText)

    def text(self) -> str:
        return self._full

    def shown_text(self) -> str:
        return super().text()

    def elided(self) -> bool:
        return super().text() != self._full

    def setText(self, text: str) -> None:
        self.set_texts(text)

    def set_texts(self, text: str, *shorter: str) -> None:
        """Show `text`, or where it does not fit the first of the `shorter` forms (longest first) that does."""
        if (text, shorter) == (self._full, self._shorter):
            return
        self._full, self._shorter = text, shorter
        self._elide()
        self.updateGeometry()
        self.text_changed.emit()

    def setToolTip(self, tip: str) -> None:
        self._tip = tip
        self._elide()

    def full_width(self) -> int:
        return self._width_of(self._full)

    def sizeHint(self) -> QSize:
        return QSize(self.full_width(), super().sizeHint().height())

    def minimumSizeHint(self) -> QSize:
        return QSize(min(MIN_WIDTH, self.full_width()), super().minimumSizeHint().height())

    def _width_of(self, text: str) -> int:
        m = self.contentsMargins()
        return self.fontMetrics().horizontalAdvance(text) + m.left() + m.right() + 2

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def _elide(self) -> None:
        m = self.contentsMargins()
        room = self.width() - m.left() - m.right() - 2
        forms = (self._full, *self._shorter)
        shown = next((t for t in forms if self._width_of(t) <= self.width()), None)
        if shown is None:
            shown = self.fontMetrics().elidedText(forms[-1], Qt.TextElideMode.ElideRight, max(0, room))
        super().setText(shown)
        tip = self._full if shown != self._full else ""
        super().setToolTip("\n\n".join(t for t in (tip, self._tip) if t))


class MessageBar(QStatusBar):
    """A status bar whose temporary message ends in "…" where it is cut, with the whole message in its tooltip
    (QStatusBar itself clips it mid-letter). It paints as QStatusBar does: the panel, a frame per permanent
    widget shown, then the message left of them."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._permanent: list[QWidget] = []

    def addPermanentWidget(self, widget: QWidget, stretch: int = 0) -> None:
        self._permanent.append(widget)
        super().addPermanentWidget(widget, stretch)

    def insertPermanentWidget(self, index: int, widget: QWidget, stretch: int = 0) -> int:
        self._permanent.append(widget)
        return super().insertPermanentWidget(index, widget, stretch)

    def removeWidget(self, widget: QWidget) -> None:
        if widget in self._permanent:
            self._permanent.remove(widget)
        super().removeWidget(widget)

    def _shown(self) -> list[QWidget]:
        """The permanent widgets shown; one deleted without removeWidget is forgotten."""
        self._permanent = [w for w in self._permanent if shiboken6.isValid(w)]
        return [w for w in self._permanent if w.isVisible() and w.parentWidget() is self]

    def message_rect(self) -> QRect:
        """Where the message is drawn: from the bar's left edge to the first permanent widget shown (mirrored
        right to left)."""
        rtl = self.layoutDirection() == Qt.LayoutDirection.RightToLeft
        left, right = 6, self.width() - 12
        edges = [w.geometry() for w in self._shown()]
        edges += [g.geometry() for g in self.findChildren(QSizeGrip, options=Qt.FindChildOption.FindDirectChildrenOnly)
                  if g.isVisible()]
        for g in edges:
            if rtl:
                left = max(left, g.right() + 3)
            else:
                right = min(right, g.left() - 2)
        return QRect(left, 0, max(0, right - left), self.height())

    def shown_message(self) -> str:
        """The message as drawn: whole, or cut with "…" to its room."""
        return self.fontMetrics().elidedText(self.currentMessage(), Qt.TextElideMode.ElideRight,
                                             self.message_rect().width())

    def paintEvent(self, event) -> None:
        if not self.currentMessage():
            super().paintEvent(event)
            return
        p = QPainter(self)
        opt = QStyleOption()
        opt.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelStatusBar, opt, p, self)
        for w in self._shown():
            frame = QStyleOption()
            frame.rect = w.geometry().adjusted(-2, -1, 2, 1)
            frame.palette = self.palette()
            frame.state = QStyle.StateFlag.State_None
            self.style().drawPrimitive(QStyle.PrimitiveElement.PE_FrameStatusBarItem, frame, p, w)
        p.setPen(self.palette().windowText().color())
        p.drawText(self.message_rect(), Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter |
                   Qt.TextFlag.TextSingleLine, self.shown_message())

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            message = self.currentMessage()
            if message and self.shown_message() != message and self.message_rect().contains(event.pos()):
                QToolTip.showText(event.globalPos(), message, self, self.message_rect())
                return True
        return super().event(event)


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
        label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)   # a shorter form's spare
        label.setMaximumWidth(cap)                                                          # room goes to the message
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
