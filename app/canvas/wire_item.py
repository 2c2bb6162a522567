"""A wire: an anti-aliased bezier from an output port to an input port, labelled with its tensor shape."""
from __future__ import annotations

from functools import lru_cache

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainterPath, QPainterPathStroker, QPen
from PySide6.QtWidgets import QGraphicsItem

from .. import theme

LABEL_FONT_PX = 10


@lru_cache(maxsize=512)
def label_size(text: str) -> tuple[float, float]:
    fm = QFontMetricsF(theme.ui_font(LABEL_FONT_PX))
    return fm.horizontalAdvance(text) + 10, fm.height() + 4


BACK_DIP = 60.0        # a wire back to a block on (nearly) the same row runs this far below both ports


def bezier(a: QPointF, b: QPointF) -> QPainterPath:
    """A horizontal S-curve from output port `a` to input port `b`. A wire that runs backwards (to a
    block further left, as from the end of one row of a wrapped layout to the start of the next) leaves
    `a` rightwards, turns back, runs level halfway between the two ports (or below both when they are
    on one row), and turns again into `b` from its left: it never cuts diagonally across the blocks."""
    dx = b.x() - a.x()
    path = QPainterPath(a)
    if dx >= -20:
        reach = max(50.0, dx * 0.5) if dx >= 0 else 90.0
        path.cubicTo(QPointF(a.x() + reach, a.y()), QPointF(b.x() - reach, b.y()), b)
        return path
    level = (a.y() + b.y()) / 2 if abs(b.y() - a.y()) >= 2 * BACK_DIP / 3 else max(a.y(), b.y()) + BACK_DIP
    out = max(16.0, abs(level - a.y()) * 2 / 3)      # a U-turn's control points: about a half circle
    into = max(16.0, abs(b.y() - level) * 2 / 3)
    path.cubicTo(QPointF(a.x() + out, a.y()), QPointF(a.x() + out, level), QPointF(a.x(), level))
    path.lineTo(QPointF(b.x(), level))
    path.cubicTo(QPointF(b.x() - into, level), QPointF(b.x() - into, b.y()), b)
    return path


CARD_REACH = 78.0      # a card's least height: ports closer in height than this have their cards side by side


def crowded(a: QPointF, b: QPointF, width: float) -> bool:
    """Whether a pill `width` wide at the middle of a forward wire from `a` to `b` would lie under the cards at
    its ends (two blocks placed close side by side): it is then left out, the cards show the shape already."""
    return 0 <= b.x() - a.x() < width + 4 and abs(b.y() - a.y()) < CARD_REACH


class WireItem(QGraphicsItem):
    """A wire of the document (`edge` set) or the live wire of a drag (`edge` None)."""

    def __init__(self, edge=None):
        super().__init__()
        self.edge = edge
        self.label = ""
        self.note = ""           # a second line under the pill (Step mode: the gradient flowing back)
        self.broken = False       # the source has no shape (error upstream): drawn dashed
        self.live = edge is None
        self._a = QPointF()
        self._b = QPointF()
        self._path = QPainterPath()
        self._label_rect = QRectF()
        self._stroke = QPainterPath()
        self._hit = QPainterPath()
        self.setZValue(3 if self.live else 0)
        if not self.live:
            self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
            self.setAcceptHoverEvents(True)
        self._hover = False

    def set_ends(self, a: QPointF, b: QPointF) -> None:
        if a == self._a and b == self._b and not self._path.isEmpty():
            return
        self.prepareGeometryChange()
        self._a, self._b = QPointF(a), QPointF(b)
        self._path = bezier(self._a, self._b)
        stroker = QPainterPathStroker()
        stroker.setWidth(12)
        self._stroke = stroker.createStroke(self._path)
        self._layout_label()

    def set_label(self, text: str, broken: bool = False) -> None:
        if text == self.label and broken == self.broken:
            return
        self.prepareGeometryChange()
        self.label, self.broken = text, broken
        self._layout_label()
        self.update()

    def set_note(self, text: str) -> None:
        if text == self.note:
            return
        self.prepareGeometryChange()
        self.note = text
        self._layout_label()
        self.update()

    def _note_rect(self) -> QRectF:
        if not self.note or self._label_rect.isNull():
            return QRectF()
        w, h = label_size(self.note)
        r = self._label_rect
        return QRectF(r.center().x() - w / 2, r.bottom() + 2, w, h)

    def _layout_label(self) -> None:
        self._label_rect = QRectF()
        if self.label:
            w, h = label_size(self.label)
            mid = self._path.pointAtPercent(0.5)
            if not crowded(self._a, self._b, w):
                self._label_rect = QRectF(mid.x() - w / 2, mid.y() - h / 2, w, h)
        self._hit = QPainterPath(self._stroke)
        if not self._label_rect.isNull():
            self._hit.addRoundedRect(self._label_rect, 6, 6)

    def boundingRect(self) -> QRectF:
        return self._path.boundingRect().adjusted(-8, -8, 8, 8).united(self._label_rect.adjusted(-2, -2, 2, 2)) \
            .united(self._note_rect().adjusted(-2, -2, 2, 2))

    def shape(self) -> QPainterPath:
        return self._hit

    def label_rect(self) -> QRectF:
        return QRectF(self._label_rect)

    def paint(self, painter, option, widget=None) -> None:
        t = theme.current()
        selected = self.isSelected()
        colour = t.wire_selected if (selected or self.live) else t.wire
        if self._hover and not selected:
            colour = colour.lighter(120) if t.dark else colour.darker(125)
        pen = QPen(colour, 3.0 if selected else 2.0)
        pen.setCapStyle(Qt.PenCapStyle.RoundCap)
        if self.broken or self.live:
            pen.setStyle(Qt.PenStyle.DashLine)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self._path)
        lod = theme.legibility(option, painter)
        if self.label and lod >= 0.35:
            border = QColor(colour)
            border.setAlpha(160)
            painter.setPen(QPen(border, 1.0))
            painter.setBrush(t.pill)
            r = self._label_rect
            painter.drawRoundedRect(r, r.height() / 2, r.height() / 2)
            painter.setFont(theme.ui_font(LABEL_FONT_PX))
            painter.setPen(t.error if self.broken else t.pill_text)
            painter.drawText(r, Qt.AlignmentFlag.AlignCenter, self.label)
            if self.note:
                painter.setPen(t.warning)
                painter.drawText(self._note_rect(), Qt.AlignmentFlag.AlignCenter, self.note)

    def hoverEnterEvent(self, event) -> None:
        self._hover = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self._hover = False
        self.update()
