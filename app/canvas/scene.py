"""The scene mirrors the document: one BlockItem per block, one WireItem per edge.

It subscribes to the document's events (blocks and wires come and go, move, get renamed) and to
the session's analysis (labels, shapes, errors). A run's findings about its blocks (training health)
show the same way as analysis diagnostics, until the graph changes or they are replaced. Items hold only block ids; the scene never edits
the document: gestures call the edits module, which goes through undo commands.
"""
from __future__ import annotations

import html
from collections import Counter
from contextlib import contextmanager
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, QTimer, Signal
from PySide6.QtWidgets import QGraphicsScene

from layerloom.graph.blocks import get_kind
from layerloom.graph.diagnostics import shape_text
from layerloom.graph.document import Edge, GraphDocument
from layerloom.graph.summary import cost_text

from ..session import Session
from .block_item import BlockItem, Look
from .groups import GroupItem, GroupLayer
from .port_item import PortItem
from .port_tips import port_tooltip
from .wire_item import WireItem

if TYPE_CHECKING:
    from layerloom.graph.analysis import AnalysisResult


SCENE_HALF = 50_000.0       # the canvas reaches this far each way from the origin, or from its farthest block
REACH_MARGIN = 5_000.0      # a block closer than this to the edge makes the canvas reach further

# document events after which a run's findings about the blocks no longer describe the graph
GRAPH_CHANGES = {"block_added", "block_removed", "edge_added", "edge_removed", "block_renamed", "param_changed"}


