"""Groups on the canvas: the blocks of one module (an imported `layer1`) framed together, collapsible.

A block's `group` is its module path (`layer1.0`); the canvas tints the blocks of each top-level
module (`layer1`) alike and puts a header above its first block that names it and gives its block
count, parameters and MACs. A click on the header collapses the group into one card where its first
block was: it shows what goes in and comes out
(the shapes of the wires that cross the frame), the parameter count and the MACs; the wires that cross
the frame end on the card's sides. Another click expands it again. Collapsing changes only the view
(nothing in the document, nothing to undo).
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from layerloom.graph.diagnostics import shape_text
from layerloom.graph.summary import cost_text, human

from .. import theme

HEADER = 24.0
MARGIN = 7.0
CARD_W, CARD_H = 250.0, 104.0
HUES = (215, 150, 35, 280, 0, 190)         # neighbouring groups get different tints


def top_group(group: str) -> str:
    return group.split(".", 1)[0] if group else ""


class GroupItem(QGraphicsItem):
    def __init__(self, layer: "GroupLayer", name: str):
        super().__init__()
        self.layer, self.name = layer, name
        self.members: list[str] = []
        self.collapsed = False
        self.frame = QRectF()                 # all members, for the bounding rect
        self.rects: list[QRectF] = []         # each member's card, for the tint
        self.origin = QPointF()               # the first member's corner: the header and the card go here
        self.hue = HUES[0]
        self.summary = ""
        self.ins: list[str] = []
        self.outs: list[str] = []
        self.setZValue(-1)
        self.setAcceptedMouseButtons(Qt.MouseButton.LeftButton)
        self.setToolTip(f"Module {name}: click the header to collapse or expand it")

    # -- geometry ---------------------------------------------------------------------------------
    def card(self) -> QRectF:
        return QRectF(self.origin.x(), self.origin.y(), CARD_W, CARD_H)

    def header(self) -> QRectF:
        if self.collapsed:
            return QRectF(self.origin.x(), self.origin.y(), CARD_W, HEADER)
        return QRectF(self.origin.x() - MARGIN, self.origin.y() - MARGIN - HEADER, CARD_W, HEADER)

    def boundingRect(self) -> QRectF:
        return (self.card() if self.collapsed else self.frame.united(self.header())).adjusted(-2, -2, 2, 2)

    def shape(self) -> QPainterPath:
        """Only the header (or the whole card) takes clicks: the frame's inside stays the canvas's."""
        path = QPainterPath()
        path.addRect(self.card() if self.collapsed else self.header())
        return path

    def anchor(self, is_output: bool) -> QPointF:
        card = self.card()
        return QPointF(card.right() if is_output else card.left(), card.center().y() + HEADER / 2)

    # -- state ------------------------------------------------------------------------------------
    def place(self) -> None:
        items = [self.layer.scene.blocks[b] for b in self.members if b in self.layer.scene.blocks]
        rects = [QRectF(i.pos().x(), i.pos().y(), i.shape().boundingRect().width(),
                        i.shape().boundingRect().height()).adjusted(-MARGIN, -MARGIN, MARGIN, MARGIN) for i in items]
        frame = QRectF()
        for r in rects:
            frame = frame.united(r)
        origin = min((i.pos() for i in items), key=lambda p: (p.y(), p.x()), default=QPointF())
        if self.collapsed and self.origin != QPointF():
            origin = self.origin                # a collapsed card stays where it is
        self.prepareGeometryChange()
        self.frame, self.rects, self.origin = frame, rects, origin
        self.update()

    def set_collapsed(self, collapsed: bool) -> None:
        self.prepareGeometryChange()
        self.collapsed = collapsed
        if not collapsed:
            self.place()
        self.setZValue(1.5 if collapsed else -1)
        self.layer.apply_visibility()
        self.update()

    def mousePressEvent(self, event) -> None:
        if self.header().contains(event.scenePos()) or self.collapsed:
            self.set_collapsed(not self.collapsed)
            event.accept()
        else:
            event.ignore()

    # -- drawing ----------------------------------------------------------------------------------
    def paint(self, painter, option, widget=None) -> None:
        t = theme.current()
        accent = QColor.fromHsv(self.hue, 150, 200)
        header = self.header()
        if self.collapsed:
            painter.setPen(QPen(accent.darker(120), 1.5))
            painter.setBrush(t.block)
            painter.drawRoundedRect(self.card(), 8, 8)
        else:
            tint = QColor(accent)
            tint.setAlpha(45)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(tint)
            for rect in self.rects:
                painter.drawRoundedRect(rect, 10, 10)
        strip = QColor(accent)
        strip.setAlpha(110 if self.collapsed else 80)
        path = QPainterPath()
        path.addRoundedRect(header, 8, 8)
        painter.fillPath(path, strip)
        painter.setPen(t.text)
        font = theme.ui_font(12, bold=True)
        painter.setFont(font)
        title = f"{'▸' if self.collapsed else '▾'} {self.name}"
        text_rect = header.adjusted(8, 0, -8, 0)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        small = theme.ui_font(11)
        painter.setFont(small)
        fm = QFontMetricsF(small)
        blocks, cost = self.summary.split(" · ", 2)[:2], self.summary.split(" · ", 2)[2:]
        if not self.collapsed:
            room = text_rect.width() - QFontMetricsF(font).horizontalAdvance(title) - 12
            painter.setPen(t.text_muted)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
                             fm.elidedText(" · ".join(blocks), Qt.TextElideMode.ElideRight, max(room, 0)))
            return
        lines = [f"in  {', '.join(self.ins) or '—'}", f"out {', '.join(self.outs) or '—'}", " · ".join(blocks),
                 " · ".join(cost)]
        painter.setPen(t.text)
        y = header.bottom() + 3
        for n, line in enumerate(lines):
            painter.setPen(t.text if n < 2 else t.text_muted)
            painter.drawText(QRectF(header.left() + 10, y, CARD_W - 20, 18), Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(line, Qt.TextElideMode.ElideRight, CARD_W - 20))
            y += 18


class GroupLayer:
    """The group items of one scene, rebuilt when blocks or their groups change."""

    def __init__(self, scene):
        self.scene = scene
        self.items: dict[str, GroupItem] = {}

    def reset(self) -> None:
        for item in self.items.values():
            self.scene.removeItem(item)
        self.items.clear()

    def group_of(self, bid: str) -> GroupItem | None:
        block = self.scene.document.blocks.get(bid)
        return self.items.get(top_group(block.group)) if block is not None else None

    def rebuild(self) -> None:
        collapsed = {name for name, item in self.items.items() if item.collapsed}
        members: dict[str, list[str]] = {}
        for bid, block in self.scene.document.blocks.items():
            name = top_group(block.group)
            if name:
                members.setdefault(name, []).append(bid)
        for name in [n for n in self.items if n not in members]:
            self.scene.removeItem(self.items.pop(name))
        for name, ids in members.items():
            item = self.items.get(name)
            if item is None:
                item = self.items[name] = GroupItem(self, name)
                item.hue = HUES[len(self.items) % len(HUES)]
                self.scene.addItem(item)
            item.members = ids
            item.collapsed = name in collapsed
            item.place()
        self.refresh()
        self.apply_visibility()

    def refresh(self) -> None:
        """Summaries from the latest analysis: blocks, parameters, MACs, and the shapes crossing the frame."""
        result = self.scene.result
        for item in self.items.values():
            inside = set(item.members)
            params = macs = 0
            for bid in item.members:
                r = result.blocks.get(bid) if result is not None else None
                if r is not None and r.ok:
                    params += r.param_count
                    macs += r.macs
            item.summary = f"{len(inside)} blocks · {human(params)} params · {cost_text(macs)}"
            item.ins, item.outs = [], []
            for e in self.scene.document.edges:
                if (e.dst in inside) == (e.src in inside):
                    continue
                r = result.blocks.get(e.src) if result is not None else None
                text = shape_text(r.output_shape) if r is not None and r.ok and r.output_shape is not None else "?"
                (item.ins if e.dst in inside else item.outs).append(text)
            item.ins, item.outs = list(dict.fromkeys(item.ins)), list(dict.fromkeys(item.outs))
            item.update()

    def apply_visibility(self) -> None:
        hidden = {bid for item in self.items.values() if item.collapsed for bid in item.members}
        for bid, block_item in self.scene.blocks.items():
            block_item.setVisible(bid not in hidden)
            if bid in hidden and block_item.isSelected():
                block_item.setSelected(False)
        for edge, wire in self.scene.wires.items():
            wire.setVisible(not (edge.src in hidden and edge.dst in hidden))
            self.scene._place_wire(wire)

    def anchor(self, bid: str, is_output: bool) -> QPointF | None:
        """Where a wire ends on a collapsed group's card (None: on the block itself)."""
        item = self.group_of(bid)
        return item.anchor(is_output) if item is not None and item.collapsed else None

    def moved(self, bid: str) -> None:
        item = self.group_of(bid)
        if item is not None and not item.collapsed:
            item.place()
