"""Mouse gestures on the canvas, one small class each: new wire, move, move or fold a group, rubber
band, pan.

The view picks a gesture on mouse press and forwards the move and release events to it. A gesture
changes only what is on screen while it runs; when it ends it calls one edit (one undo step).
"""
from __future__ import annotations

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPen
from PySide6.QtWidgets import QApplication, QGraphicsRectItem
from shiboken6 import Shiboken

from .. import edits, theme
from .block_item import BlockItem
from .groups import CardPort, GroupItem
from .port_item import PortItem
from .wire_item import WireItem

SNAP = 10.0


def put_back(scene) -> None:
    """A drag ends without an edit: every block item goes back where the document has it (the graph may
    have changed meanwhile: a block renamed, moved by undo)."""
    doc = scene.document
    with scene.holding_moves():
        for bid, item in scene.blocks.items():
            pos = QPointF(*doc.blocks[bid].pos)
            if item.pos() != pos:
                item.setPos(pos)


class Gesture:
    cursor = None

    def __init__(self, view):
        self.view = view
        self.scene = view.scene()

    def press(self, event) -> None: ...
    def move(self, event) -> None: ...
    def release(self, event) -> None: ...
    def cancel(self) -> None: ...

    def scene_pos(self, event) -> QPointF:
        return self.view.mapToScene(event.position().toPoint())


class PanGesture(Gesture):
    """Middle button, or Space + left button: drag the canvas."""
    cursor = Qt.CursorShape.ClosedHandCursor

    def press(self, event) -> None:
        self.last = event.position()

    def move(self, event) -> None:
        delta = event.position() - self.last
        self.last = event.position()
        self.view.pan_by(delta.x(), delta.y())


class RubberBandGesture(Gesture):
    """Drag on empty canvas: select the blocks the band touches (Ctrl adds to the selection)."""

    def press(self, event) -> None:
        self.origin = self.scene_pos(event)
        self.additive = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self.before = set(self.scene.selectedItems()) if self.additive else set()
        if not self.additive:
            self.scene.clearSelection()
        self.band = None

    def move(self, event) -> None:
        rect = QRectF(self.origin, self.scene_pos(event)).normalized()
        if self.band is None:
            t = theme.current()
            self.band = QGraphicsRectItem()
            self.band.setPen(QPen(t.selection, 0))
            self.band.setBrush(t.rubber_band)
            self.band.setZValue(10)
            self.scene.addItem(self.band)
        self.band.setRect(rect)
        inside = {i for i in self.scene.items(rect, Qt.ItemSelectionMode.IntersectsItemShape)
                  if isinstance(i, BlockItem) or (isinstance(i, GroupItem) and i.collapsed)}
        with self.scene.one_selection_change():
            for item in [*self.scene.blocks.values(), *self.scene.groups.items.values()]:
                item.setSelected(item in inside or item in self.before)

    def release(self, event) -> None:
        self.cancel()

    def cancel(self) -> None:
        if self.band is not None:
            self.scene.removeItem(self.band)
            self.band = None


class MoveGesture(Gesture):
    """Press on a block: select it (Ctrl toggles); drag: move the selection; release: one move edit."""

    def press(self, event) -> None:
        self.item: BlockItem = self.view.item_under(event, BlockItem)
        self.origin = self.scene_pos(event)
        self.toggle = bool(event.modifiers() & Qt.KeyboardModifier.ControlModifier)
        self.moving = False
        if self.toggle:
            self.item.setSelected(not self.item.isSelected())
        elif not self.item.isSelected():
            self.scene.clearSelection()
            self.item.setSelected(True)
        # a selected collapsed card's hidden blocks move with the rest (the card follows them)
        self.start = {bid: self.scene.blocks[bid].pos() for bid in self.scene.selected_block_ids()}

    def move(self, event) -> None:
        delta = self.scene_pos(event) - self.origin
        if not self.moving:
            if delta.manhattanLength() * self.view.zoom < QApplication.startDragDistance() or not self.start:
                return
            self.moving = True
        with self.scene.holding_moves():        # the wires follow once per step, not once per block
            for bid, start in self.start.items():
                p = start + delta
                self.scene.blocks[bid].setPos(round(p.x() / SNAP) * SNAP, round(p.y() / SNAP) * SNAP)

    def release(self, event) -> None:
        if self.moving:
            moves = {bid: (self.scene.blocks[bid].pos().x(), self.scene.blocks[bid].pos().y())
                     for bid in self.start if bid in self.scene.blocks}
            edits.move_blocks(self.scene.session, moves)
        elif not self.toggle:
            self.scene.clearSelection()
            self.item.setSelected(True)

    def cancel(self) -> None:
        put_back(self.scene)


class GroupGesture(Gesture):
    """Press on a group's header (or a collapsed group's card): a click collapses or expands it; a drag
    moves the group, every block inside it, hidden or not, by the same step (one move edit)."""

    def press(self, event) -> None:
        from .groups import GroupItem
        self.item = self.view.item_under(event, GroupItem)
        self.origin = self.scene_pos(event)
        self.moving = False
        self.start = {b: self.scene.blocks[b].pos() for b in self.item.members if b in self.scene.blocks}

    def move(self, event) -> None:
        delta = self.scene_pos(event) - self.origin
        if not self.moving:
            if delta.manhattanLength() * self.view.zoom < QApplication.startDragDistance():
                return
            self.moving = True
        step = QPointF(round(delta.x() / SNAP) * SNAP, round(delta.y() / SNAP) * SNAP)
        with self.scene.holding_moves():
            for bid, start in self.start.items():
                self.scene.blocks[bid].setPos(start + step)

    def release(self, event) -> None:
        if self.moving:
            moves = {bid: (self.scene.blocks[bid].pos().x(), self.scene.blocks[bid].pos().y())
                     for bid in self.start if bid in self.scene.blocks}
            edits.move_blocks(self.scene.session, moves, text=f"Move {self.item.name}")
        else:
            self.item.layer.toggle(self.item.name, not self.item.collapsed)

    def cancel(self) -> None:
        put_back(self.scene)


