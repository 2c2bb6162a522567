"""Groups on the canvas: the blocks of one module (an imported `layer1`, `layer1.0`) framed together,
collapsible at every depth.

A block's `group` is its module path (`layer1.0`); it belongs to that group and to every group above
it (`layer1`). Each group tints its blocks (a little wider for the outer ones, in its top-level
group's hue) under a header above its first block that names it and gives its block count and
parameters; the headers of groups that start at the same block stack, the outermost on top.
A click on a header collapses the group into one card where its first block was: what goes in and
comes out (the shapes of the wires that cross it), the parameter count and the MACs. The wires that
cross it end on the card's sides. Another click expands it in place, and the groups inside come
back as they were. Which groups are collapsed is the document's (`GraphDocument.collapsed`): saved
in the file, and each collapse or expand is one undoable step. Dragging a header or a card moves the
group with every block inside (gestures.GroupGesture). The scene never edits the document: a click
asks the layer's `toggle` callback (the view's), which makes the edit.
"""
from __future__ import annotations

import html
from typing import Callable

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QFontMetricsF, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from layerloom.graph.diagnostics import shape_text
from layerloom.graph.groups import contains, depth, group_names, members, parent, parents, shown_as
from layerloom.graph.summary import cost_text, human

from .. import theme
from .port_item import PortItem

HEADER = 24.0
GAP = 3.0                                  # between stacked headers
MARGIN = 7.0                               # tint around a block of the innermost group
NEST = 6.0                                 # each group further out tints this much wider
CARD_W, CARD_H = 250.0, 104.0            # a card, at most: one as narrow as its group, down to MIN_W
MIN_W = 190.0                              # less than a column step: a one-block group's card leaves the next block free
HUES = (215, 150, 35, 280, 0, 190)         # neighbouring top-level groups get different tints


def rich_tip(*lines: str) -> str:
    """A tooltip of plain lines, each escaped: group names and block ids come from files and the clipboard
    (`<img src=…>` shows as typed, never read as markup). Marked as rich text (<qt>) so Qt never guesses."""
    return "<qt>" + "<br>".join(html.escape(line) for line in lines) + "</qt>"


def group_tip(name: str, bad: list[str] = ()) -> str:
    """A group's header and card tooltip; `bad`: the blocks inside with problems."""
    lines = [f"Module {name}: click the header to collapse or expand it; right-click for more"]
    if bad:
        lines.append(f"Problems in {', '.join(bad[:6])}{' …' if len(bad) > 6 else ''}")
    return rich_tip(*lines)


def top_group(group: str) -> str:
    return group.split(".", 1)[0] if group else ""


class CardPort(PortItem):
    """A port on a collapsed group's card, wired as a block's port is (app/canvas/gestures.NewWireGesture).
    An output port stands for the inner output it carries out: a wire from it starts at that output
    (`block_id` and `index` are that block's and port's). An input port stands for the outside output
    it carries in (`source`): a wire into it feeds the group from another output instead, every wire
    that carried `source` in at once (edits.feed_group)."""

    def __init__(self, card: "GroupItem", is_output: bool, slot: int, source: tuple[str, int]):
        super().__init__(card, is_output, source[1])
        self.card, self.slot, self.source = card, slot, source
        self.connected = True                    # placed on the card by GroupItem.place_ports
        if is_output:
            self.setToolTip(rich_tip(f"{card.name}'s output from {source[0]}: drag from here to wire it into a "
                                     "block"))
        else:
            self.setToolTip(rich_tip(f"{card.name}'s input, from {source[0]}: drop a wire here to feed {card.name} "
                                     "from another output instead"))

    @property
    def block_id(self) -> str:
        return self.source[0]

    def accent_colour(self) -> QColor:
        return self.card.accent()


