"""A field of the inspector still being typed in when something else changes the selection or the graph (a
shortcut, a menu, undo): what was typed goes to the block or graph it was typed for, or nowhere when that
is gone; never to the block shown next, and it is not wiped while the person types."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.app import edits

from .helpers import block_point


def dropout_shown(win) -> str:
    bid = edits.add_block(win.session, "Dropout", (0, 0)).value
    win.view.fit()
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(win, bid))
    assert win.inspector.block_id == bid
    return bid


def start_typing(widget, text: str) -> None:
    """Click into the field, replace its text, and do not press Enter."""
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)
    assert QApplication.focusWidget() is widget


def test_undo_while_a_parameter_is_typed_removes_the_block_and_commits_nothing(win):
    dropout_shown(win)
    start_typing(win.inspector.editor("p").main, "0.7")
    win.actions_by_name["undo"].trigger()                  # Edit ▸ Undo with the mouse: the focus stays put
    QApplication.processEvents()
    assert win.document.blocks == {} and win.inspector.block_id is None
    assert win.undo_stack.count() == 1 and win.undo_stack.index() == 0     # the add, undone; nothing new


def test_a_parameter_typed_before_a_shortcut_goes_to_its_own_block(win):
    bid = dropout_shown(win)
    start_typing(win.inspector.editor("p").main, "0.7")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)   # Duplicate
    QApplication.processEvents()
    copy = next(b for b in win.document.blocks if b != bid)
    assert win.inspector.block_id == copy
    assert win.document.blocks[bid].params == {"p": 0.7}
    assert win.document.blocks[copy].params == {}
    assert win.inspector.editor("p").main.text() == "0.5"


def test_an_id_typed_before_a_shortcut_renames_its_own_block(win):
    bid = dropout_shown(win)
    start_typing(win.inspector.id_edit, "mask")
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()
    assert "mask" in win.document.blocks and bid not in win.document.blocks
    copy = win.inspector.block_id
    assert copy != "mask" and win.document.blocks[copy].kind == "Dropout"


def test_a_description_typed_before_a_paste_from_the_menu_is_kept(win):
    bid = edits.add_block(win.session, "ReLU", (0, 0)).value
    win.scene.select_blocks([bid])
    win.actions_by_name["copy"].trigger()
    win.scene.clearSelection()
    assert win.inspector.block_id is None
    start_typing(win.inspector.description_edit, "two activations")
    win.actions_by_name["paste"].trigger()                 # the pasted block is selected and shown
    QApplication.processEvents()
    assert win.inspector.block_id not in (None, bid)
    assert win.document.description == "two activations"


def test_a_result_arriving_while_a_parameter_is_typed_leaves_the_text_alone(win):
    bid = dropout_shown(win)
    field = win.inspector.editor("p").main
    start_typing(field, "0.25")
    win.actions_by_name["auto_layout"].trigger()           # the graph changes elsewhere: a new result
    edits.move_blocks(win.session, {bid: (400, 400)})
    assert field.text() == "0.25"
    QTest.keyClick(field, Qt.Key.Key_Return)
    assert win.document.blocks[bid].params == {"p": 0.25}


def test_a_number_typed_in_a_spin_box_survives_a_new_result_and_goes_to_its_block(win):
    bid = edits.add_block(win.session, "Linear", (0, 0), {"in_features": 4, "out_features": 3}).value
    win.view.fit()
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(win, bid))
    box = win.inspector.editor("out_features").main
    start_typing(box, "12")
    edits.move_blocks(win.session, {bid: (300, 300)})      # a new result while typing
    assert box.text() == "12"
    QTest.keyClick(QApplication.focusWidget(), Qt.Key.Key_D, Qt.KeyboardModifier.ControlModifier)
    QApplication.processEvents()
    copy = win.inspector.block_id
    assert copy != bid
    assert win.document.blocks[bid].params["out_features"] == 12
    assert win.document.blocks[copy].params["out_features"] == 3


def test_a_graph_name_too_long_for_a_file_is_not_taken(win, tmp_path):
    """The Inspector's name field stops where a graph file's name does: what is saved opens again."""
    from layerloom.graph.fileformat import load_graph, save_graph
    field = win.inspector.name_edit
    start_typing(field, "n" * 260)
    QTest.keyClick(field, Qt.Key.Key_Return)
    assert 0 < len(win.document.name) <= 200
    save_graph(win.document, tmp_path / "named.loom.json")
    assert load_graph(tmp_path / "named.loom.json").name == win.document.name
    assert not edits.set_meta(win.session, "name", "m" * 201)
    assert "shorter name" in win.statusBar().currentMessage()
