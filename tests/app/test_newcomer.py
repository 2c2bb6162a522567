"""Done when: a newcomer rebuilds LeNet-5 from an empty canvas with the mouse (palette drops, port
drags, inspector edits), sees the shapes flow, and gets exactly the preset."""
from __future__ import annotations

from PySide6.QtCore import QPoint, Qt
from PySide6.QtTest import QTest

from layerloom.graph import analyze
from layerloom.graph.analysis import topological_order
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path

from .helpers import block_point, palette_drop, wire

LENET = ["Input", "Conv2d", "ReLU", "MaxPool2d", "Conv2d", "ReLU", "MaxPool2d", "Flatten",
         "Linear", "ReLU", "Linear", "ReLU", "Linear", "Output"]
EDITS = {1: {"out_channels": "6", "kernel_size": "5", "padding": "2"},
         4: {"out_channels": "16", "kernel_size": "5"},
         8: {"out_features": "120"}, 10: {"out_features": "84"}, 12: {"out_features": "10"}}


def canonical(doc):
    """The chain as (kind, full params) in flow order, and the wires as pairs of positions in it."""
    order, _, _ = topological_order(doc)
    index = {b: i for i, b in enumerate(order)}
    blocks = [(doc.blocks[b].kind, doc.blocks[b].full_params()) for b in order]
    edges = sorted((index[e.src], index[e.dst], e.src_port, e.dst_port) for e in doc.edges)
    return blocks, edges


def type_into(widget, text):
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def test_a_newcomer_rebuilds_lenet5_with_the_mouse(win):
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key.Key_Minus, Qt.KeyboardModifier.ControlModifier)   # zoom out a step
    assert abs(win.view.zoom - 0.8) < 1e-6
    ids = []
    for i, kind in enumerate(LENET):
        row, col = divmod(i, 5)
        ids.append(palette_drop(win, kind, QPoint(90 + col * 165, 70 + row * 150)))
    assert [win.document.blocks[b].kind for b in ids] == LENET

    for a, b in zip(ids, ids[1:]):
        wire(win, a, b)
    assert len(win.document.edges) == 13

    for i, values in EDITS.items():
        QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                         block_point(win, ids[i]))
        assert win.inspector.block_id == ids[i]
        for name, text in values.items():
            type_into(win.inspector.editor(name).main, text)

    labels = [win.scene.wires[e].label for e in win.document.edges]
    assert labels == ["1×28×28", "6×28×28", "6×28×28", "6×14×14", "16×10×10", "16×10×10", "16×5×5",
                      "400", "120", "120", "84", "84", "10"]
    assert all(item.look.status == "ok" for item in win.scene.blocks.values())
    assert win.problems.diagnostics == []

    preset = load_graph(preset_path("lenet5"))
    assert canonical(win.document) == canonical(preset)
    assert analyze(win.document).total_params == 61_706
    assert "61,706" in win.summary.totals.text()
    # one step per drop, wire and changed value (conv2's 16 filters and fc3's 10 outputs are the defaults)
    assert win.undo_stack.count() == 14 + 13 + sum(len(v) for v in EDITS.values()) - 2
