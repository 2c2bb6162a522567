"""Every kind of edit is one undo step; undo restores the document exactly and redo replays it.

After each undo and redo the scene must still mirror the document (one item per block and wire,
labels from the analysis).
"""
from __future__ import annotations

import pytest

from layerloom.app import edits
from layerloom.graph.document import Edge
from layerloom.graph.fileformat import graph_to_dict, load_graph
from layerloom.presets import preset_path

from .helpers import expected_wire_labels


def assert_scene_mirrors(win):
    doc = win.document
    assert set(win.scene.blocks) == set(doc.blocks)
    assert set(win.scene.wires) == set(doc.edges)
    for bid, item in win.scene.blocks.items():
        assert item.pos().toTuple() == tuple(doc.blocks[bid].pos)
        assert item.block_id == bid
    labels = {(e.src, e.dst, e.src_port, e.dst_port): w.label for e, w in win.scene.wires.items()}
    assert labels == expected_wire_labels(win)


def lenet(win):
    win.session.set_document(load_graph(preset_path("lenet5")))
    return win.session


EDITS = {
    "add block": lambda s: edits.add_block(s, "Dropout", (100, 500)),
    "delete block": lambda s: edits.delete(s, ["pool1"]),
    "delete wire": lambda s: edits.delete(s, edges=[Edge("conv1", "relu1")]),
    "connect": lambda s: (edits.delete(s, edges=[Edge("conv1", "relu1")]),
                          edits.connect(s, "input", 0, "relu1", 0)),
    "rewire": lambda s: edits.connect(s, "conv1", 0, "pool1", 0),
    "set param": lambda s: edits.set_param(s, "conv1", "out_channels", 8),
    "reset param": lambda s: edits.set_param(s, "conv1", "padding"),
    "auto param": lambda s: edits.set_param(s, "fc1", "in_features", 400),
    "move": lambda s: edits.move_blocks(s, {"conv1": (300, 40), "relu1": (500, 40)}),
    "rename": lambda s: edits.rename(s, "conv1", "stem"),
    "graph name": lambda s: edits.set_meta(s, "name", "My LeNet"),
    "paste": lambda s: edits.paste(s, __import__("layerloom.app.clipboard", fromlist=["x"]).fragment(
        s.document, ["conv2", "relu2"]), at=(0, 400)),
    "insert flatten": lambda s: (edits.delete(s, ["flatten1"]), edits.connect(s, "pool2", 0, "fc1", 0),
                                 edits.set_param(s, "fc1", "in_features", 400),
                                 edits.insert_before(s, "fc1", "Flatten")),
    "auto layout": lambda s: (edits.move_blocks(s, {"conv1": (900, 900)}), edits.auto_layout(s)),
}


@pytest.mark.parametrize("name", list(EDITS))
def test_each_edit_is_one_step_that_undoes_exactly(win, name):
    session = lenet(win)
    EDITS[name](session)
    # some entries prepare with edits of their own: the edit under test is the last step
    steps = session.undo_stack.count()
    before_edit = session.undo_stack.index() - 1
    after = graph_to_dict(win.document)
    session.undo_stack.setIndex(before_edit)
    before = graph_to_dict(win.document)
    assert before != after
    assert_scene_mirrors(win)
    session.undo_stack.redo()
    assert graph_to_dict(win.document) == after
    assert session.undo_stack.count() == steps
    assert_scene_mirrors(win)


def test_undo_everything_back_to_the_file_and_redo_everything(win):
    session = lenet(win)
    original = graph_to_dict(win.document)
    for name in ("add block", "rewire", "delete block", "delete wire", "set param", "move", "rename",
                 "graph name", "auto layout"):
        EDITS[name](session)
    final = graph_to_dict(win.document)
    assert session.undo_stack.count() == 9
    while session.undo_stack.canUndo():
        session.undo_stack.undo()
    assert graph_to_dict(win.document) == original
    assert_scene_mirrors(win)
    assert not win.isWindowModified()
    while session.undo_stack.canRedo():
        session.undo_stack.redo()
    assert graph_to_dict(win.document) == final
    assert_scene_mirrors(win)
    assert win.isWindowModified()


def test_keyboard_undo_and_redo(win, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtTest import QTest
    session = lenet(win)
    edits.set_param(session, "conv1", "out_channels", 8)
    assert win.scene.wires[Edge("conv1", "relu1")].label == "8×28×28"
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert win.scene.wires[Edge("conv1", "relu1")].label == "6×28×28"
    QTest.keyClick(win.view, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert win.scene.wires[Edge("conv1", "relu1")].label == "8×28×28"
    assert win.actions_by_name["undo"].text().startswith("&Undo Set conv1.out_channels")


def test_a_refused_edit_leaves_no_trace(win):
    session = lenet(win)
    before = graph_to_dict(win.document)
    assert not edits.rename(session, "conv1", "relu1")   # taken
    assert not edits.set_param(session, "conv1", "out_channels", 0)   # below the minimum
    assert graph_to_dict(win.document) == before
    assert session.undo_stack.count() == 0
    assert "at least 1" in win.statusBar().currentMessage()


def test_undo_is_refused_while_the_network_is_locked_but_moves_still_undo(win):
    session = lenet(win)
    edits.set_param(session, "conv1", "out_channels", 8)
    edits.move_blocks(session, {"conv1": (300, 40)})
    session.document.locked = "a training run is using this network"   # what doc.lock(reason) sets
    try:
        assert session.undo()                                  # the move: layout only
        assert session.document.blocks["conv1"].pos == (210, 0)
        assert not session.undo()                              # the param: refused, nothing changes
        assert session.document.blocks["conv1"].params["out_channels"] == 8
        said = win.statusBar().currentMessage()             # the step pressed, and why not
        assert said == "Cannot undo “Set conv1.out_channels = 8” now: a training run is using this network", said
        assert session.undo_stack.index() == 1
    finally:
        session.document.locked = None
    win.actions_by_name["undo"].trigger()
    assert session.document.blocks["conv1"].params["out_channels"] == 6
    assert win.actions_by_name["redo"].text() == "&Redo Set conv1.out_channels = 8"
    session.document.locked = "a training run is using this network"
    try:
        assert not session.redo()
        assert win.statusBar().currentMessage().startswith("Cannot redo “Set conv1.out_channels = 8” now: ")
    finally:
        session.document.locked = None


def test_trainable_and_group_survive_remove_and_undo():
    from layerloom.graph import GraphDocument
    from layerloom.app.commands import record
    doc = GraphDocument("t")
    doc.add_block("Input", {"shape": [3]})
    doc.add_block("Linear", {"out_features": 2}, block_id="fc", trainable=False, group="head")
    doc.connect("input", "fc")
    cmd, _ = record(doc, "Remove fc", lambda r: r.remove_block("fc"))
    cmd.undo()
    assert doc.blocks["fc"].trainable is False and doc.blocks["fc"].group == "head"
    assert doc.edges_into("fc")
    cmd2, _ = record(doc, "Unfreeze", lambda r: r.set_block_attr("fc", "trainable", True))
    assert doc.blocks["fc"].trainable
    cmd2.undo()
    assert doc.blocks["fc"].trainable is False
