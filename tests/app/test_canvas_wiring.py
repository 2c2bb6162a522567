"""Wiring, moving, selecting and deleting on the canvas with real mouse and keyboard events."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from layerloom.app import edits
from layerloom.graph.document import Edge

from .helpers import block_point, drag, move, palette_drop, port_point, wire


def test_drag_from_palette_then_wire_two_ports(win):
    a = palette_drop(win, "Input", QPoint(200, 200))
    b = palette_drop(win, "ReLU", QPoint(500, 260))
    assert win.document.blocks[a].kind == "Input" and win.document.blocks[b].kind == "ReLU"
    assert win.scene.selected_block_ids() == [b]
    wire(win, a, b)
    assert win.document.edges == [Edge(a, b)]
    assert win.scene.wires[Edge(a, b)].label == "1×28×28"
    assert win.undo_stack.count() == 3


def chain(win, *kinds, y=250, x0=120, step=200):
    """Drop blocks from the palette in a row and return their ids."""
    return [palette_drop(win, k, QPoint(x0 + i * step, y)) for i, k in enumerate(kinds)]


def test_wiring_into_an_occupied_input_replaces_the_wire_in_one_step(win):
    a, b, c = chain(win, "Input", "Tanh", "ReLU")
    wire(win, a, c)
    wire(win, b, c)
    assert win.document.edges == [Edge(b, c)]
    assert win.undo_stack.undoText().startswith("Rewire")
    win.undo_stack.undo()
    assert win.document.edges == [Edge(a, c)]
    assert set(win.scene.wires) == {Edge(a, c)}
    win.undo_stack.redo()
    assert set(win.scene.wires) == {Edge(b, c)}


def test_dropping_a_wire_on_empty_canvas_cancels(win):
    a, b = chain(win, "Input", "ReLU")
    steps = win.undo_stack.count()
    drag(win.view.viewport(), port_point(win, a, True), QPoint(300, 600))
    assert win.document.edges == []
    assert win.undo_stack.count() == steps
    assert not [i for i in win.scene.items() if getattr(i, "live", False)]


def test_compatible_ports_light_up_while_dragging_a_wire(win):
    a, b, c = chain(win, "Input", "ReLU", "Tanh")
    d = palette_drop(win, "Sigmoid", QPoint(320, 500))
    wire(win, a, b)
    wire(win, b, c)
    vp = win.view.viewport()
    start = port_point(win, c, True)
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    move(vp, start + QPoint(30, 40))
    ports = {bid: win.scene.blocks[bid].in_ports[0].highlight for bid in (b, c, d)}
    live = [i for i in win.scene.items() if getattr(i, "live", False)]
    assert ports == {b: 0, c: 0, d: 1}   # b and c feed the Tanh: wiring back into them makes a cycle
    assert not win.scene.blocks[a].out_ports[0].highlight   # outputs do not take a wire from an output
    assert len(live) == 1
    move(vp, port_point(win, d, False))
    assert win.scene.blocks[d].in_ports[0].highlight == 2
    move(vp, port_point(win, b, False))
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, port_point(win, b, False))
    assert Edge(c, b) not in win.document.edges
    assert not [i for i in win.scene.items() if getattr(i, "live", False)]


def test_dragging_from_an_input_port_back_to_an_output_wires_too(win):
    a, b = chain(win, "Input", "ReLU")
    drag(win.view.viewport(), port_point(win, b, False), port_point(win, a, True))
    assert win.document.edges == [Edge(a, b)]


def test_dropping_a_wire_on_a_block_body_uses_its_free_input(win):
    a, b = chain(win, "Input", "ReLU")
    drag(win.view.viewport(), port_point(win, a, True), block_point(win, b))
    assert win.document.edges == [Edge(a, b)]


def test_select_a_wire_and_press_delete(win):
    a, b = chain(win, "Input", "ReLU")
    wire(win, a, b)
    label = win.scene.wires[Edge(a, b)].label_rect().center()
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     win.view.mapFromScene(label))
    assert win.scene.selected_edges() == [Edge(a, b)]
    QTest.keyClick(win.view, Qt.Key.Key_Delete)
    assert win.document.edges == []
    assert win.document.blocks.keys() == {a, b}
    win.undo_stack.undo()
    assert win.document.edges == [Edge(a, b)]


def test_a_drag_moves_the_selection_in_one_undo_step_and_wires_follow(win):
    a, b, c = chain(win, "Input", "ReLU", "Tanh")
    wire(win, a, b)
    wire(win, b, c)
    before = {k: tuple(v.pos) for k, v in win.document.blocks.items()}
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(win, a))
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier,
                     block_point(win, b))
    assert win.scene.selected_block_ids() == [a, b]
    steps = win.undo_stack.count()
    zoom = win.view.zoom
    drag(win.view.viewport(), block_point(win, b), block_point(win, b) + QPoint(round(80 * zoom), round(120 * zoom)))
    assert win.undo_stack.count() == steps + 1
    for bid in (a, b):
        assert win.document.blocks[bid].pos[0] == before[bid][0] + 80
        assert win.document.blocks[bid].pos[1] == before[bid][1] + 120
    assert tuple(win.document.blocks[c].pos) == before[c]
    item = win.scene.blocks[b]
    w = win.scene.wires[Edge(a, b)]
    assert w.shape().boundingRect().contains(item.port(False, 0).scenePos())
    win.undo_stack.undo()
    assert {k: tuple(v.pos) for k, v in win.document.blocks.items()} == before
    assert win.scene.blocks[a].pos().toTuple() == before[a]


def test_rubber_band_selects_and_ctrl_click_toggles(win):
    a, b, c = chain(win, "Input", "ReLU", "Tanh", y=300)
    vp = win.view.viewport()
    drag(vp, QPoint(40, 150), QPoint(block_point(win, b).x() + 5, 420))
    assert win.scene.selected_block_ids() == [a, b]
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ControlModifier, block_point(win, a))
    assert win.scene.selected_block_ids() == [b]
    QTest.mouseClick(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(30, 30))
    assert win.scene.selected_block_ids() == []


def test_delete_key_removes_blocks_with_their_wires_in_one_step(win):
    a, b, c = chain(win, "Input", "ReLU", "Tanh")
    wire(win, a, b)
    wire(win, b, c)
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(win, b))
    steps = win.undo_stack.count()
    QTest.keyClick(win.view, Qt.Key.Key_Delete)
    assert list(win.document.blocks) == [a, c] and win.document.edges == []
    assert set(win.scene.blocks) == {a, c} and not win.scene.wires
    assert win.undo_stack.count() == steps + 1
    win.undo_stack.undo()
    assert list(win.document.blocks) == [a, b, c]
    assert win.document.edges == [Edge(a, b), Edge(b, c)]
    assert set(win.scene.wires) == {Edge(a, b), Edge(b, c)}


def test_refused_wire_says_why_in_the_status_bar(win):
    a, b = chain(win, "Input", "ReLU")
    edits.connect(win.session, b, 0, b, 0)
    assert "itself" in win.statusBar().currentMessage()
    assert win.document.edges == []


def test_a_wire_dropped_where_it_cannot_go_says_why(win):
    """A wire dragged back into a block upstream (a cycle), or onto another output, was dropped without a
    word: the person could not tell why nothing happened."""
    a, b, c = chain(win, "Input", "ReLU", "Tanh")
    wire(win, a, b)
    wire(win, b, c)
    steps = win.undo_stack.count()
    vp = win.view.viewport()
    drag(vp, port_point(win, c, True), port_point(win, b, False))
    assert "would make a cycle" in win.statusBar().currentMessage()
    drag(vp, port_point(win, c, True), port_point(win, a, True))
    assert "two outputs cannot be wired together" in win.statusBar().currentMessage()
    drag(vp, port_point(win, b, True), port_point(win, b, False))
    assert "cannot be wired into itself" in win.statusBar().currentMessage()
    assert set(win.scene.wires) == {Edge(a, b), Edge(b, c)} and win.undo_stack.count() == steps


def test_select_all_and_a_rubber_band_work_out_the_selection_once_per_gesture(win, monkeypatch):
    """Select All on 300 blocks looks at the selection a few times, not once per block (each look costs
    the whole selection: a select-all of 3,000 blocks froze the window for minutes; bench/paste.py)."""
    from layerloom.graph.document import GraphDocument
    doc = GraphDocument("wide")
    for i in range(300):
        doc.add_block("ReLU", {}, ((i % 20) * 160.0, (i // 20) * 100.0))
    win.session.set_document(doc)
    win.view.fit()
    looks = []
    original = win.scene.selectedItems
    monkeypatch.setattr(win.scene, "selectedItems", lambda *a: looks.append(1) or original(*a))
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert len(win.scene.selected_block_ids()) == 300 and win.inspector.block_id is None
    assert len(looks) <= 5
    looks.clear()
    vp = win.view.viewport()
    drag(vp, QPoint(2, 2), QPoint(vp.width() // 2, vp.height() // 2), steps=3)   # a rubber band, in 3 moves
    chosen = win.scene.selected_block_ids()
    assert 0 < len(chosen) < 300 and chosen == [b for b in doc.blocks if b in chosen]
    assert len(looks) <= 3 * 2 + 5


def test_dragging_many_blocks_places_each_wire_once_per_step(win, monkeypatch):
    """A drag of a whole selection moves every block, then places each wire once (it placed a wire for each
    block it touches, after a look at every wire per block: a drag of 1,000 blocks stuttered)."""
    from layerloom.graph.document import GraphDocument
    doc = GraphDocument("chain")
    last = doc.add_block("Input", {"shape": [8]}, (0.0, 0.0))
    for i in range(1, 40):
        block = doc.add_block("ReLU", {}, ((i % 8) * 160.0, (i // 8) * 100.0))
        doc.connect(last, block)
        last = block
    win.session.set_document(doc)
    win.view.fit()
    win.scene.select_blocks(doc.blocks)
    placed = []
    original = win.scene._place_wire
    monkeypatch.setattr(win.scene, "_place_wire", lambda item: placed.append(item.edge) or original(item))
    start = block_point(win, "relu1")
    drag(win.view.viewport(), start, start + QPoint(80, 60), steps=4)
    assert win.undo_stack.undoText() == "Move 40 blocks"
    assert len(placed) <= 4 * len(doc.edges)
    for e, w in win.scene.wires.items():       # and every wire still ends on its ports
        assert w._a == win.scene.blocks[e.src].port_pos(True, e.src_port)
        assert w._b == win.scene.blocks[e.dst].port_pos(False, e.dst_port)


def test_a_wire_starts_from_the_rim_of_a_port_at_any_zoom(win):
    """A press the view counts as on a port (its pixel touches the port) starts a wire, even where the
    pixel's centre falls just outside it: it raised in the canvas's press handler."""
    from layerloom.app.canvas.port_item import PortItem
    a, b = chain(win, "Input", "ReLU")
    for zoom in (0.3, 1.0):
        win.view.set_zoom(zoom)
        port = win.scene.blocks[a].port(True, 0).scenePos()
        win.view.centerOn(port)
        centre = win.view.mapFromScene(port)
        rim = [centre + QPoint(dx, dy) for dx in range(-8, 9) for dy in range(-8, 9)
               if any(isinstance(i, PortItem) for i in win.view.items(centre + QPoint(dx, dy)))
               and win.scene.port_at(win.view.mapToScene(centre + QPoint(dx, dy))) is None]
        assert rim, zoom
        drag(win.view.viewport(), rim[0], win.view.mapFromScene(win.scene.blocks[b].port(False, 0).scenePos()))
        assert win.document.edges == [Edge(a, b)], zoom
        win.undo_stack.undo()


def test_a_click_on_the_rim_of_a_block_selects_it(win):
    """A press the view counts as on a block (its pixel touches the block's edge) selects and drags the
    block, even where the pixel's centre falls just outside its rounded outline: it raised."""
    from layerloom.app.canvas.block_item import BlockItem
    (a,) = chain(win, "ReLU")
    win.view.set_zoom(1.0)
    item = win.scene.blocks[a]
    win.view.centerOn(item.sceneBoundingRect().center())
    box = win.view.mapFromScene(item.sceneBoundingRect()).boundingRect()
    rim = [QPoint(x, y) for x in range(box.left(), box.right()) for y in range(box.top(), box.bottom())
           if isinstance(next(iter(win.view.items(QPoint(x, y))), None), BlockItem)
           and win.scene.block_at(win.view.mapToScene(QPoint(x, y))) is None]
    assert rim
    win.scene.clearSelection()
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rim[0])
    assert win.scene.selected_block_ids() == [a]
    before = win.document.blocks[a].pos
    drag(win.view.viewport(), rim[-1], rim[-1] + QPoint(60, 40))
    assert win.document.blocks[a].pos != before


