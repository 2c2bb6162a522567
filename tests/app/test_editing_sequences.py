"""Editing as a person does it, in any order: blocks dropped from the palette and added with Tab, wires
dragged between ports, blocks and groups moved, renamed and given odd parameter text in the Inspector, cut, copied,
pasted, duplicated and deleted with the keyboard, groups folded, undo and redo pressed in between.

After every action the canvas mirrors the document (one item per block and wire, where the block is,
groups as the document has them), and the Inspector shows a block that exists. After the sequence,
undoing everything gives back the graph it started from, redoing everything the graph it ended with,
and saving then opening gives the same graph again.

Sequences are drawn by hypothesis, derandomized; LAYERLOOM_LONG=1 draws many more."""
from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QKeyEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QLineEdit, QSpinBox

from layerloom.graph.fileformat import graph_to_dict, load_graph, save_graph
from layerloom.graph.groups import group_names, shown_as

from .helpers import LEFT, NO_MOD, block_point, drag, merge_graph, move, palette_drop, port_point

EXAMPLES = 60 if os.environ.get("LAYERLOOM_LONG") else 4
CTRL = Qt.KeyboardModifier.ControlModifier
KINDS = ("Linear", "ReLU", "Add", "Concat", "Dropout", "Flatten", "Input")
TEXTS = ("3", "0", "-1", "1e400", "nan", "", "4, 4", "auto", "same", "٣", "x" * 300, "99999999999999999999",
         "0.25", "[2, 3]", " 7 ")
NAMES = ("stem", "x", "fc", "head_2", "class", "Ω", "a" * 70, "", "1abc", "act")

MENU = ("undo", "redo", "undo", "collapse_groups", "expand_groups", "auto_layout")
index = st.integers(0, 1000)
action = st.one_of(
    st.tuples(st.just("drop"), st.sampled_from(KINDS), st.integers(80, 700), st.integers(80, 500)),
    st.tuples(st.just("quick_add"), st.sampled_from(("relu", "linear", "conv2d", "zzz"))),
    st.tuples(st.just("wire"), index, index, st.integers(0, 2)),
    st.tuples(st.just("move"), index, st.integers(-200, 200), st.integers(-200, 200)),
    st.tuples(st.just("group"), index, st.integers(-200, 200), st.integers(-200, 200)),
    st.tuples(st.just("press"), index, st.floats(0, 1), st.floats(0, 1), st.integers(-150, 150),
              st.integers(-150, 150)),
    st.tuples(st.just("key"), index, st.sampled_from(("Delete", "C", "X", "V", "D", "A+Delete"))),
    st.tuples(st.just("rename"), index, st.sampled_from(NAMES)),
    st.tuples(st.just("param"), index, index, st.sampled_from(TEXTS)),
    st.tuples(st.just("menu"), st.sampled_from(MENU)),
    st.tuples(st.just("held"), index, st.floats(0, 1), st.floats(0, 1), st.sampled_from(MENU + ("delete", "cut"))),
)


def type_text(widget, text: str) -> None:
    """Key presses that carry text, as a keyboard (or an input method, for non-ASCII) sends them."""
    for ch in text:
        for kind in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease):
            QApplication.sendEvent(widget, QKeyEvent(kind, 0, NO_MOD, ch))


def click_block(win, ids, i):
    bid = ids[i % len(ids)]
    QTest.mouseClick(win.view.viewport(), LEFT, NO_MOD, block_point(win, bid))


