"""Real mouse and keyboard input for the editor's tests, and views of the scene to assert on."""
from __future__ import annotations

import threading

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtCore import QEvent
from PySide6.QtGui import QDragEnterEvent, QDragMoveEvent, QDropEvent, QMouseEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.app.panels import palette as palette_module
from layerloom.graph.blocks import get_kind

LEFT = Qt.MouseButton.LeftButton
NO_MOD = Qt.KeyboardModifier.NoModifier


def close_without_questions(window) -> None:
    """Before the test's windows are closed: nothing unsaved, so closing really closes (and stops every
    worker the window owns) instead of asking and leaving the window and its timers alive."""
    window.session.undo_stack.setClean()


def settle_layouts(rounds: int = 12) -> None:
    """Let posted layout requests climb to the window: each level of widgets takes a round of the
    event loop (a panel's LayoutFence one more), however slow the machine is."""
    for _ in range(rounds):
        QApplication.sendPostedEvents()
        QApplication.processEvents()


def move(widget, pos: QPoint, buttons=Qt.MouseButton.NoButton, modifiers=NO_MOD) -> None:
    """A mouse move delivered to this widget (QTest.mouseMove moves the cursor, which another
    top-level window left over from an earlier test may catch)."""
    event = QMouseEvent(QEvent.Type.MouseMove, QPointF(pos), QPointF(widget.mapToGlobal(pos)),
                        Qt.MouseButton.NoButton, buttons, modifiers)
    QApplication.sendEvent(widget, event)


def drag(widget, start: QPoint, end: QPoint, button=LEFT, modifiers=NO_MOD, steps: int = 6) -> None:
    """Press at start, move in steps, release at end: a real drag as the widget receives it."""
    QTest.mousePress(widget, button, modifiers, start)
    for i in range(1, steps + 1):
        p = start + (end - start) * (i / steps)
        move(widget, QPoint(round(p.x()), round(p.y())), button, modifiers)
    QTest.mouseRelease(widget, button, modifiers, end)


def view_point(view, scene_pos: QPointF) -> QPoint:
    return view.mapFromScene(scene_pos)


def port_point(win, block_id: str, is_output: bool, index: int = 0) -> QPoint:
    item = win.scene.blocks[block_id]
    return view_point(win.view, item.port(is_output, index).scenePos())


def block_point(win, block_id: str) -> QPoint:
    """A point on the block's body (below the header, between the ports)."""
    item = win.scene.blocks[block_id]
    return view_point(win.view, item.mapToScene(QPointF(item.boundingRect().width() / 2 - 8, item.height - 10)))


def wire(win, src: str, dst: str, src_port: int = 0, dst_port: int = 0) -> None:
    drag(win.view.viewport(), port_point(win, src, True, src_port), port_point(win, dst, False, dst_port))


def palette_drop(win, kind: str, at: QPoint) -> str:
    """Drag `kind` from the palette onto the canvas at viewport point `at`; returns the new block id.

    The press and moves on the palette are real; the drag's drop is delivered to the canvas by
    standing in for QDrag.exec (which would wait for a real window system).
    """
    tree = win.palette.tree
    item = win.palette.items[kind]
    tree.scrollToItem(item)
    rect = tree.visualItemRect(item)
    delivered = []

    def deliver(drag_obj):
        mime: QMimeData = drag_obj.mimeData()
        vp = win.view.viewport()
        pos = QPointF(at)
        actions = Qt.DropAction.CopyAction
        for event in (QDragEnterEvent(pos, actions, mime, LEFT, NO_MOD),
                      QDragMoveEvent(pos, actions, mime, LEFT, NO_MOD),
                      QDropEvent(pos, actions, mime, LEFT, NO_MOD)):
            QApplication.sendEvent(vp, event)
        delivered.append(True)

    before = set(win.document.blocks)
    original = palette_module.run_drag
    palette_module.run_drag = deliver
    try:
        drag(tree.viewport(), rect.center(), rect.center() + QPoint(40, 0), steps=4)
    finally:
        palette_module.run_drag = original
    assert delivered, "the palette did not start a drag"
    new = set(win.document.blocks) - before
    assert len(new) == 1, new
    return new.pop()


def scene_snapshot(win) -> dict:
    """What the canvas shows: per block its look, per wire its label."""
    return {
        "blocks": {bid: (item.look.kind, item.look.label, item.look.shape, item.look.status)
                   for bid, item in win.scene.blocks.items()},
        "wires": {(e.src, e.dst, e.src_port, e.dst_port): w.label for e, w in win.scene.wires.items()},
    }


def expected_wire_labels(win) -> dict:
    from layerloom.graph import analyze
    from layerloom.graph.diagnostics import shape_text
    result = analyze(win.document)
    out = {}
    for e in win.document.edges:
        r = result.blocks[e.src]
        out[(e.src, e.dst, e.src_port, e.dst_port)] = shape_text(r.output_shape) if r.ok else "?"
    return out


def height_of(kind: str) -> int:
    k = get_kind(kind)
    return k.input_count(k.defaults())


