"""The canvas view: zoom around the cursor, pan, a subtle grid, drops from the palette, quick add.

Mouse presses pick a gesture (gestures.py) that handles the drag until release; hover and tooltips
go to the items as usual.
"""
from __future__ import annotations

import math
import time

from PySide6.QtCore import QLineF, QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QAction, QPainter, QPen
from PySide6.QtWidgets import QApplication, QFrame, QGraphicsView, QMenu

from layerloom.graph.blocks import REGISTRY, get_kind
from layerloom.graph.groups import parents
from layerloom.graph.quoting import shown

from .. import edits, theme
from ..panels.palette import KIND_MIME
from .block_item import WIDTH, BlockItem, block_height
from .gestures import GroupGesture, MoveGesture, NewWireGesture, PanGesture, RubberBandGesture, WireClickGesture
from .groups import GroupItem
from .port_item import PortItem
from .quick_add import QuickAdd
from .scene import GraphScene
from .wire_item import WireItem

MIN_ZOOM, MAX_ZOOM = 0.1, 3.0
# The least zoom at which a card's words can be read: its kind (14 px) over 8 px on screen, its shape (12 px)
# over 7 px. Below it the cards are coloured tiles with tiny or no text (block_item.py).
LEGIBLE_ZOOM = 0.6


