"""A line or two of text that changes many times a second (progress, readouts, titles of live views).

A QLabel asks its parent layout to recompute whenever its text changes, and that request climbs
to the main window: twenty readout updates a second meant twenty relayouts of every dock and the
repaints that follow, on the GUI thread that shares the GIL with training. This widget has a fixed
height and paints its (HTML) text itself, so a new text is one small repaint and nothing else.
With `max_lines` above `lines` it grows (up to that many lines) when a text wraps to more lines than
it has, and shrinks back (never under `lines`) when it needs fewer: a change of height, and so one
relayout, comes only when the number of lines changes (a narrow dock, a longer kind of text), never
with each new figure.
"""
from __future__ import annotations

from PySide6.QtCore import QEvent, QPointF, QSize
from PySide6.QtGui import QPainter, QTextDocument, QTextOption
from PySide6.QtWidgets import QSizePolicy, QWidget


class LiveLabel(QWidget):
    def __init__(self, lines: int = 1, muted: bool = True, font_delta: float = 0.0, indent: int = 0, parent=None,
                 max_lines: int = 0):
        super().__init__(parent)
        self.lines = lines
        self.max_lines = max(lines, max_lines)
        self.indent = indent
        self.muted = muted
        self._text = ""
        self.doc = QTextDocument(self)
        self.doc.setDocumentMargin(0)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WordWrap if self.max_lines > 1 else QTextOption.WrapMode.NoWrap)
        self.doc.setDefaultTextOption(option)
        if font_delta:
            f = self.font()
            f.setPointSizeF(max(7.0, f.pointSizeF() + font_delta))
            self.setFont(f)
        self.doc.setDefaultFont(self.font())
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        self.shown_lines = lines
        self.keep_lines = False      # True: a new text may add lines but not take them away (see hold_lines)
        self.setFixedHeight(self._height(lines))
        self._restyle()

    def _height(self, lines: int) -> int:
        return self.fontMetrics().lineSpacing() * lines + 4

    def _fit(self) -> None:
        """Between `lines` and `max_lines`, as many lines as the text takes at this width (and as high
        as those lines are in the current font)."""
        lines = self.lines
        if self.max_lines > self.lines:
            self.doc.setTextWidth(max(10, self.width() - 2 * self.indent))
            self.doc.documentLayout().documentSize()         # lays the text out at this width
            needed, block = 0, self.doc.begin()
            while self._text and block.isValid():
                needed += block.layout().lineCount()
                block = block.next()
            lines = min(self.max_lines, max(self.lines, needed))
            if self.keep_lines:
                lines = max(lines, self.shown_lines)
        if lines != self.shown_lines or self.height() != self._height(lines):
            self.shown_lines = lines
            self.setFixedHeight(self._height(lines))

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.oldSize().width() != event.size().width():
            self._fit()

    def sizeHint(self) -> QSize:
        return QSize(200, self.height())

    def minimumSizeHint(self) -> QSize:
        return QSize(20, self.height())

    def text(self) -> str:
        return self._text

    def hold_lines(self, hold: bool) -> None:
        """While held, texts keep the lines the label has (a short sentence between two readouts of two lines
        would take one away and give it back: two relayouts of everything under the label)."""
        if hold == self.keep_lines:
            return
        self.keep_lines = hold
        if not hold:
            self._fit()

    def plain_text(self) -> str:
        return self.doc.toPlainText()

    def setText(self, text: str) -> None:
        if text == self._text:
            return
        self._text = text
        self.doc.setHtml(text)
        self._fit()
        self.update()

    def _restyle(self) -> None:
        colour = self.palette().placeholderText().color() if self.muted else self.palette().text().color()
        self.doc.setDefaultStyleSheet(f"body {{ color: {colour.name()}; }}")
        self.doc.setHtml(self._text)

    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange):
            self.doc.setDefaultFont(self.font())
            self._restyle()
            self._fit()
        super().changeEvent(event)

    def paintEvent(self, event) -> None:
        if not self._text:
            return
        p = QPainter(self)
        self.doc.setTextWidth(max(10, self.width() - 2 * self.indent))
        p.translate(QPointF(self.indent, 2))
        self.doc.drawContents(p)