class WireClickGesture(Gesture):
    """Click a wire to select it (Ctrl toggles)."""

    def press(self, event) -> None:
        item = self.view.item_under(event, WireItem)
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            item.setSelected(not item.isSelected())
        else:
            self.scene.clearSelection()
            item.setSelected(True)


class NewWireGesture(Gesture):
    """Drag from a port: a live wire follows the cursor; compatible ports light up; drop on one to wire.

    From an output, drop on an input (or on a block: its first free input; on a collapsed group's card:
    its first input the wire fits); from an input, drop on an output. Dropping anywhere else cancels.
    A collapsed group's card has ports too (groups.CardPort): its outputs wire as the inner outputs
    they stand for, and a wire into one of its inputs feeds the group from that output instead of the
    one it had (edits.feed_group).
    """

    def press(self, event) -> None:
        self.port: PortItem = self.view.item_under(event, PortItem)
        self.live = WireItem()
        self.scene.addItem(self.live)
        self.targets = self._compatible_ports()
        for p in self.targets:
            p.set_highlight(1)
        self.hover: PortItem | None = None
        self.move(event)

    def _compatible_ports(self) -> list[PortItem]:
        """Ports the wire may end on: not on its own block, and not where the wire would close a cycle
        (an input of a block upstream of the source, or an output of a block downstream of the target)."""
        doc = self.scene.document
        port = self.port
        if isinstance(port, CardPort) and not port.is_output:    # into a group: from none of its blocks
            blocked = set(port.card.members)
            for bid in self._fed(port):
                blocked |= edits.downstream(doc, bid)
        else:
            blocked = edits.downstream(doc, port.block_id, reverse=port.is_output)
        out = []
        for bid, item in self.scene.blocks.items():
            if bid not in blocked:
                out.extend(item.in_ports if port.is_output else item.out_ports)
        for card in self.scene.groups.items.values():
            for other in card.ports if card.collapsed else ():
                if other.is_output == port.is_output or other is port:
                    continue
                if other.is_output:                     # an inner output, wired into this input
                    ok = other.block_id not in blocked
                else:                                   # the group fed from this output instead
                    ok = port.block_id not in card.members and not blocked & self._fed(other) \
                        and other.source != (port.block_id, port.index)
                if ok:
                    out.append(other)
        return out

    def _fed(self, port: "CardPort") -> set[str]:
        """The blocks inside port's group that the output it carries in feeds."""
        return {e.dst for e in edits.wires_into(self.scene.document, port.card.members, port.source)}

    def _target(self, pos: QPointF) -> PortItem | None:
        port = self.scene.port_at(pos, tolerance=12.0 / max(self.view.zoom, 0.1))
        if port in self.targets:
            return port
        if self.port.is_output:
            block = self.scene.block_at(pos)
            if block is not None and block.in_ports:
                free = [p for p in block.in_ports if not p.connected and p in self.targets]
                choice = free[0] if free else block.in_ports[0]
                return choice if choice in self.targets else None
            card = self.scene.card_at(pos)           # a collapsed group's card: its first input that fits
            if card is not None:
                return next((p for p in card.ports if not p.is_output and p in self.targets), None)
        return None

    def move(self, event) -> None:
        pos = self.scene_pos(event)
        target = self._target(pos)
        if target is not self.hover:
            if self.hover is not None:
                self.hover.set_highlight(1)
            self.hover = target
            if target is not None:
                target.set_highlight(2)
        end = target.scenePos() if target is not None else pos
        start = self.port.scenePos()
        if self.port.is_output:
            self.live.set_ends(start, end)
        else:
            self.live.set_ends(end, start)

    def release(self, event) -> None:
        target = self._target(self.scene_pos(event))
        src, dst = (self.port, target) if self.port.is_output else (target, self.port)
        self.cancel()
        if target is None:
            self._say_why_not(self.scene_pos(event))
            return
        if isinstance(dst, CardPort):       # into a collapsed group: it takes this output instead
            edits.feed_group(self.scene.session, dst.card.name, dst.source, (src.block_id, src.index))
        else:
            edits.connect(self.scene.session, src.block_id, src.index, dst.block_id, dst.index)

    def _say_why_not(self, pos: QPointF) -> None:
        """Dropped on a port (or a block) the wire cannot end on: say why, not nothing at all."""
        other = self.scene.port_at(pos, tolerance=12.0 / max(self.view.zoom, 0.1))
        if other is None and self.port.is_output and (block := self.scene.block_at(pos)) is not None:
            other = block.in_ports[0] if block.in_ports else None
        if other is None or other is self.port or isinstance(other, CardPort) or isinstance(self.port, CardPort):
            return
        if other.is_output == self.port.is_output:
            side = "outputs" if other.is_output else "inputs"
            why = f"two {side} cannot be wired together: drag from an output (right side) to an input (left side)"
        else:
            src, dst = (self.port, other) if self.port.is_output else (other, self.port)
            why = edits.wire_problem(self.scene.document, src.block_id, src.index, dst.block_id, dst.index)
        if why:
            self.scene.session.message.emit(f"Cannot connect: {why}.")

    def cancel(self) -> None:
        for p in self.targets:
            if Shiboken.isValid(p):          # the port of a block removed meanwhile is gone
                p.set_highlight(0)
        if self.live.scene() is not None:
            self.scene.removeItem(self.live)