class GroupItem(QGraphicsItem):
    def __init__(self, layer: "GroupLayer", name: str):
        super().__init__()
        self.layer, self.name = layer, name
        self.depth = depth(name)
        self.members: list[str] = []          # every block inside, subgroups' blocks included
        self.collapsed = False
        self.frame = QRectF()                 # the tinted pieces, for the bounding rect
        self.rects: list[QRectF] = []         # each piece (a block, or a collapsed subgroup's card), tinted
        self.origin = QPointF()               # the first member's corner: the card goes here
        self.width = CARD_W                   # of the card and the header: no wider than the group's blocks
        self.problems = (0, 0)                # errors and warnings of the blocks inside (shown on the card)
        self.stack = 0                        # expanded subgroups whose headers sit under this one's
        self.lift = MARGIN                    # how far above the origin this group's tint starts
        self.hue = HUES[0]
        self.summary = ""
        self.ins: list[str] = []
        self.outs: list[str] = []
        self.in_ports: list[tuple[str, int]] = []     # each outside output wired in: (block, port)
        self.out_ports: list[tuple[str, int]] = []    # each inside output wired out: (block, port)
        self.ports: list[CardPort] = []               # the card's port items, for those two (inputs first)
        self.setZValue(-1)
        self.setToolTip(group_tip(name))

    # -- geometry ---------------------------------------------------------------------------------
    def card(self) -> QRectF:
        return QRectF(self.origin.x(), self.origin.y(), self.width, CARD_H)

    def header(self) -> QRectF:
        if self.collapsed:
            return QRectF(self.origin.x(), self.origin.y(), self.width, HEADER)
        bottom = self.origin.y() - self.lift - self.stack * (HEADER + GAP)
        return QRectF(self.origin.x() - self.lift, bottom - HEADER, self.width + 2 * self.lift, HEADER)

    def boundingRect(self) -> QRectF:
        return (self.card() if self.collapsed else self.frame.united(self.header())).adjusted(-2, -2, 2, 2)

    def shape(self) -> QPainterPath:
        """Only the header (or the whole card) takes clicks: the frame's inside stays the canvas's."""
        path = QPainterPath()
        path.addRect(self.card() if self.collapsed else self.header())
        return path

    def anchor(self, is_output: bool, index: int = 0) -> QPointF:
        """Where the card's input (or output) port `index` is: spread down its side, below the header."""
        card = self.card()
        count = max(1, len(self.out_ports if is_output else self.in_ports))
        step = (card.height() - HEADER) / (count + 1)
        return QPointF(card.right() if is_output else card.left(), card.top() + HEADER + step * (index + 1))

    def set_geometry(self, origin: QPointF, width: float, rects: list[QRectF], stack: int, lift: float) -> None:
        frame = QRectF()
        for r in rects:
            frame = frame.united(r)
        self.prepareGeometryChange()
        self.origin, self.width, self.rects, self.frame = origin, width, rects, frame
        self.stack, self.lift = stack, lift
        self.setZValue(1.5 if self.collapsed else -1.0 + self.depth * 0.01)
        self.place_ports()
        self.update()

    def set_ports(self, in_ports: list[tuple[str, int]], out_ports: list[tuple[str, int]]) -> None:
        """The outputs wired into and out of the group; the card's port items follow."""
        if (in_ports, out_ports) == (self.in_ports, self.out_ports):
            return
        self.in_ports, self.out_ports = in_ports, out_ports
        for port in self.ports:
            port.setParentItem(None)
            if port.scene() is not None:
                port.scene().removeItem(port)
        self.ports = [CardPort(self, False, i, src) for i, src in enumerate(in_ports)] + \
                     [CardPort(self, True, i, src) for i, src in enumerate(out_ports)]
        self.place_ports()

    def place_ports(self) -> None:
        """On the card's sides while it is collapsed; an expanded group's wires end on its blocks."""
        for port in self.ports:
            port.setPos(self.anchor(port.is_output, port.slot))
            port.setVisible(self.collapsed)

    # -- drawing ----------------------------------------------------------------------------------
    def accent(self) -> QColor:
        return QColor.fromHsv(self.hue, max(60, 150 - 30 * self.depth), min(230, 200 + 10 * self.depth))

    def paint(self, painter, option, widget=None) -> None:
        t = theme.current()
        accent = self.accent()
        header = self.header()
        errors, warnings = self.problems
        flag = t.error if errors else t.warning
        if self.collapsed:
            painter.setPen(QPen(t.selection, 2.5) if self.isSelected() else
                           QPen(flag if errors or warnings else accent.darker(120), 1.5))
            painter.setBrush(t.block)
            painter.drawRoundedRect(self.card(), 8, 8)
        else:
            tint = QColor(accent)
            tint.setAlpha(40)
            pieces = QPainterPath()
            pieces.setFillRule(Qt.FillRule.WindingFill)      # overlapping pieces are tinted once
            for rect in self.rects:
                pieces.addRoundedRect(rect, 10, 10)
            painter.fillPath(pieces, tint)
        strip = QColor(accent)
        strip.setAlpha(110 if self.collapsed else 85)
        path = QPainterPath()
        path.addRoundedRect(header, 8, 8)
        painter.fillPath(path, strip)
        painter.setPen(t.text)
        font = theme.ui_font(12, bold=True)
        painter.setFont(font)
        title = f"{'▸' if self.collapsed else '▾'} {self.name}"
        text_rect = header.adjusted(8, 0, -8, 0)
        if self.collapsed and (errors or warnings):     # what the card hides must not hide its problems
            badge = f"✕ {errors}" if errors else f"⚠ {warnings}"
            painter.setPen(flag)
            painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, badge)
            text_rect.setRight(text_rect.right() - QFontMetricsF(font).horizontalAdvance(badge) - 6)
            painter.setPen(t.text)
        painter.drawText(text_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                         QFontMetricsF(font).elidedText(title, Qt.TextElideMode.ElideRight, text_rect.width()))
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
        y = header.bottom() + 3
        for n, line in enumerate(lines):
            painter.setPen(t.text if n < 2 else t.text_muted)
            painter.drawText(QRectF(header.left() + 10, y, self.width - 20, 18), Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(line, Qt.TextElideMode.ElideRight, self.width - 20))
            y += 18


