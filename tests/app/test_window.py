"""Window-level behaviour: shortcuts that must not misfire, themes, zoom actions, the panel API."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from layerloom.app import theme
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path

from .helpers import block_point, scene_snapshot


def open_lenet(win):
    win.session.set_document(load_graph(preset_path("lenet5")))
    win.view.fit()


def test_delete_while_typing_in_the_inspector_edits_the_text_not_the_graph(win):
    open_lenet(win)
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(win, "conv1"))
    field = win.inspector.editor("kernel_size").main
    field.setFocus()
    field.end(False)
    QTest.keyClick(field, Qt.Key.Key_Backspace)
    QTest.keyClick(field, Qt.Key.Key_Delete)
    assert "conv1" in win.document.blocks
    QTest.keyClick(field, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)   # the field's own undo
    assert win.undo_stack.count() == 0
    assert field.text() == "5"


def test_select_all_then_delete_then_undo(win):
    open_lenet(win)
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier)
    assert len(win.scene.selected_block_ids()) == 14
    QTest.keyClick(win.view, Qt.Key.Key_Delete)
    assert not win.document.blocks and not win.scene.blocks and not win.scene.wires
    assert win.undo_stack.undoText() == "Delete 14 blocks"
    win.undo_stack.undo()
    assert len(win.scene.blocks) == 14 and len(win.scene.wires) == 13


def test_zoom_actions(win):
    win.actions_by_name["zoom_reset"].trigger()
    assert win.view.zoom == 1.0
    win.actions_by_name["zoom_in"].trigger()
    assert abs(win.view.zoom - 1.25) < 1e-9
    win.actions_by_name["zoom_out"].trigger()
    win.actions_by_name["zoom_out"].trigger()
    assert abs(win.view.zoom - 0.8) < 1e-9


def test_theme_switch_repaints_in_the_new_colours(win):
    open_lenet(win)
    try:
        win.set_theme("dark")
        assert theme.current().dark
        image = win.view.viewport().grab().toImage()
        assert image.pixelColor(5, 5).lightness() < 80
        win.set_theme("light")
        assert not theme.current().dark
        image = win.view.viewport().grab().toImage()
        assert image.pixelColor(5, 5).lightness() > 200
    finally:
        theme.apply("system")


def test_selection_signal_and_panel_api(win, qtbot):
    open_lenet(win)
    seen = []
    win.selected_block_changed.connect(seen.append)
    win.focus_block("fc2")
    win.scene.clearSelection()
    assert seen == ["fc2", None]
    dock = win.add_panel("later", "Later", QLabel("a future panel"))
    assert win.docks["later"] is dock and dock.toggleViewAction() in win.menus["panels"].actions()
    # The window, its session, its undo stack and its canvas follow one document: an edit made through
    # the window shows on the canvas, and undoing it on the window's stack restores both.
    shown = scene_snapshot(win)
    win.focus_block("fc2")
    win.editing.delete()
    assert "fc2" not in win.session.document.blocks and "fc2" not in win.scene.blocks
    win.undo_stack.undo()
    assert "fc2" in win.session.document.blocks and scene_snapshot(win) == shown


def test_title_shows_name_file_and_unsaved_mark(win, tmp_path):
    path = tmp_path / "net.loom.json"
    path.write_text(preset_path("mlp").read_text())
    win.files.open(path)
    assert win.windowTitle().startswith(win.document.name) and "net.loom.json" in win.windowTitle()
    assert not win.isWindowModified()
    win.editing.select_all()
    win.editing.delete()
    assert win.isWindowModified()


def test_every_block_category_has_its_own_colour():
    from layerloom.app.theme import CATEGORY_COLORS
    from layerloom.graph.blocks import CATEGORIES
    assert set(CATEGORIES) <= set(CATEGORY_COLORS)
    assert len(set(CATEGORY_COLORS.values())) == len(CATEGORY_COLORS)
