"""The inspector edits parameters (the canvas follows at once) and offers fixes; so do the problems list
and the block's context menu."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QContextMenuEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication, QPushButton

from layerloom.app import edits
from layerloom.graph.document import Edge
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path

from .helpers import block_point


def open_lenet(win):
    win.session.set_document(load_graph(preset_path("lenet5")))
    win.view.fit()


def click_block(win, bid):
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(win, bid))
    assert win.inspector.block_id == bid


def type_into(widget, text):
    widget.setFocus()
    QTest.keyClick(widget, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    QTest.keyClicks(widget, text)
    QTest.keyClick(widget, Qt.Key.Key_Return)


def label(win, src, dst):
    return win.scene.wires[Edge(src, dst)].label


def test_editing_a_param_in_the_inspector_updates_the_wire_labels(win):
    open_lenet(win)
    click_block(win, "conv1")
    spin = win.inspector.editor("out_channels").main
    assert spin.value() == 6
    type_into(spin, "10")
    assert win.document.blocks["conv1"].params["out_channels"] == 10
    assert label(win, "conv1", "relu1") == "10×28×28"
    assert label(win, "pool1", "conv2") == "10×14×14"
    assert win.scene.blocks["conv1"].look.label == "1→10 k5 p2"
    assert win.summary.model.rows[1][3] == "10×28×28"
    click_block(win, "conv2")
    assert win.inspector.editor("in_channels").main.value() == 10      # auto, resolved
    assert not win.inspector.editor("in_channels").main.isEnabled()
    kernel = win.inspector.editor("kernel_size").main
    type_into(kernel, "3, 5")
    assert win.document.blocks["conv2"].params["kernel_size"] == [3, 5]
    assert label(win, "conv2", "relu2") == "16×12×10"
    win.undo_stack.undo()
    win.undo_stack.undo()
    assert label(win, "conv1", "relu1") == "6×28×28"


def test_auto_toggle(win):
    open_lenet(win)
    click_block(win, "fc1")
    editor = win.inspector.editor("in_features")
    assert editor.auto_box.isChecked() and editor.main.value() == 400
    QTest.mouseClick(editor.auto_box, Qt.MouseButton.LeftButton)
    assert win.document.blocks["fc1"].params["in_features"] == 400
    assert editor.main.isEnabled()
    QTest.mouseClick(editor.auto_box, Qt.MouseButton.LeftButton)
    assert win.document.blocks["fc1"].params["in_features"] == "auto"


def test_a_value_the_schema_refuses_is_explained_and_not_set(win):
    open_lenet(win)
    click_block(win, "pool1")
    field = win.inspector.editor("kernel_size").main
    type_into(field, "two")
    assert win.document.blocks["pool1"].params["kernel_size"] == 2
    assert win.inspector.edit_error.isVisible()
    assert "kernel_size" in win.inspector.edit_error.text()
    assert field.text() == "2"


def test_a_refused_value_is_shown_as_typed_not_read_as_markup(win):
    """The refusal quotes what was typed: its tags are characters, not bold text or an image to load."""
    open_lenet(win)
    click_block(win, "pool1")
    type_into(win.inspector.editor("kernel_size").main, "<b>2</b><img src='x.png'>")
    error = win.inspector.edit_error
    assert error.isVisible() and "<b>2</b><img src='x.png'>" in error.text()
    assert error.textFormat() == Qt.TextFormat.PlainText


def test_invalid_graph_is_shown_at_once_and_fixed_from_the_inspector(win):
    open_lenet(win)
    click_block(win, "fc1")
    QTest.mouseClick(win.inspector.editor("in_features").auto_box, Qt.MouseButton.LeftButton)
    type_into(win.inspector.editor("in_features").main, "300")
    assert win.scene.blocks["fc1"].look.status == "error"
    assert win.scene.blocks["relu3"].look.status == "blocked"
    assert win.scene.blocks["relu3"].opacity() < 1
    assert label(win, "fc1", "relu3") == "?"
    assert "in_features" in win.scene.blocks["fc1"].toolTip()
    assert win.docks["problems"].windowTitle().startswith("Problems (")
    buttons = [b for b in win.inspector.widget().findChildren(QPushButton) if b.objectName() == "fix"]
    assert [b.text() for b in buttons] == ['Set in_features to "auto"']
    steps = win.undo_stack.count()
    QTest.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    assert win.document.blocks["fc1"].params["in_features"] == "auto"
    assert win.scene.blocks["fc1"].look.status == "ok"
    assert win.undo_stack.count() == steps + 1


def test_flatten_fix_from_the_problems_list(win):
    open_lenet(win)
    edits.delete(win.session, ["flatten1"])
    edits.connect(win.session, "pool2", 0, "fc1", 0)
    edits.set_param(win.session, "fc1", "in_features", 400)
    problems = win.problems
    buttons = problems.fix_buttons()
    assert [b.text() for b in buttons] == ["Insert a Flatten before fc1"]
    item = problems.tree.topLevelItem(0)
    problems.tree.itemClicked.emit(item, 1)
    assert win.scene.selected_block_ids() == ["fc1"]
    QTest.mouseClick(buttons[0], Qt.MouseButton.LeftButton)
    new = [b for b in win.document.blocks.values() if b.kind == "Flatten"]
    assert len(new) == 1
    assert Edge("pool2", new[0].id) in win.document.edges and Edge(new[0].id, "fc1") in win.document.edges
    assert label(win, new[0].id, "fc1") == "400"
    assert not problems.fix_buttons() and win.docks["problems"].windowTitle() == "Problems"


def test_fix_from_the_block_context_menu(win, monkeypatch):
    open_lenet(win)
    edits.set_param(win.session, "conv2", "in_channels", 3)
    shown = []

    def fake_run(menu, *args):
        shown.append([a.text() for a in menu.actions()])
        next(a for a in menu.actions() if a.text().startswith("Fix:")).trigger()
    monkeypatch.setattr(win.view, "run_menu", fake_run)
    pos = block_point(win, "conv2")
    QApplication.sendEvent(win.view.viewport(), QContextMenuEvent(QContextMenuEvent.Reason.Mouse, pos,
                                                                  win.view.viewport().mapToGlobal(pos)))
    assert shown and shown[0][0] == 'Fix: Set in_channels to "auto"'
    assert "Delete" in [t.replace("&", "") for t in shown[0]]
    assert win.document.blocks["conv2"].params["in_channels"] == "auto"


def test_rename_in_the_inspector(win):
    open_lenet(win)
    click_block(win, "conv1")
    type_into(win.inspector.id_edit, "stem")
    assert "stem" in win.document.blocks and "conv1" not in win.document.blocks
    assert win.scene.blocks["stem"].block_id == "stem"
    assert Edge("stem", "relu1") in win.scene.wires
    assert win.inspector.block_id == "stem"
    type_into(win.inspector.id_edit, "relu1")
    assert win.inspector.edit_error.isVisible() and "taken" in win.inspector.edit_error.text()
    assert "stem" in win.document.blocks


def test_graph_properties_when_nothing_is_selected(win):
    open_lenet(win)
    win.scene.clearSelection()
    assert win.inspector.block_id is None
    assert "61,706 parameters" in win.inspector.totals.text()
    type_into(win.inspector.name_edit, "Digits")
    assert win.document.name == "Digits"
    assert win.windowTitle().startswith("Digits")
    assert win.isWindowModified()
    win.undo_stack.undo()
    assert win.document.name == "LeNet-5" and not win.isWindowModified()
    type_into(win.inspector.name_edit, "   ")             # blank: the field shows the name the graph takes
    assert win.document.name == "Untitled" and win.inspector.name_edit.text() == "Untitled"
    type_into(win.inspector.name_edit, "  Digits  ")
    assert win.document.name == "Digits" and win.inspector.name_edit.text() == "Digits"


def test_summary_row_click_selects_and_centres(win):
    open_lenet(win)
    win.view.set_zoom(2.0)
    row = win.summary.row_of("fc3")
    rect = win.summary.table.visualRect(win.summary.model.index(row, 0))
    win.summary.table.scrollTo(win.summary.model.index(row, 0))
    rect = win.summary.table.visualRect(win.summary.model.index(row, 0))
    QTest.mouseClick(win.summary.table.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     rect.center())
    assert win.scene.selected_block_ids() == ["fc3"]
    centre = win.view.mapToScene(win.view.viewport().rect().center())
    block = win.scene.blocks["fc3"].sceneBoundingRect()
    assert block.adjusted(-20, -20, 20, 20).contains(centre)
    assert win.inspector.block_id == "fc3"


def test_the_inspector_shows_apostrophes_not_html_entities(win):
    from PySide6.QtWidgets import QLabel
    open_lenet(win)
    click_block(win, "input")
    texts = [lab.text() for lab in win.inspector.widget().findChildren(QLabel)]
    assert any("sample's" in t for t in texts), texts
    assert not any("&#x27;" in t or "&quot;" in t for t in texts)


def test_a_refused_rename_says_the_real_reason(win):
    open_lenet(win)
    click_block(win, "conv1")
    type_into(win.inspector.id_edit, "relu1")
    assert win.inspector.edit_error.text() == 'id: the id "relu1" is already taken'
    type_into(win.inspector.id_edit, "9lives")
    assert "must start with a letter" in win.inspector.edit_error.text()
    assert "conv1" in win.document.blocks


def test_a_number_left_out_of_a_list_is_refused_and_a_named_value_is_taken_in_any_case(win):
    """"1,,28" is a number left out, not [1, 28]; "SAME" is the padding the field offers as "same"."""
    open_lenet(win)
    click_block(win, "input")
    shape = win.inspector.editor("shape").main
    type_into(shape, "1,,28")
    assert win.document.blocks["input"].params["shape"] == [1, 28, 28]
    assert win.inspector.edit_error.isVisible() and "1,,28" in win.inspector.edit_error.text()
    click_block(win, "conv1")
    type_into(win.inspector.editor("padding").main, "SAME")
    assert win.document.blocks["conv1"].params["padding"] == "same"
    assert not win.inspector.edit_error.isVisible()
