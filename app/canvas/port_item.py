"""A port: the dot on a block's edge where a wire starts (output, right) or ends (input, left)."""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from .. import theme

RADIUS = 5.0
HIT_RADIUS = 11.0


class PortItem(QGraphicsItem):
    """Child of a BlockItem; knows only its direction and index (the block id is its parent's)."""

    def __init__(self, parent, is_output: bool, index: int):
        super().__init__(parent)
        self.is_output = is_output
        self.index = index
        self.connected = False
        self.highlight = 0          # 0 none, 1 compatible (during a wire drag), 2 the target under the cursor
        self.hovered = False
        self.setAcceptHoverEvents(True)
        self.setZValue(2)
        self.setCursor(Qt.CursorShape.CrossCursor)

    @property
    def block_id(self) -> str:
        return self.parentItem().block_id

    def key(self) -> tuple[str, bool, int]:
        return (self.block_id, self.is_output, self.index)

    def boundingRect(self) -> QRectF:
        return QRectF(-HIT_RADIUS, -HIT_RADIUS, 2 * HIT_RADIUS, 2 * HIT_RADIUS)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addEllipse(QPointF(0, 0), HIT_RADIUS, HIT_RADIUS)
        return path

    def set_highlight(self, level: int) -> None:
        if level != self.highlight:
            self.highlight = level
            self.update()

    def set_connected(self, connected: bool) -> None:
        if connected != self.connected:
            self.connected = connected
            self.update()

    def accent_colour(self) -> QColor:
        return self.parentItem().accent

    def paint(self, painter, option, widget=None) -> None:
        t = theme.current()
        accent = self.accent_colour()
        r = RADIUS + (1.5 if self.hovered or self.highlight == 2 else 0.0)
        if self.highlight:
            glow = QColor(t.port_highlight)
            glow.setAlpha(70 if self.highlight == 1 else 120)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(glow)
            painter.drawEllipse(QPointF(0, 0), r + 5, r + 5)
        ring = t.port_highlight if self.highlight else (accent if self.connected or self.hovered else t.port)
        painter.setPen(QPen(ring, 2.0))
        painter.setBrush(QBrush(ring if (self.connected or self.highlight == 2) else t.block))
        painter.drawEllipse(QPointF(0, 0), r, r)

    def hoverEnterEvent(self, event) -> None:
        self.hovered = True
        describe = getattr(self.scene(), "port_tooltip", None)
        if describe is not None and type(self) is PortItem:     # a group card's ports say their own words
            self.setToolTip(describe(self))              # now: shapes and wires change between hovers
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self.hovered = False
        self.update()