class GraphView(QGraphicsView):
    block_added = Signal(str)
    file_dropped = Signal(str)     # a graph file dragged in from the file manager
    prune_requested = Signal(str)  # "Prune channels…" on a Conv or Linear block

    def __init__(self, scene: GraphScene, parent=None):
        super().__init__(scene, parent)
        self.gesture = None
        self.space_held = False
        self.last_mouse = None            # viewport position of the last mouse move
        self.context_actions: list[QAction] = []   # Cut/Copy/Paste/Duplicate/Delete from the window
        self.group_actions: list[QAction] = []     # Collapse/Expand All Groups from the window
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing
                            | QPainter.RenderHint.SmoothPixmapTransform)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setCacheMode(QGraphicsView.CacheModeFlag.CacheBackground)   # the grid is drawn once per zoom
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setAcceptDrops(True)
        self.setMouseTracking(True)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self._quick_add: QuickAdd | None = None    # built when first opened: not before the first paint
        self._quick_add_at = QPointF()
        self._unwatch = lambda: None
        scene.session.document_replaced.connect(self._watch)
        self._watch(scene.session.document)
        scene.groups.on_toggle = self._toggle_group
        self._press_at = QPoint()
        self._toggled = (-1.0, QPoint())   # when and where a click last collapsed or expanded a group

    @property
    def session(self):
        return self.scene().session

    @property
    def zoom(self) -> float:
        return self.transform().m11()

    # -- zoom and pan -------------------------------------------------------------------------
    def zoom_by(self, factor: float, anchor: QPoint | None = None) -> None:
        new = max(MIN_ZOOM, min(MAX_ZOOM, self.zoom * factor))
        factor = new / self.zoom
        if abs(factor - 1.0) < 1e-9:
            return
        anchor = anchor if anchor is not None else self.viewport().rect().center()
        before = self.mapToScene(anchor)
        self.scale(factor, factor)
        after = self.mapFromScene(before)
        self.pan_by(anchor.x() - after.x(), anchor.y() - after.y())

    def set_zoom(self, zoom: float) -> None:
        self.zoom_by(zoom / self.zoom)

    def pan_by(self, dx: float, dy: float) -> None:
        h, v = self.horizontalScrollBar(), self.verticalScrollBar()
        h.setValue(h.value() - round(dx))
        v.setValue(v.value() - round(dy))

    def fit(self, legible: bool = False) -> bool:
        """Show the whole graph. `legible` (a graph just opened): never smaller than its words can be read; a
        graph too large for that shows its beginning (top left) instead. Whether the whole graph is in view."""
        rect = self.scene().graph_rect()
        if rect.isNull():
            self.set_zoom(1.0)
            self.centerOn(0, 0)
            return True
        rect = rect.adjusted(-40, -40, 40, 40)
        view = self.viewport().rect()
        zoom = min(view.width() / rect.width(), view.height() / rect.height(), 1.25)
        if not legible or zoom >= LEGIBLE_ZOOM:
            self.set_zoom(max(MIN_ZOOM, zoom))
            self.centerOn(rect.center())
            return True
        self.set_zoom(LEGIBLE_ZOOM)
        seen_w, seen_h = view.width() / LEGIBLE_ZOOM, view.height() / LEGIBLE_ZOOM
        self.centerOn(rect.center().x() if rect.width() <= seen_w else rect.left() + seen_w / 2,
                      rect.center().y() if rect.height() <= seen_h else rect.top() + seen_h / 2)
        self.session.message.emit("Zoomed so that the blocks can be read: drag the canvas to see the rest, or "
                                  "press F (View ▸ Fit View) to see the whole graph.")
        return False

    def center_on_block(self, block_id: str) -> None:
        """Centre a block; one hidden in collapsed groups is shown first (they expand, one undoable
        step) and selected."""
        scene = self.scene()
        item = scene.blocks.get(block_id)
        if item is None:
            return
        if scene.groups.card_of(block_id) is not None:
            doc = self.session.document
            closed = [n for n in parents(doc.blocks[block_id].group) if n in doc.collapsed]
            edits.set_collapsed(self.session, closed, False, f"Show {block_id}")
            scene.select_blocks([block_id])
        self.centerOn(item.sceneBoundingRect().center())

    def wheelEvent(self, event) -> None:
        if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
            self.pan_by(event.angleDelta().y() / 2, 0)
            return
        steps = event.angleDelta().y() / 120.0
        if event.pixelDelta().y() and not event.angleDelta().y():
            steps = event.pixelDelta().y() / 60.0
        self.zoom_by(math.pow(1.15, steps), event.position().toPoint())

    def drawBackground(self, painter: QPainter, rect: QRectF) -> None:
        t = theme.current()
        painter.fillRect(rect, t.canvas)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing, False)   # axis-aligned hairlines stay crisp
        for step, colour, min_zoom in ((20, t.grid_minor, 0.9), (100, t.grid_major, 0.15)):
            if self.zoom < min_zoom:
                continue
            painter.setPen(QPen(colour, 0))
            x = math.floor(rect.left() / step) * step
            lines = []
            while x < rect.right():
                lines.append(QLineF(x, rect.top(), x, rect.bottom()))
                x += step
            y = math.floor(rect.top() / step) * step
            while y < rect.bottom():
                lines.append(QLineF(rect.left(), y, rect.right(), y))
                y += step
            painter.drawLines(lines)
        painter.restore()

    # -- gestures -----------------------------------------------------------------------------
    def _pick_gesture(self, event):
        button = event.button()
        if button == Qt.MouseButton.MiddleButton or (button == Qt.MouseButton.LeftButton and self.space_held):
            return PanGesture(self)
        if button != Qt.MouseButton.LeftButton:
            return None
        for item in self.items(event.position().toPoint()):
            if isinstance(item, PortItem):
                return NewWireGesture(self)
            if isinstance(item, BlockItem):
                return MoveGesture(self)
            if isinstance(item, WireItem) and not item.live:
                return WireClickGesture(self)
            if isinstance(item, GroupItem):
                return GroupGesture(self)   # its header (or card): a click folds it, a drag moves it
        return RubberBandGesture(self)

    def item_under(self, event, kind):
        """The item of `kind` the view finds under the pressed pixel, as _pick_gesture did (the scene's point
        at the pixel's centre may fall just outside it, on its rim)."""
        return next(i for i in self.items(event.position().toPoint()) if isinstance(i, kind))

    def _toggle_group(self, name: str, collapsed: bool) -> None:
        self._toggled = (time.monotonic(), self._press_at)
        edits.set_collapsed(self.session, [name], collapsed)

    def _second_click_of_toggle(self, event) -> bool:
        """Is this the second click of a double click whose first click collapsed or expanded a group?
        (The header moved away under it: it must neither toggle back nor open Add Block.)"""
        when, where = self._toggled
        near = (event.position().toPoint() - where).manhattanLength() <= 2 * QApplication.startDragDistance()
        return near and (time.monotonic() - when) * 1000 < QApplication.doubleClickInterval()

    def mousePressEvent(self, event) -> None:
        if self.gesture is not None:
            return
        self._press_at = event.position().toPoint()
        if self._second_click_of_toggle(event):
            event.accept()
            return
        self.gesture = self._pick_gesture(event)
        if self.gesture is None:
            super().mousePressEvent(event)
            return
        self.gesture.press(event)
        if self.gesture.cursor is not None:
            self.viewport().setCursor(self.gesture.cursor)
        event.accept()

    def mouseMoveEvent(self, event) -> None:
        self.last_mouse = event.position().toPoint()
        if self.gesture is not None:
            self.gesture.move(event)
            event.accept()
        else:
            super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self.gesture is not None:
            gesture, self.gesture = self.gesture, None
            gesture.release(event)
            self._restore_cursor()
            event.accept()
        else:
            super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self._second_click_of_toggle(event):
            event.accept()
            return
        group = next((i for i in self.items(event.position().toPoint()) if isinstance(i, GroupItem)), None)
        if event.button() == Qt.MouseButton.LeftButton and group is not None:   # a double click alone
            self._press_at = event.position().toPoint()
            self._toggle_group(group.name, not group.collapsed)
            event.accept()
            return
        if event.button() == Qt.MouseButton.LeftButton and not self.items(event.position().toPoint()):
            self.open_quick_add(event.position().toPoint())
            return
        super().mouseDoubleClickEvent(event)

    def _watch(self, doc) -> None:
        """A gesture in progress ends when the graph changes under it (a shortcut, a menu, undo while the mouse
        is held): its blocks or ports may be gone. A gesture edits the graph only once it has ended."""
        self._unwatch()
        self.cancel_gesture()
        self._unwatch = doc.subscribe(lambda _event: self.cancel_gesture())

    def cancel_gesture(self) -> None:
        if self.gesture is not None:
            self.gesture.cancel()
            self.gesture = None
            self._restore_cursor()

    def _restore_cursor(self) -> None:
        if self.space_held:
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
        else:
            self.viewport().unsetCursor()

    # -- keys ---------------------------------------------------------------------------------
    def event(self, event) -> bool:
        if event.type() == event.Type.KeyPress and event.key() == Qt.Key.Key_Tab:
            self.open_quick_add(self.last_mouse)
            return True
        return super().event(event)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.space_held = True
            if self.gesture is None:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            return
        if event.key() == Qt.Key.Key_Escape:
            if self.gesture is not None:
                self.cancel_gesture()
            else:
                self.scene().clearSelection()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self.space_held = False
            if self.gesture is None:
                self.viewport().unsetCursor()
            return
        super().keyReleaseEvent(event)

    def focusOutEvent(self, event) -> None:
        self.space_held = False
        super().focusOutEvent(event)

    # -- adding blocks --------------------------------------------------------------------------
    def cursor_scene_pos(self) -> QPointF:
        """Where new things land: under the mouse if it is over the canvas, else the centre."""
        p = self.last_mouse
        if p is None or not self.viewport().rect().contains(p):
            p = self.viewport().rect().center()
        return self.mapToScene(p)

    def add_block_at(self, kind: str, scene_pos: QPointF) -> str | None:
        """Add a block centred on scene_pos (snapped to the grid) and select it."""
        from layerloom.graph.blocks import get_kind
        k = get_kind(kind)
        h = block_height(k.input_count(k.defaults()), k.outputs)
        x = round((scene_pos.x() - WIDTH / 2) / 10) * 10
        y = round((scene_pos.y() - h / 2) / 10) * 10
        bid = edits.add_block(self.session, kind, (x, y)).value
        if bid:
            self.scene().select_blocks([bid])
            self.block_added.emit(bid)
        return bid

    @property
    def quick_add(self) -> QuickAdd:
        """The quick-add popup (Tab, a double click on the canvas, Edit ▸ Add Block…)."""
        if self._quick_add is None:
            self._quick_add = QuickAdd(self)
            self._quick_add.chosen.connect(self._quick_add_chosen)
        return self._quick_add

    def open_quick_add_at_mouse(self) -> None:
        """Edit ▸ Add Block…: the search box where the mouse last was on the canvas."""
        self.open_quick_add(self.last_mouse)

    def open_quick_add(self, view_pos: QPoint | None = None) -> None:
        if view_pos is None or not self.viewport().rect().contains(view_pos):
            view_pos = self.viewport().rect().center()
        self._quick_add_at = self.mapToScene(view_pos)
        self.quick_add.popup_at(self.viewport().mapToGlobal(view_pos))

    def _quick_add_chosen(self, kind: str) -> None:
        self.add_block_at(kind, self._quick_add_at)
        self.setFocus()

    @staticmethod
    def _dropped_file(data) -> str | None:
        urls = [u for u in data.urls() if u.isLocalFile()] if data.hasUrls() else []
        return urls[0].toLocalFile() if len(urls) == 1 else None

    def _accepts(self, data) -> bool:
        return data.hasFormat(KIND_MIME) or self._dropped_file(data) is not None

    def dragEnterEvent(self, event) -> None:
        if self._accepts(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        self.dragEnterEvent(event)

    def dropEvent(self, event) -> None:
        data = event.mimeData()
        path = None if data.hasFormat(KIND_MIME) else self._dropped_file(data)
        if path is not None:
            event.acceptProposedAction()
            self.file_dropped.emit(path)
            return
        if not data.hasFormat(KIND_MIME):
            event.ignore()
            return
        kind = bytes(data.data(KIND_MIME)).decode("utf-8", "replace")
        if kind not in REGISTRY:        # dragged from another (newer) Layerloom, or another program
            event.ignore()
            self.session.message.emit(f"Cannot add “{shown(kind, 60)}”: this Layerloom has no such block. "
                                      "Drag a block from this window's palette.")
            return
        event.acceptProposedAction()
        self.add_block_at(kind, self.mapToScene(event.position().toPoint()))
        self.setFocus()

    # -- context menus --------------------------------------------------------------------------
    def contextMenuEvent(self, event) -> None:
        scene = self.scene()
        pos = self.mapToScene(event.pos())
        self.last_mouse = event.pos()
        menu = QMenu(self)
        block = scene.block_at(pos)
        wire = next((i for i in self.items(event.pos()) if isinstance(i, WireItem) and not i.live), None)
        group = next((i for i in self.items(event.pos()) if isinstance(i, GroupItem)), None)
        if group is not None and block is None:
            self._group_entries(menu, group, None)
        elif block is not None:
            if not block.isSelected():
                scene.select_blocks([block.block_id])
            result = scene.result
            for d in (result.diagnostics_for(block.block_id) if result else []):
                if d.fix:
                    fix = d.fix
                    act = menu.addAction(f"Fix: {edits.fix_label(fix)}")
                    act.triggered.connect(lambda _=False, f=fix: edits.apply_fix(self.session, f))
            if not menu.isEmpty():
                menu.addSeparator()
            for act in self.context_actions:
                menu.addAction(act)
            if get_kind(self.session.document.blocks[block.block_id].kind).prunes:
                menu.addSeparator()
                act = menu.addAction("Prune channels…")
                act.triggered.connect(lambda _=False, b=block.block_id: self.prune_requested.emit(b))
            if scene.groups.groups_of(block.block_id):
                menu.addSeparator()
                self._group_entries(menu, None, block.block_id)
        elif wire is not None:
            scene.clearSelection()
            wire.setSelected(True)
            act = menu.addAction("Delete wire")
            act.triggered.connect(lambda: edits.delete(self.session, edges=[wire.edge]))
        else:
            act = menu.addAction("Add block…")
            act.setShortcut("Tab")
            act.triggered.connect(lambda: self.open_quick_add(event.pos()))
            for act in self.context_actions:
                if act.objectName() in ("paste", "select_all", "auto_layout", "fit_view"):
                    menu.addAction(act)
            if scene.groups.items:
                self._group_entries(menu, None, None)
        self.run_menu(menu, event.globalPos())

    def collapse_all_groups(self) -> None:
        edits.set_all_collapsed(self.session, True)

    def expand_all_groups(self) -> None:
        edits.set_all_collapsed(self.session, False)

    def _group_entries(self, menu: QMenu, group: GroupItem | None, block_id: str | None) -> None:
        """Collapse/expand entries for the group under the cursor, or for the groups holding a block."""
        doc = self.session.document
        if group is not None:
            name = group.name
            act = menu.addAction(f"{'Expand' if group.collapsed else 'Collapse'} {name}")
            act.triggered.connect(lambda _=False, n=name, c=not group.collapsed: edits.set_collapsed(self.session, [n], c))
            inner = [n for n in self.scene().groups.items if n.startswith(name + ".")]
            for word, collapse in (("Collapse", True), ("Expand", False)):
                todo = [n for n in inner if (n in doc.collapsed) != collapse]
                if todo:
                    act = menu.addAction(f"{word} the groups inside {name}")
                    act.triggered.connect(lambda _=False, t=todo, c=collapse, n=name: edits.set_collapsed(
                        self.session, t, c, f"{'Collapse' if c else 'Expand'} the groups inside {n}"))
        elif block_id is not None:
            for item in reversed(self.scene().groups.groups_of(block_id)):
                act = menu.addAction(f"Collapse {item.name}")
                act.triggered.connect(lambda _=False, n=item.name: edits.set_collapsed(self.session, [n], True))
        if self.scene().groups.items:
            if not menu.isEmpty():
                menu.addSeparator()
            for act in self.group_actions:
                menu.addAction(act)

    def run_menu(self, menu: QMenu, global_pos) -> None:
        """Show a context menu (a seam: tests replace it to pick an action without a nested event loop)."""
        menu.exec(global_pos)