def do(win, step) -> None:
    name, *args = step
    view, ids = win.view, list(win.document.blocks)
    view.fit()
    QApplication.processEvents()
    if name == "drop":
        palette_drop(win, args[0], QPoint(args[1], args[2]))
    elif name == "quick_add":
        move(view.viewport(), QPoint(300, 300))
        view.setFocus()
        QTest.keyClick(view, Qt.Key.Key_Tab)
        QTest.keyClicks(view.quick_add.search, args[0])
        QTest.keyClick(view.quick_add.search, Qt.Key.Key_Return)
        if view.quick_add.isVisible():
            QTest.keyClick(view.quick_add.search, Qt.Key.Key_Escape)
        win.activateWindow()          # the window manager's part once a popup closes (offscreen has none)
    elif name == "group":
        groups = list(win.scene.groups.items.values())
        if groups:
            group = groups[args[0] % len(groups)]
            start = view.mapFromScene((group.card() if group.collapsed else group.header()).center())
            drag(view.viewport(), start, start + QPoint(args[1], args[2]))
    elif not ids:
        return
    elif name == "wire":
        src, dst = ids[args[0] % len(ids)], ids[args[1] % len(ids)]
        if win.scene.blocks[src].out_ports and win.scene.blocks[dst].in_ports:
            port = args[2] % len(win.scene.blocks[dst].in_ports)
            drag(view.viewport(), port_point(win, src, True), port_point(win, dst, False, port))
    elif name == "move":
        start = block_point(win, ids[args[0] % len(ids)])
        drag(view.viewport(), start, start + QPoint(args[1], args[2]))
    elif name in ("press", "held"):         # anywhere around a block: its rim, a port, a wire, the canvas
        box = view.mapFromScene(win.scene.blocks[ids[args[0] % len(ids)]].sceneBoundingRect()).boundingRect()
        start = QPoint(box.left() + round(args[1] * box.width()), box.top() + round(args[2] * box.height()))
        if name == "press":
            drag(view.viewport(), start, start + QPoint(args[3], args[4]))
        else:                               # the mouse held down while a shortcut or a menu changes the graph
            QTest.mousePress(view.viewport(), LEFT, NO_MOD, start)
            move(view.viewport(), start + QPoint(30, 20), LEFT)
            win.actions_by_name[args[3]].trigger()
            move(view.viewport(), start + QPoint(60, 40), LEFT)
            QTest.mouseRelease(view.viewport(), LEFT, NO_MOD, start + QPoint(60, 40))
    elif name == "key":
        click_block(win, ids, args[0])
        view.setFocus()
        if args[1] == "A+Delete":
            QTest.keyClick(view, Qt.Key.Key_A, CTRL)
            QTest.keyClick(view, Qt.Key.Key_Delete)
        elif args[1] == "Delete":
            QTest.keyClick(view, Qt.Key.Key_Delete)
        else:
            QTest.keyClick(view, getattr(Qt.Key, f"Key_{args[1]}"), CTRL)
    elif name == "rename":
        click_block(win, ids, args[0])
        if win.inspector.block_id is not None:
            field = win.inspector.id_edit
            field.setFocus()
            field.selectAll()
            type_text(field, args[1])
            QTest.keyClick(field, Qt.Key.Key_Return)
    elif name == "param":
        click_block(win, ids, args[0])
        editors = [e for e in win.inspector.editors.values()
                   if isinstance(e.main, (QLineEdit, QSpinBox)) and e.main.isEnabled()]
        if editors:
            field = editors[args[1] % len(editors)].main
            field.setFocus()
            field.selectAll()
            type_text(field, args[2])
            QTest.keyClick(field, Qt.Key.Key_Return)
    else:
        win.actions_by_name[args[0]].trigger()
    QApplication.processEvents()


def assert_canvas_mirrors(win) -> None:
    QApplication.processEvents()
    doc, scene = win.document, win.scene
    assert set(scene.blocks) == set(doc.blocks)
    assert set(scene.wires) == set(doc.edges)
    for bid, item in scene.blocks.items():
        assert item.block_id == bid and item.pos() == QPointF(*doc.blocks[bid].pos), bid
        assert item.isVisible() == (shown_as(doc.blocks[bid].group, doc.collapsed) == ""), bid
        assert (item.look.inputs, item.look.outputs) == (doc.input_count(bid), doc.output_count(bid)), bid
    assert set(scene.groups.items) == set(group_names(doc))
    for name, group in scene.groups.items.items():
        assert group.collapsed == (name in doc.collapsed), name
    assert win.inspector.block_id is None or win.inspector.block_id in doc.blocks
    assert not [i for i in scene.items() if getattr(i, "live", False)]      # no wire left half drawn


@given(st.lists(action, min_size=3, max_size=20))
@settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
def test_any_editing_undoes_redoes_saves_and_keeps_the_canvas_in_step(win, tmp_path, steps):
    doc = merge_graph()                     # and nested groups around it, one of them collapsed
    for i, bid in enumerate(("left", "right", "other")):
        doc.set_block_attr(bid, "group", f"enc.{i % 2}")
    doc.set_block_attr("fc", "group", "enc.1.x")
    doc.collapsed = ["enc.0"]
    win.session.set_document(doc)
    start = graph_to_dict(win.document)
    for step in steps:
        do(win, step)
        assert_canvas_mirrors(win)
    end = graph_to_dict(win.document)
    stack = win.session.undo_stack
    top = stack.index()                     # steps undone last in the sequence stay undone
    while stack.canUndo():
        stack.undo()
    assert graph_to_dict(win.document) == start, steps
    assert_canvas_mirrors(win)
    while stack.index() < top:
        stack.redo()
    assert graph_to_dict(win.document) == end, steps
    assert_canvas_mirrors(win)
    save_graph(win.document, tmp_path / "sequence.loom.json")
    assert graph_to_dict(load_graph(tmp_path / "sequence.loom.json")) == end, steps
    stack.setClean()