def _hold_and_move(vp, start, by):
    QTest.mousePress(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, start)
    move(vp, start + by, Qt.MouseButton.LeftButton)


def _release(vp, at):
    move(vp, at, Qt.MouseButton.LeftButton)
    QTest.mouseRelease(vp, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, at)


def test_the_graph_changing_under_a_drag_ends_the_drag_and_the_canvas_follows_the_graph(win):
    """Delete, undo or Auto Layout pressed while the mouse still drags blocks or a wire: the drag ends
    without an edit, nothing raises, and every block sits where the graph has it."""
    a, b, c = chain(win, "ReLU", "Tanh", "Sigmoid")
    vp = win.view.viewport()
    win.scene.select_blocks([a, b])
    start = block_point(win, a)
    _hold_and_move(vp, start, QPoint(40, 30))
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key.Key_Delete)                 # both dragged blocks deleted mid-drag
    _release(vp, start + QPoint(80, 60))
    assert list(win.document.blocks) == [c] and win.undo_stack.undoText() == "Delete 2 blocks"
    win.undo_stack.undo()
    start = block_point(win, b)
    _hold_and_move(vp, start, QPoint(40, 30))
    win.actions_by_name["auto_layout"].trigger()                # the graph moves the blocks mid-drag
    _release(vp, start + QPoint(90, 70))
    assert not win.undo_stack.undoText().startswith("Move")     # the cancelled drag made no edit
    for bid, item in win.scene.blocks.items():
        assert item.pos().toTuple() == tuple(win.document.blocks[bid].pos), bid
    port = port_point(win, c, True)
    _hold_and_move(vp, port, QPoint(30, 20))
    win.undo_stack.setIndex(0)                                  # undo everything: c is gone mid-wire
    _release(vp, port_point(win, a, False) if a in win.scene.blocks else port + QPoint(60, 30))
    assert not win.document.blocks and not win.document.edges
    assert not [i for i in win.scene.items() if getattr(i, "live", False)]


def test_a_wire_between_blocks_placed_close_draws_no_pill_under_their_cards(win):
    """Two blocks dropped side by side a little apart: the wire's shape pill sat under both cards, showing
    "×28×2" between them. The pill is left out where it cannot be seen whole (the source card shows the shape),
    and comes back once the blocks are apart."""
    a, b = chain(win, "Input", "ReLU", step=round(190 * win.view.zoom))       # cards 132 wide: 58 apart
    wire(win, a, b)
    w = win.scene.wires[Edge(a, b)]
    cards = [win.scene.blocks[x].sceneBoundingRect() for x in (a, b)]
    assert w.label == "1×28×28" and w.label_rect().isNull()
    assert not any(w.label_rect().intersects(c) for c in cards)
    drag(win.view.viewport(), block_point(win, b), block_point(win, b) + QPoint(round(150 * win.view.zoom), 0))
    cards = [win.scene.blocks[x].sceneBoundingRect() for x in (a, b)]
    assert not w.label_rect().isNull() and not any(w.label_rect().intersects(c) for c in cards)