class GroupLayer:
    """The group items of one scene, rebuilt when blocks or their groups change, laid out again when
    blocks move or groups collapse."""

    def __init__(self, scene):
        self.scene = scene
        self.items: dict[str, GroupItem] = {}
        self.on_toggle: Callable[[str, bool], None] | None = None    # (group, collapse?): makes the edit

    def toggle(self, name: str, collapsed: bool) -> None:
        if self.on_toggle is not None:
            self.on_toggle(name, collapsed)

    def reset(self) -> None:
        for item in self.items.values():
            self.scene.removeItem(item)
        self.items.clear()

    # -- queries ----------------------------------------------------------------------------------
    def groups_of(self, bid: str) -> list[GroupItem]:
        """The groups holding a block, outermost first."""
        block = self.scene.document.blocks.get(bid)
        return [self.items[n] for n in parents(block.group) if n in self.items] if block is not None else []

    def card_of(self, bid: str) -> GroupItem | None:
        """The collapsed group whose card stands for a hidden block (None: the block shows)."""
        block = self.scene.document.blocks.get(bid)
        name = shown_as(block.group, self.scene.document.collapsed) if block is not None else ""
        return self.items.get(name) if name else None

    def wire_end(self, edge, is_output: bool) -> QPointF | None:
        """Where a wire starts (is_output) or ends on a collapsed group's card: the card's port for the
        output the wire carries (None: on the block itself)."""
        item = self.card_of(edge.src if is_output else edge.dst)
        if item is None:
            return None
        ports = item.out_ports if is_output else item.in_ports
        key = (edge.src, edge.src_port)
        return item.anchor(is_output, ports.index(key) if key in ports else 0)

    def find_ports(self) -> None:
        """Each group's ports: the distinct outputs that wires carry into it and out of it, in the order of
        the inputs inside that they feed (and of the outputs inside): a port keeps its place on the card
        when the output feeding it changes."""
        edges = self.scene.document.edges
        for item in self.items.values():
            order = {b: i for i, b in enumerate(item.members)}      # ports go down the card in block order
            into = sorted((e for e in edges if e.dst in order and e.src not in order),
                          key=lambda e: (order[e.dst], e.dst_port))
            out_of = sorted((e for e in edges if e.src in order and e.dst not in order),
                            key=lambda e: (order[e.src], e.src_port))
            item.set_ports(list(dict.fromkeys((e.src, e.src_port) for e in into)),
                           list(dict.fromkeys((e.src, e.src_port) for e in out_of)))

    # -- building ---------------------------------------------------------------------------------
    def rebuild(self) -> None:
        doc = self.scene.document
        inside = members(doc)
        for name in [n for n in self.items if n not in inside]:
            self.scene.removeItem(self.items.pop(name))
        tops: list[str] = []
        for name in group_names(doc):
            item = self.items.get(name)
            if item is None:
                item = self.items[name] = GroupItem(self, name)
                self.scene.addItem(item)
            top = top_group(name)
            if top not in tops:
                tops.append(top)
            item.hue = HUES[tops.index(top) % len(HUES)]
            item.members = inside[name]
        self.find_ports()
        self.follow_collapsed()
        self.refresh()

    def follow_collapsed(self) -> None:
        """Take which groups are collapsed from the document: cards, visibility and wires follow."""
        closed = set(self.scene.document.collapsed)
        for name, item in self.items.items():
            if item.collapsed != (name in closed):
                item.prepareGeometryChange()
                item.collapsed = name in closed
            # a card is selected as its blocks are (Select All, a rubber band): Copy and Delete take them all
            item.setFlag(QGraphicsItem.GraphicsItemFlag.ItemIsSelectable, item.collapsed)
        self.place_all()
        self.apply_visibility()

    def place_all(self) -> None:
        for item in self.items.values():
            self.place(item)

    def place(self, item: GroupItem) -> None:
        """The item's origin (its first block), its tinted pieces and how its header stacks."""
        doc, blocks = self.scene.document, self.scene.blocks
        closed = set(doc.collapsed)
        shown = [b for b in item.members if b in blocks]
        if not shown:
            return
        origin_id = min(shown, key=lambda b: (blocks[b].pos().y(), blocks[b].pos().x()))
        rects, cards = [], set()
        for bid in shown:
            path = doc.blocks[bid].group
            inner = next((n for n in parents(path) if n in closed and n != item.name and contains(item.name, n)), "")
            if inner:                              # hidden in a collapsed subgroup: its card is the piece
                if inner not in cards:
                    cards.add(inner)
                    card = QRectF(*self._span(inner), CARD_H)
                    rects.append(card.adjusted(*self._margins(depth(inner) - item.depth - 1)))
            else:
                size = blocks[bid].shape().boundingRect().size()
                rects.append(QRectF(blocks[bid].pos(), size).adjusted(*self._margins(depth(path) - item.depth)))
        stack = 0                                  # expanded subgroups that start at the same block
        for name in parents(doc.blocks[origin_id].group)[item.depth + 1:]:
            if name in closed:
                break
            stack += 1
        item.set_geometry(blocks[origin_id].pos(), self._span(item.name)[2], rects, stack, MARGIN + NEST * stack)

    def _span(self, name: str) -> tuple[float, float, float]:
        """x and y of a group's first block, and the width of its card: as wide as its blocks reach
        to the right, between MIN_W and CARD_W."""
        blocks = self.scene.blocks
        shown = [blocks[b] for b in self.items[name].members if b in blocks]
        first = min((i.pos() for i in shown), key=lambda p: (p.y(), p.x()))
        right = max(i.pos().x() + i.shape().boundingRect().width() for i in shown)
        return first.x(), first.y(), min(CARD_W, max(MIN_W, right - first.x()))

    @staticmethod
    def _margins(levels: int) -> tuple[float, float, float, float]:
        m = MARGIN + NEST * max(levels, 0)
        return -m, -m, m, m

    def refresh(self) -> None:
        """Summaries from the latest analysis: blocks, parameters, MACs, and the shapes crossing the group."""
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
            def shapes(ports):
                out = []
                for src, _port in ports:
                    r = result.blocks.get(src) if result is not None else None
                    out.append(shape_text(r.output_shape) if r is not None and r.ok and r.output_shape is not None
                               else "?")
                return list(dict.fromkeys(out))
            item.ins, item.outs = shapes(item.in_ports), shapes(item.out_ports)
            status = {b: self.scene.blocks[b].look.status for b in item.members if b in self.scene.blocks}
            bad = [b for b, s in status.items() if s in ("error", "warning")]
            item.problems = (sum(s == "error" for s in status.values()), sum(s == "warning" for s in status.values()))
            item.setToolTip(group_tip(item.name, bad))
            item.update()

    def apply_visibility(self) -> None:
        doc = self.scene.document
        closed = doc.collapsed
        for name, item in self.items.items():
            item.setVisible(not shown_as(parent(name), closed))
        end: dict[str, str] = {}                   # block id -> what shows it: itself or a card's group
        for bid, block_item in self.scene.blocks.items():
            block = doc.blocks.get(bid)
            card = shown_as(block.group, closed) if block is not None else ""
            end[bid] = card or bid
            block_item.setVisible(not card)
            if card and block_item.isSelected():
                block_item.setSelected(False)
        for edge, wire in self.scene.wires.items():
            wire.setVisible(end.get(edge.src, edge.src) != end.get(edge.dst, edge.dst))
            self.scene._place_wire(wire)

    def moved(self, bid: str) -> None:
        self.moved_many([bid])

    def moved_many(self, ids) -> None:
        """Blocks moved: the groups holding any of them are laid out again, each once."""
        touched: dict[str, GroupItem] = {}
        for bid in ids:
            for item in self.groups_of(bid):
                touched[item.name] = item
        for item in touched.values():
            self.place(item)
