"""Zoom, pan, fit and quick add on the canvas."""
from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.presets import preset_path

from .helpers import drag, move


def wheel(view, at: QPoint, delta: int) -> None:
    vp = view.viewport()
    event = QWheelEvent(QPointF(at), QPointF(vp.mapToGlobal(at)), QPoint(0, 0), QPoint(0, delta),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(vp, event)


def test_wheel_zooms_around_the_cursor(win):
    view = win.view
    at = QPoint(300, 200)
    under = view.mapToScene(at)
    zoom = view.zoom
    wheel(view, at, 120)
    assert view.zoom > zoom
    after = view.mapToScene(at)
    assert abs(after.x() - under.x()) < 2 and abs(after.y() - under.y()) < 2
    for _ in range(40):
        wheel(view, at, -120)
    assert abs(view.zoom - 0.1) < 1e-6     # clamped


def test_pan_with_middle_button_and_with_space_drag(win):
    view, vp = win.view, win.view.viewport()
    origin = view.mapToScene(QPoint(100, 100))
    drag(vp, QPoint(300, 300), QPoint(400, 350), button=Qt.MouseButton.MiddleButton)
    moved = view.mapToScene(QPoint(100, 100))
    assert round((origin - moved).x() * view.zoom) == 100 and round((origin - moved).y() * view.zoom) == 50
    QTest.keyPress(view, Qt.Key.Key_Space)
    drag(vp, QPoint(300, 300), QPoint(250, 300))
    QTest.keyRelease(view, Qt.Key.Key_Space)
    again = view.mapToScene(QPoint(100, 100))
    assert round((again - moved).x() * view.zoom) == 50
    assert win.scene.selected_block_ids() == []   # a pan is not a rubber band


def test_fit_view_shows_the_whole_graph(win):
    win.files.open(preset_path("resnet18"), ask=False)
    win.view.set_zoom(2.0)
    QTest.keyClick(win.view, Qt.Key.Key_F)
    shown = win.view.mapToScene(win.view.viewport().rect()).boundingRect()
    assert shown.contains(win.scene.graph_rect())


def test_tab_opens_quick_add_and_enter_adds_at_the_cursor(win, qtbot):
    view = win.view
    move(view.viewport(), QPoint(420, 300))
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    popup = view.quick_add
    assert popup.isVisible()
    QTest.keyClicks(popup.search, "maxpool2")
    assert popup.list.currentItem().data(Qt.ItemDataRole.UserRole) == "MaxPool2d"
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert not popup.isVisible()
    (bid,) = win.document.blocks
    assert win.document.blocks[bid].kind == "MaxPool2d"
    centre = win.scene.blocks[bid].sceneBoundingRect().center()
    cursor = view.mapToScene(QPoint(420, 300))
    assert abs(centre.x() - cursor.x()) < 20 and abs(centre.y() - cursor.y()) < 20
    assert win.scene.selected_block_ids() == [bid]


def test_quick_add_with_no_match_says_what_to_try_and_keeps_what_was_typed(win):
    view = win.view
    move(view.viewport(), QPoint(420, 300))
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    popup = view.quick_add
    QTest.keyClicks(popup.search, "dense")
    assert popup.list.count() == 0 and popup.no_match.isVisible()
    assert "No block matches “dense”" in popup.no_match.text() and "torch.nn" in popup.no_match.text()
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert popup.isVisible() and popup.search.text() == "dense" and not win.document.blocks
    popup.search.clear()
    assert not popup.no_match.isVisible()
    QTest.keyClicks(popup.search, "linear")
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert not popup.isVisible() and [b.kind for b in win.document.blocks.values()] == ["Linear"]


def test_double_click_on_empty_canvas_opens_quick_add(win):
    view = win.view
    QTest.mouseDClick(view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, QPoint(300, 300))
    assert view.quick_add.isVisible()
    QTest.keyClicks(view.quick_add.search, "linear")
    QTest.keyClick(view.quick_add.search, Qt.Key.Key_Down)
    QTest.keyClick(view.quick_add.search, Qt.Key.Key_Escape)
    assert not view.quick_add.isVisible()
    assert not win.document.blocks


def test_palette_search_filters_and_enter_adds(win):
    pal = win.palette
    QTest.keyClicks(pal.search, "norm")
    assert {"BatchNorm1d", "BatchNorm2d", "LayerNorm"} <= set(pal.visible_kinds())
    assert "Conv2d" not in pal.visible_kinds() and "BatchNorm2d" in pal.visible_kinds()
    pal.search.clear()
    QTest.keyClicks(pal.search, "conv2d")
    QTest.keyClick(pal.search, Qt.Key.Key_Return)
    assert [b.kind for b in win.document.blocks.values()] == ["Conv2d"]


def test_double_click_in_the_palette_adds_a_block(win):
    tree = win.palette.tree
    tree.scrollToItem(win.palette.items["Dropout"])
    rect = tree.visualItemRect(win.palette.items["Dropout"])
    QTest.mouseClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    QTest.mouseDClick(tree.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier, rect.center())
    assert [b.kind for b in win.document.blocks.values()] == ["Dropout"]


def test_a_block_kind_this_layerloom_does_not_know_is_refused_when_dropped(win):
    """A block dragged from another (newer) Layerloom's palette, or bytes from another program under the
    palette's type: nothing is added, nothing raises, and the status bar says why."""
    from PySide6.QtCore import QMimeData
    from PySide6.QtGui import QDragEnterEvent, QDropEvent

    from layerloom.app.panels.palette import KIND_MIME
    for raw in (b"Quantum2d", b"\xff\xfe\x00Conv"):
        mime = QMimeData()
        mime.setData(KIND_MIME, raw)
        args = (QPointF(300, 300), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                Qt.KeyboardModifier.NoModifier)
        QApplication.sendEvent(win.view.viewport(), QDragEnterEvent(*args))
        QApplication.sendEvent(win.view.viewport(), QDropEvent(*args))
        assert not win.document.blocks and win.undo_stack.count() == 0
        assert "no such block" in win.statusBar().currentMessage()


def test_a_block_far_from_the_origin_can_be_shown(win):
    """A file may put a block at x = 200,000: the canvas stopped at 50,000, so Fit and a Summary click
    showed empty canvas at its edge."""
    from layerloom.app import edits
    from layerloom.graph import GraphDocument
    doc = GraphDocument("far")
    near = doc.add_block("Input", {"shape": [4]}, (0, 0))
    far = doc.add_block("ReLU", None, (200_000, 3_000))
    doc.connect(near, far)
    win.session.set_document(doc)
    view = win.view

    def shown(bid):
        return view.mapToScene(view.viewport().rect()).boundingRect().contains(
            win.scene.blocks[bid].sceneBoundingRect())
    view.center_on_block(far)
    assert shown(far)
    view.center_on_block(near)
    assert shown(near)
    assert edits.move_blocks(win.session, {far: (-300_000, -90_000)})
    view.center_on_block(far)
    assert shown(far)


def test_a_graph_opened_on_a_small_window_shows_readable_cards(win, qtbot, monkeypatch):
    """At 1024×768 LeNet-5 opened fitted whole at about a quarter of its size: its cards were coloured tiles
    with no names or shapes on them until zoomed. A graph just opened is now never shown smaller than its words
    can be read: it shows its beginning, and Fit View (F) still shows it all."""
    from layerloom.app.canvas import block_item
    from layerloom.app.canvas.view import LEGIBLE_ZOOM
    win.resize(1024, 768)
    qtbot.waitUntil(lambda: win.width() == 1024)
    said = []
    win.session.message.connect(said.append)
    win.files.open_preset(preset_path("lenet5"))
    view = win.view
    assert view.zoom >= LEGIBLE_ZOOM and 14 * view.zoom >= 8          # the kind's 14 px font, on screen
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    first = win.scene.blocks["input"].sceneBoundingRect()
    assert shown.contains(first) and not shown.contains(win.scene.graph_rect())
    assert any("press F (View ▸ Fit View) to see the whole graph" in s for s in said)
    painted = []
    real = block_item.BlockItem._paint_text
    monkeypatch.setattr(block_item.BlockItem, "_paint_text", lambda item, *a: (painted.append(item.block_id),
                                                                              real(item, *a)))
    view.viewport().grab()
    assert {"input", "conv1"} <= set(painted)
    QTest.keyClick(view, Qt.Key.Key_F)
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(win.scene.graph_rect()) and view.zoom < LEGIBLE_ZOOM


def test_a_graph_that_fits_readably_is_shown_whole_and_centred(win):
    win.files.open_preset(preset_path("seq_mnist_lstm"))
    view, graph = win.view, win.scene.graph_rect()
    shown = view.mapToScene(view.viewport().rect()).boundingRect()
    assert shown.contains(graph) and view.zoom >= 0.6
    assert abs(shown.center().x() - graph.center().x()) < 2 and abs(shown.center().y() - graph.center().y()) < 2


def test_quick_add_opened_low_on_the_canvas_lies_whole_on_the_screen(win, qtbot):
    """Tab near the bottom of the canvas opened the quick-add box at the cursor with its list running off the
    bottom of the screen; it now moves up as far as it takes to lie whole on the screen."""
    view = win.view
    room = view.screen().availableGeometry()
    vp = view.viewport()
    low = QPoint(vp.width() // 2, vp.height() - 5)
    bottom = vp.mapToGlobal(low).y()
    assert bottom + view.quick_add.height() > room.bottom()          # where it opened, it ran off the screen
    move(vp, low)
    view.setFocus()
    QTest.keyClick(view, Qt.Key.Key_Tab)
    popup = view.quick_add
    qtbot.waitUntil(popup.isVisible)
    assert room.contains(popup.frameGeometry())
    QTest.keyClicks(popup.search, "dropout")
    QTest.keyClick(popup.search, Qt.Key.Key_Return)
    assert [b.kind for b in win.document.blocks.values()] == ["Dropout"]
