"""A block on the canvas: a rounded card with a category-coloured header, short params and output shape.

The item holds its block id and a `Look` (what to draw), which the scene computes from the document
and the analysis. It never reads or changes the document itself.
"""
from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from .. import theme
from .port_item import PortItem

WIDTH = 132.0
HEADER = 26.0
MIN_HEIGHT = 78.0
PORT_STEP = 20.0
RADIUS = 8.0
LOCK_ROOM = 16.0
NAME_ROOM = 46.0           # at most this much of the card's width for the names of named inputs


@dataclass(frozen=True)
class Look:
    kind: str = ""
    category: str = ""
    label: str = ""          # short params, e.g. "6→16 k5"
    shape: str = ""          # output shape, e.g. "16×5×5"
    status: str = "ok"       # ok | warning | error | blocked
    tooltip: str = ""
    inputs: int = 1
    outputs: int = 1
    frozen: bool = False     # trainable switch off: a padlock in the header, which is drawn faded
    input_names: tuple[str, ...] = ()   # named inputs (attention's query, key, value) written by their ports


def block_height(inputs: int, outputs: int) -> float:
    return max(MIN_HEIGHT, HEADER + 14 + max(inputs, outputs) * PORT_STEP)


class BlockItem(QGraphicsItem):
    def __init__(self, block_id: str, look: Look):
        super().__init__()
        self.block_id = block_id
        self.look = Look(inputs=-1)   # forces the first set_look to build the ports
        self.in_ports: list[PortItem] = []
        self.out_ports: list[PortItem] = []
        self.height = MIN_HEIGHT
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, True)
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemSendsGeometryChanges, True)
        self.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
        self.setAcceptHoverEvents(True)
        self.setZValue(1)
        self.set_look(look)

    # -- state --------------------------------------------------------------------------------
    @property
    def accent(self) -> QColor:
        return theme.current().category(self.look.category)

    def header_colour(self, t) -> QColor:
        """The category colour, faded towards the body's for a frozen block (training leaves it alone)."""
        if not self.look.frozen:
            return self.accent
        return QColor.fromRgbF(*(0.45 * a + 0.55 * b for a, b in zip(self.accent.getRgbF()[:3], t.block.getRgbF()[:3])))

    def ink(self, t) -> QColor:
        """Text and marks on the header: dark on a light header, white on a dark one."""
        return QColor("#111827") if self.header_colour(t).lightnessF() > 0.62 else QColor("#ffffff")

    def set_look(self, look: Look) -> None:
        if look == self.look:
            return
        ports_changed = (look.inputs, look.outputs) != (self.look.inputs, self.look.outputs)
        if ports_changed:
            self.prepareGeometryChange()
            self.height = block_height(look.inputs, look.outputs)
        self.look = look
        if ports_changed:
            self._build_ports()
        self.setToolTip(self._tooltip(look))
        self.setOpacity(0.45 if look.status == "blocked" else 1.0)
        self.update()

    @staticmethod
    def _tooltip(look: Look) -> str:
        """The scene's tooltip, and the card's settings line in full where the card has to elide it."""
        if not look.label or QFontMetricsF(theme.ui_font(13)).horizontalAdvance(look.label) <= WIDTH - 20:
            return look.tooltip
        return f"{look.tooltip}<br>Settings: {html.escape(look.label)}"

    def _build_ports(self) -> None:
        for p in self.in_ports + self.out_ports:
            p.setParentItem(None)
            if p.scene() is not None:
                p.scene().removeItem(p)
        self.in_ports = [PortItem(self, False, i) for i in range(self.look.inputs)]
        self.out_ports = [PortItem(self, True, i) for i in range(self.look.outputs)]
        for ports, x in ((self.in_ports, 0.0), (self.out_ports, WIDTH)):
            for p in ports:
                p.setPos(x, self.port_y(p.index, len(ports)))

    def port_y(self, index: int, count: int) -> float:
        count = max(count, index + 1)
        return HEADER + (self.height - HEADER) * (index + 1) / (count + 1)

    def port_pos(self, is_output: bool, index: int) -> QPointF:
        """Scene position of a port (also for a wire into a port the block no longer has)."""
        ports = self.out_ports if is_output else self.in_ports
        x = WIDTH if is_output else 0.0
        return self.mapToScene(QPointF(x, self.port_y(index, len(ports))))

    def port(self, is_output: bool, index: int) -> PortItem | None:
        ports = self.out_ports if is_output else self.in_ports
        return ports[index] if 0 <= index < len(ports) else None

    # -- Qt -----------------------------------------------------------------------------------
    def boundingRect(self) -> QRectF:
        return QRectF(-4, -12, WIDTH + 16, self.height + 20)

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRoundedRect(QRectF(0, 0, WIDTH, self.height), RADIUS, RADIUS)
        return path

    def itemChange(self, change, value):
        if change == QGraphicsItem.GraphicsItemChange.ItemPositionHasChanged and self.scene() is not None:
            self.scene().block_item_moved(self)
        elif change == QGraphicsItem.GraphicsItemChange.ItemSelectedHasChanged:
            self.setZValue(2 if value else 1)
        return super().itemChange(change, value)

    def paint(self, painter, option, widget=None) -> None:
        t = theme.current()
        look = self.look
        rect = QRectF(0, 0, WIDTH, self.height)
        lod = theme.legibility(option, painter)

        # soft shadow
        painter.setPen(Qt.PenStyle.NoPen)
        for grow, share in ((3.0, 3), (1.5, 2)):
            shadow = QColor(t.block_shadow)
            shadow.setAlpha(shadow.alpha() // share)
            painter.setBrush(shadow)
            painter.drawRoundedRect(rect.adjusted(-grow, -grow + 2, grow, grow + 2), RADIUS + grow, RADIUS + grow)

        # body and header strip
        body = QPainterPath()
        body.addRoundedRect(rect, RADIUS, RADIUS)
        painter.fillPath(body, t.block)
        header = QPainterPath()
        header.addRect(QRectF(0, 0, WIDTH, HEADER))
        painter.fillPath(body.intersected(header), self.header_colour(t))

        # border: selection, error, warning
        if self.isSelected():
            pen = QPen(t.selection, 2.5)
        elif look.status == "error":
            pen = QPen(t.error, 2.0)
        else:
            pen = QPen(t.block_border, 1.0)
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(rect, RADIUS, RADIUS)

        if lod >= 0.3:
            self._paint_text(painter, t)
        if look.status in ("error", "warning"):
            self._paint_badge(painter, t)
        if look.frozen and lod >= 0.3:
            self._paint_lock(painter, t)

    def header_texts(self) -> tuple[str, float, str, float]:
        """(kind, its width, id, its width) as the header shows them: the kind first, the id in the room left,
        elided in the middle (its number stays) but never dropped; the tooltip holds both in full."""
        look = self.look
        id_fm, kind_fm = QFontMetricsF(theme.ui_font(10)), QFontMetricsF(theme.ui_font(14, bold=True))
        badge_room = (12 if look.status in ("error", "warning") else 0) + (LOCK_ROOM if look.frozen else 0)
        # the kind stays whole where it fits; one elided anyway leaves the id a readable room
        avail = WIDTH - 18 - badge_room
        kind_full = kind_fm.horizontalAdvance(look.kind)
        least, readable = (min(id_fm.horizontalAdvance(self.block_id), id_fm.horizontalAdvance(t))
                           for t in ("m…2", "mm…m2"))
        kind_w = kind_full if kind_full <= avail else avail - 8 - readable
        room = WIDTH - 10 - 8 - badge_room - kind_w - 8
        id_text = id_fm.elidedText(self.block_id, Qt.TextElideMode.ElideMiddle, room) if room >= least else ""
        kind = kind_fm.elidedText(look.kind, Qt.TextElideMode.ElideRight, kind_w + 1)
        return kind, kind_w, id_text, id_fm.horizontalAdvance(id_text)

    def _paint_text(self, painter, t) -> None:
        look = self.look
        on_accent = self.ink(t)
        badge_room = (12 if look.status in ("error", "warning") else 0) + (LOCK_ROOM if look.frozen else 0)
        kind, kind_w, id_text, id_w = self.header_texts()
        painter.setFont(theme.ui_font(10))
        id_color = QColor(on_accent)
        id_color.setAlpha(200)
        painter.setPen(id_color)
        if id_text:
            painter.drawText(QRectF(WIDTH - 8 - badge_room - id_w, 0, id_w + 2, HEADER),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, id_text)
        painter.setFont(theme.ui_font(14, bold=True))
        painter.setPen(on_accent)
        painter.drawText(QRectF(9, 0, kind_w + 2, HEADER), Qt.AlignmentFlag.AlignVCenter, kind)

        body_top = HEADER + 4
        lines = (self.height - body_top - 4)
        label_font = theme.ui_font(13)
        small = theme.ui_font(12)
        left = 10 + self._paint_input_names(painter, t)
        if look.label:
            painter.setFont(label_font)
            painter.setPen(t.text)
            text = QFontMetricsF(label_font).elidedText(look.label, Qt.TextElideMode.ElideRight, WIDTH - 10 - left)
            painter.drawText(QRectF(left, body_top, WIDTH - 10 - left, lines / 2), Qt.AlignmentFlag.AlignVCenter, text)
            shape_rect = QRectF(left, body_top + lines / 2, WIDTH - 10 - left, lines / 2)
        else:
            shape_rect = QRectF(left, body_top, WIDTH - 10 - left, lines)
        painter.setFont(small)
        if look.status == "error":
            painter.setPen(t.error)
        else:
            painter.setPen(t.text_muted)
        shape = QFontMetricsF(small).elidedText(look.shape, Qt.TextElideMode.ElideRight, shape_rect.width())
        painter.drawText(shape_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, shape)

    def _paint_input_names(self, painter, t) -> float:
        """The names of named inputs beside their ports (query, key, value); returns the room they take."""
        names = self.look.input_names if len(self.look.input_names) > 1 else ()
        if not names:
            return 0.0
        font = theme.ui_font(10)
        fm = QFontMetricsF(font)
        room = min(NAME_ROOM, max(fm.horizontalAdvance(n) for n in names))
        painter.setFont(font)
        painter.setPen(t.text_muted)
        for i, name in enumerate(names):
            y = self.port_y(i, len(names))
            text = fm.elidedText(name, Qt.TextElideMode.ElideRight, room + 1)
            painter.drawText(QRectF(9, y - 8, room + 2, 16), Qt.AlignmentFlag.AlignVCenter, text)
        return room + 6

    def _paint_badge(self, painter, t) -> None:
        colour = t.error if self.look.status == "error" else t.warning
        centre = QPointF(WIDTH - 2, -1)
        painter.setPen(QPen(t.block, 2.0))
        painter.setBrush(colour)
        painter.drawEllipse(centre, 9, 9)
        painter.setPen(QColor("#ffffff"))
        painter.setFont(theme.ui_font(12, bold=True))
        painter.drawText(QRectF(centre.x() - 9, centre.y() - 9, 18, 18), Qt.AlignmentFlag.AlignCenter, "!")

    def _paint_lock(self, painter, t) -> None:
        """A small padlock at the right of the header (drawn, so it needs no font glyph)."""
        right = WIDTH - 8 - (12 if self.look.status in ("error", "warning") else 0)
        body = QRectF(right - 11, HEADER / 2 - 1, 11, 8)
        ink = self.ink(t)
        painter.setPen(QPen(ink, 1.6))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawArc(QRectF(body.left() + 2, body.top() - 6, 7, 11), 0, 180 * 16)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(ink)
        painter.drawRoundedRect(body, 1.5, 1.5)