# -- the Training panel ------------------------------------------------------------------------------
def settings(t, **values) -> None:
    """Set the Training panel's settings as a person would pick them."""
    s = t.panel.settings
    for name, value in values.items():
        w = getattr(s, name)
        if hasattr(w, "findData"):
            w.setCurrentIndex(w.findData(value))
        elif hasattr(w, "setChecked"):
            w.setChecked(value)
        else:
            w.setValue(value)


def points(curve) -> int:
    return 0 if curve.xData is None else len(curve.xData)


def wait_run_end(t, qtbot, timeout=60_000) -> None:
    qtbot.waitUntil(lambda: not t.run.active, timeout=timeout)


def refused_run(win, t, qtbot) -> None:
    """The toolbar's ▶ Train for a graph whose runs start from a weights file (its training section's
    `init_from`) that holds another network's weights: the readiness check reads only the file's header,
    the trainer's setup matches its tensors onto the graph, finds none that fits, and refuses the run
    before its first step."""
    from safetensors.numpy import save_file
    unrelated = t.runs_base.parent / "unrelated.safetensors"
    save_file({"encoder.layers.0.weight": np.zeros((7, 3), np.float32)}, str(unrelated))
    section = {**win.session.document.training, "init_from": str(unrelated)}
    win.session.edit("Start from damaged weights", lambda r: r.set_meta("training", section))
    qtbot.waitUntil(lambda: t.ready, timeout=20_000)
    qtbot.mouseClick(win.toolbar.widgetForAction(win.actions_by_name["train_start"]), LEFT)
    wait_run_end(t, qtbot)


def fresh_weights(win, t, qtbot) -> None:
    """Runs start from fresh weights again (no `init_from` in the graph's training section)."""
    section = {k: v for k, v in win.session.document.training.items() if k != "init_from"}
    win.session.edit("Start from fresh weights", lambda r: r.set_meta("training", section))
    qtbot.waitUntil(lambda: t.ready, timeout=20_000)


class Gate:
    """Wraps a function so that it waits, in whatever thread calls it, until the test opens the gate."""

    def __init__(self, function, when=lambda: True):
        self.function, self.when = function, when
        self.entered, self.opened = threading.Event(), threading.Event()

    def __call__(self, *args, **kwargs):
        if self.when():
            self.entered.set()
            self.opened.wait(60)
        return self.function(*args, **kwargs)


def drop_file(win, path) -> None:
    """Drag a file from the file manager and drop it on the canvas (enter, then drop)."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    args = (QPointF(200, 200), Qt.DropAction.CopyAction, mime, LEFT, NO_MOD)
    enter = QDragEnterEvent(*args)
    QApplication.sendEvent(win.view.viewport(), enter)
    assert enter.isAccepted()
    QApplication.sendEvent(win.view.viewport(), QDropEvent(*args))


def mlp_runs(runs, lrs=(0.001, 0.003)) -> None:
    """Finished two-epoch runs of the MLP preset in folder `runs`, one per learning rate, as the CLI
    leaves them (`max_steps` 0: no step limit, so each trains its two whole epochs)."""
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.trainer import Trainer
    for lr in lrs:
        Trainer(load_graph(preset_path("mlp")), {"epochs": 2, "lr": lr, "max_steps": 0}, None, runs_base=runs).run()


def merge_graph():
    """input → left, right → [merge: add → act] → fc; `other` (fed by input) and `head` stand outside."""
    from layerloom.graph.document import GraphDocument
    from layerloom.graph.layout import apply_layout, auto_layout
    doc = GraphDocument("merge")
    doc.add_block("Input", {"shape": [8]}, block_id="input")
    for bid in ("left", "right", "other"):
        doc.add_block("Linear", {"in_features": 8, "out_features": 8}, block_id=bid)
        doc.connect("input", bid)
    doc.add_block("Add", {}, block_id="add", group="merge")
    doc.add_block("ReLU", {}, block_id="act", group="merge")
    doc.add_block("Linear", {"in_features": 8, "out_features": 2}, block_id="fc")
    doc.add_block("Linear", {"in_features": 8, "out_features": 3}, block_id="head")
    doc.connect("left", "add")
    doc.connect("right", "add", dst_port=1)
    doc.connect("add", "act")
    doc.connect("act", "fc")
    apply_layout(doc, auto_layout(doc))
    return doc


def opaque_graph(folder, model_source: str) -> tuple:
    """A graph file "Theirs" (Input [3] -> an Opaque block running the class Twice of their_model.py -> Output)
    beside their_model.py holding `model_source`: (the model file, the graph file)."""
    import json
    model = folder / "their_model.py"
    model.write_text(model_source)
    graph = folder / "theirs.loom.json"
    graph.write_text(json.dumps({
        "format": "layerloom.graph", "version": 3, "name": "Theirs",
        "blocks": [{"id": "input", "kind": "Input", "params": {"shape": [3]}},
                   {"id": "twice", "kind": "Opaque", "params": {"target": f"{model}:Twice"}},
                   {"id": "output", "kind": "Output"}],
        "edges": [{"from": "input", "to": "twice"}, {"from": "twice", "to": "output"}]}))
    return model, graph