class GraphScene(QGraphicsScene):
    selected_block_changed = Signal(object)   # the one selected block id, or None

    def __init__(self, session: Session, parent=None):
        super().__init__(parent)
        self.session = session
        self.document: GraphDocument = session.document
        self.blocks: dict[str, BlockItem] = {}
        self.wires: dict[Edge, WireItem] = {}
        self._port_use: Counter = Counter()     # (block id, is output, index) -> wires on that port
        self.result: AnalysisResult | None = None
        self.run_diagnostics: dict[str, list] = {}     # block id -> a run's Diagnostics (training health)
        self._unsubscribe = lambda: None
        self._selected_block: str | None = None
        self.setSceneRect(QRectF(-SCENE_HALF, -SCENE_HALF, 2 * SCENE_HALF, 2 * SCENE_HALF))
        self.setItemIndexMethod(QGraphicsScene.ItemIndexMethod.NoIndex)
        self.groups = GroupLayer(self)          # imported modules framed together, collapsible
        self._held: set[str] | None = None      # blocks moved while holding_moves() runs
        self._selecting = 0                     # > 0 inside one_selection_change()
        self._groups_due = ""                   # "rebuild" or "ports": what the groups have to catch up on
        self.selectionChanged.connect(self._on_selection_changed)
        session.document_replaced.connect(self.set_document)
        session.analysed.connect(self.apply_analysis)
        self.set_document(session.document)

    # -- building -----------------------------------------------------------------------------
    def set_document(self, doc: GraphDocument) -> None:
        self._unsubscribe()
        self.clearSelection()
        for item in list(self.blocks.values()) + list(self.wires.values()):
            self.removeItem(item)
        self.blocks.clear()
        self.wires.clear()
        self.groups.reset()
        self._held, self._groups_due = None, ""
        self._port_use.clear()
        self.document = doc
        self.result = None
        self.run_diagnostics = {}
        for bid in doc.blocks:
            self._add_block_item(bid)
        for e in doc.edges:
            self._add_wire_item(e)
        self.groups.rebuild()
        self._unsubscribe = doc.subscribe(self._on_event)
        if self.session.result is not None and self.session.document is doc:
            self.apply_analysis(self.session.result)

    def _add_block_item(self, bid: str) -> BlockItem:
        block = self.document.blocks[bid]
        item = BlockItem(bid, self.look_for(bid))
        item.setPos(*block.pos)
        self.addItem(item)
        self.blocks[bid] = item
        self._keep_in_reach(item)
        return item

    def _keep_in_reach(self, item: BlockItem) -> None:
        """The canvas reaches as far as its blocks: a file may put one at x = 200,000 (and a drag may take
        one past the edge), and the view neither scrolls nor fits to what is outside the scene's rect."""
        rect = self.sceneRect()
        if not rect.adjusted(REACH_MARGIN, REACH_MARGIN, -REACH_MARGIN, -REACH_MARGIN).contains(item.pos()):
            self.setSceneRect(rect.united(QRectF(item.pos(), item.pos()).adjusted(-SCENE_HALF, -SCENE_HALF,
                                                                                   SCENE_HALF, SCENE_HALF)))

    def _add_wire_item(self, edge: Edge) -> WireItem:
        item = WireItem(edge)
        self.addItem(item)
        self.wires[edge] = item
        self._place_wire(item)
        self._mark_ports(edge, +1)
        return item

    def _remove_wire_item(self, edge: Edge) -> None:
        item = self.wires.pop(edge, None)
        if item is not None:
            self.removeItem(item)
            self._mark_ports(edge, -1)

    def _place_wire(self, item: WireItem) -> None:
        e = item.edge
        src, dst = self.blocks.get(e.src), self.blocks.get(e.dst)
        if src is not None and dst is not None:
            item.set_ends(self.groups.wire_end(e, True) or src.port_pos(True, e.src_port),
                          self.groups.wire_end(e, False) or dst.port_pos(False, e.dst_port))

    def _mark_ports(self, edge: Edge, change: int = 0) -> None:
        for key in ((edge.src, True, edge.src_port), (edge.dst, False, edge.dst_port)):
            self._port_use[key] += change
            item = self.blocks.get(key[0])
            port = item.port(key[1], key[2]) if item is not None else None
            if port is not None:
                port.set_connected(self._port_use[key] > 0)

    # -- document events ----------------------------------------------------------------------
    def _on_event(self, ev) -> None:
        if ev.type != "block_moved":
            self._settle()
        self._follow_event(ev)
        if ev.type in ("block_added", "block_removed", "block_renamed", "block_changed"):
            self._groups_later("rebuild")
        elif ev.type == "meta_changed" and ev.name == "collapsed":
            self._catch_up_groups()
            self.groups.follow_collapsed()
        elif ev.type in ("edge_added", "edge_removed") and self.groups.items:
            self._groups_later("ports")

    def _groups_later(self, what: str) -> None:
        """The groups catch up once an edit is done (its analysis) or the event loop runs, not after each
        of its changes: deleting 40 of densenet121's blocks would otherwise lay every group out 150 times."""
        if not self._groups_due:
            QTimer.singleShot(0, self, self._catch_up_groups)
        if what == "rebuild" or not self._groups_due:
            self._groups_due = what

    def _catch_up_groups(self) -> None:
        due, self._groups_due = self._groups_due, ""
        if due == "rebuild":
            self.groups.rebuild()
        elif due == "ports":
            self.groups.find_ports()
            self.groups.apply_visibility()

    def _follow_event(self, ev) -> None:
        t = ev.type
        if t in GRAPH_CHANGES and self.run_diagnostics:
            self.set_run_diagnostics([])          # the graph changed: a run's findings no longer apply
        if t == "block_added":
            self._add_block_item(ev.block)
        elif t == "block_removed":
            item = self.blocks.pop(ev.block, None)
            if item is not None:
                self.removeItem(item)
        elif t == "edge_added":
            self._add_wire_item(ev.edge)
        elif t == "edge_removed":
            self._remove_wire_item(ev.edge)
        elif t == "block_moved":
            item = self.blocks.get(ev.block)
            pos = QPointF(*self.document.blocks[ev.block].pos)
            if item is not None and item.pos() != pos:
                if self._held is None:       # an edit moving many blocks (undo, auto layout): follow once,
                    self._held = set()       # when it is done (its analysis) or the event loop runs
                    QTimer.singleShot(0, self, self._settle)
                item.setPos(pos)
        elif t == "block_renamed":
            self._renamed(ev.old, ev.block)
        elif t in ("param_changed", "block_changed"):
            item = self.blocks.get(ev.block)
            if item is not None:
                item.set_look(self.look_for(ev.block))
                for e in self.document.edges_of(ev.block):
                    self._place_wire(self.wires[e])
                    self._mark_ports(e)

    def _renamed(self, old: str, new: str) -> None:
        item = self.blocks.pop(old)
        item.block_id = new
        self.blocks[new] = item
        for edge in [e for e in self.wires if old in (e.src, e.dst)]:
            self._remove_wire_item(edge)
        for edge in self.document.edges_of(new):
            if edge not in self.wires:
                self._add_wire_item(edge)
        item.update()
        if self._selected_block == old:
            self._selected_block = new
            self.selected_block_changed.emit(new)

    def block_item_moved(self, item: BlockItem) -> None:
        """A block item moved (a drag in progress, or a move from the document): follow with its wires."""
        bid = item.block_id
        self._keep_in_reach(item)
        if self._held is not None:
            self._held.add(bid)
            return
        self.groups.moved(bid)                  # first: a wire may end on a card that moved with it
        for edge, wire in self.wires.items():
            if edge.src == bid or edge.dst == bid:
                self._place_wire(wire)

    @contextmanager
    def holding_moves(self):
        """Move many block items at once (a whole group): their wires and groups follow once, at the end,
        instead of after each block (which costs blocks × wires)."""
        self._settle()
        self._held = set()
        try:
            yield
        finally:
            self._settle()

    def _settle(self) -> None:
        """The wires and groups of the blocks moved while holding follow them now."""
        moved, self._held = self._held, None
        if moved:
            self.groups.moved_many(moved)           # first: wires may end on cards that moved
            for edge, wire in self.wires.items():
                if edge.src in moved or edge.dst in moved:
                    self._place_wire(wire)

    # -- analysis -----------------------------------------------------------------------------
    def apply_analysis(self, result: AnalysisResult | None) -> None:
        """Show a result on the blocks and wires; None: analysis is still loading (blocks say so quietly,
        wires carry no shape yet)."""
        if self.session.document is not self.document:
            return
        self._settle()
        self._catch_up_groups()
        self.result = result
        by_block: dict[str, list] = {}
        for d in result.diagnostics if result is not None else ():
            by_block.setdefault(d.block, []).append(d)
        for bid, item in self.blocks.items():
            item.set_look(self.look_for(bid, by_block.get(bid, []) + self.run_diagnostics.get(bid, [])))
        twins = set()         # one output into several ports of one block: the wires run side by side,
        for edge, wire in self.wires.items():     # so one label says it (two would overlap)
            r = result.blocks.get(edge.src) if result is not None else None
            twin = (edge.src, edge.src_port, edge.dst) in twins
            twins.add((edge.src, edge.src_port, edge.dst))
            if result is None:
                wire.set_label("")
            elif r is not None and r.ok and r.output_shape is not None:
                wire.set_label("" if twin else shape_text(r.output_shape))
            else:
                wire.set_label("" if twin else "?", broken=True)
        self.groups.refresh()

    def set_run_diagnostics(self, diagnostics) -> None:
        """A run's findings about blocks (Diagnostics; e.g. "63 % of channels are dead"), shown with the
        analysis diagnostics: the badge and the tooltip. An empty list clears them."""
        old = set(self.run_diagnostics)
        self.run_diagnostics = {}
        for d in diagnostics:
            if d.block in self.blocks:
                self.run_diagnostics.setdefault(d.block, []).append(d)
        for bid in old | set(self.run_diagnostics):
            if bid in self.blocks and bid in self.document.blocks:
                self.blocks[bid].set_look(self.look_for(bid))
        self.groups.refresh()                     # a collapsed card shows its blocks' problems

    def show_gradients(self, norms: dict[str, float] | None) -> None:
        """Step mode: under each wire's shape, the norm of the gradient flowing back along it (the
        gradient of the loss with respect to the output of the block the wire leaves); None clears."""
        for edge, wire in self.wires.items():
            value = (norms or {}).get(edge.src)
            wire.set_note(f"← ∇ {value:.1e}" if value is not None else "")

    def look_for(self, bid: str, diags: list | None = None) -> Look:
        block = self.document.blocks[bid]
        kind = get_kind(block.kind)
        full = block.full_params()
        result = self.result
        r = result.blocks.get(bid) if result is not None else None
        if diags is None:
            diags = (result.diagnostics_for(bid) if result is not None else []) + self.run_diagnostics.get(bid, [])
        label = kind.short_label(r.params if r is not None and r.params else full)
        status = "ok"
        if r is not None and r.status in ("error", "cycle") or any(d.severity == "error" for d in diags):
            status = "error"
        elif r is not None and r.status == "blocked":
            status = "blocked"
        elif diags:
            status = "warning"
        if status == "error":
            shape = "✕ " + ("in a cycle" if r is not None and r.status == "cycle" else "see problem")
        elif r is not None and r.ok and r.output_shape is not None:
            shape = "→ " + shape_text(r.output_shape)
        elif status == "blocked":
            shape = "waiting for inputs"
        elif result is None:
            shape = self.session.pending_text
        else:
            shape = ""
        tip = [f"<b>{html.escape(bid)}</b> · {html.escape(kind.name)}", html.escape(kind.doc)]
        if r is not None and r.ok:
            tip.append(f"Output {shape_text(r.output_shape)} · {r.param_count:,} params · {cost_text(r.macs)}")
            tip.append("<i>MACs: multiply-adds, as papers and torchvision count; FLOPs = 2 × MACs.</i>")
        for d in diags:
            colour = "#dc2626" if d.severity == "error" else "#d97706"
            tip.append(f"<span style='color:{colour}'>● {html.escape(d.message)}</span>")
        if status == "blocked":
            tip.append("<i>Not computed: a block upstream has an error.</i>")
        if not block.trainable:
            tip.append("<i>Frozen: training leaves its weights as they are (trainable is off in the Inspector).</i>")
        if label == kind.name or (block.kind == "Input" and shape == "→ " + label):
            label = ""   # nothing to add to the header (or the shape line already says it)
        return Look(kind=kind.name, category=kind.category, label=label,
                    shape=shape, status=status, tooltip="<br>".join(tip),
                    inputs=kind.input_count(full), outputs=kind.outputs, frozen=not block.trainable,
                    input_names=tuple(name for name, _ in kind.input_port_names(full)))

    # -- selection and queries ----------------------------------------------------------------
    def _on_selection_changed(self) -> None:
        if self._selecting:
            return
        ids = [i.block_id for i in self.selectedItems() if isinstance(i, BlockItem)]
        one = ids[0] if len(ids) == 1 else None
        if one != self._selected_block:
            self._selected_block = one
            self.selected_block_changed.emit(one)

    @contextmanager
    def one_selection_change(self):
        """Select or deselect many items (Select All, a rubber band): Qt reports each item, the scene works
        out the selection once, at the end (once per item, a select-all of 1,000 blocks took seconds)."""
        self._selecting += 1
        try:
            yield
        finally:
            self._selecting -= 1
            if not self._selecting:
                self._on_selection_changed()

    def selected_block_ids(self) -> list[str]:
        """The selected blocks, in the document's block order; a selected collapsed group's card stands for
        every block inside it."""
        order = {b: i for i, b in enumerate(self.document.blocks)}
        ids = set()
        for item in self.selectedItems():
            if isinstance(item, BlockItem):
                ids.add(item.block_id)
            elif isinstance(item, GroupItem) and item.collapsed:
                ids.update(b for b in item.members if b in order)
        return sorted(ids, key=lambda b: order.get(b, 0))

    def selected_edges(self) -> list[Edge]:
        return [i.edge for i in self.selectedItems() if isinstance(i, WireItem) and i.edge is not None]

    def select_blocks(self, ids, clear: bool = True) -> None:
        with self.one_selection_change():
            if clear:
                self.clearSelection()
            for bid in ids:
                if bid in self.blocks:
                    card = self.groups.card_of(bid) if self.groups.items else None
                    (card or self.blocks[bid]).setSelected(True)      # a hidden block: the card showing it

    def port_tooltip(self, port: PortItem) -> str:
        return port_tooltip(self.document, self.result, port.block_id, port.is_output, port.index)

    def port_at(self, scene_pos: QPointF, tolerance: float = 0.0) -> PortItem | None:
        area = QRectF(scene_pos.x() - tolerance, scene_pos.y() - tolerance, 2 * tolerance, 2 * tolerance)
        hits = self.items(area) if tolerance else self.items(scene_pos)
        ports = [i for i in hits if isinstance(i, PortItem)]
        if not ports:
            return None
        return min(ports, key=lambda p: (p.scenePos() - scene_pos).manhattanLength())

    def block_at(self, scene_pos: QPointF) -> BlockItem | None:
        for item in self.items(scene_pos):
            while item is not None and not isinstance(item, BlockItem):
                item = item.parentItem()
            if item is not None:
                return item
        return None

    def card_at(self, scene_pos: QPointF):
        """The collapsed group's card at `scene_pos` (None: no card there)."""
        return next((i for i in self.items(scene_pos) if isinstance(i, GroupItem) and i.collapsed), None)

    def graph_rect(self) -> QRectF:
        """What shows: the visible blocks, wires and groups (a collapsed group's hidden blocks do not count)."""
        rect = QRectF()
        for item in list(self.blocks.values()) + list(self.wires.values()) + list(self.groups.items.values()):
            if item.isVisible():
                rect = rect.united(item.sceneBoundingRect())
        return rect
