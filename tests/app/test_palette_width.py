"""The palette takes the width the person drags its dock to, with a run's panels open, and keeps it
in the saved layout."""
from PySide6.QtCore import QPoint
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.app.window import MainWindow
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path

from .helpers import LEFT, NO_MOD

QWIDGETSIZE_MAX = (1 << 24) - 1


def settle(qtbot):
    for _ in range(5):
        QApplication.processEvents()
    qtbot.wait(20)


def test_the_palette_follows_its_dock_when_widened_and_the_layout_keeps_it(win, qtbot):
    win.resize(1280, 720)
    win.session.set_document(load_graph(preset_path("lenet5")))
    win.docks["epoch_results"].show()          # what a run opens beside the curves
    win.docks["curves"].raise_()
    settle(qtbot)
    dock, palette = win.docks["palette"], win.palette
    before = dock.width()
    assert palette.maximumWidth() == QWIDGETSIZE_MAX
    # the separator between the palette's dock and the canvas, dragged 240 px to the right
    x = (dock.geometry().right() + win.centralWidget().geometry().left()) // 2 + 1
    start = QPoint(x, dock.geometry().center().y())
    QTest.mouseMove(win, start)                # hovering first picks the separator, as a pointer does
    QTest.mousePress(win, LEFT, NO_MOD, start)
    for dx in range(20, 241, 20):
        settle(qtbot)
        QTest.mouseMove(win, start + QPoint(dx, 0))
    settle(qtbot)
    QTest.mouseRelease(win, LEFT, NO_MOD, start + QPoint(240, 0))
    settle(qtbot)
    assert dock.width() >= before + 230, (before, dock.width())
    assert palette.width() == dock.width()
    assert palette.tree.viewport().width() >= before + 200
    assert palette.search.width() >= before + 200
    win.save_settings()                        # what closing the window saves
    other = MainWindow()                       # what the next start restores
    qtbot.addWidget(other)
    other.resize(1280, 720)                    # the offscreen screen is smaller than the saved window
    other.show()
    qtbot.waitExposed(other)
    settle(qtbot)
    assert abs(other.docks["palette"].width() - dock.width()) <= 2
    assert other.palette.tree.viewport().width() == palette.tree.viewport().width()
    other.session.undo_stack.setClean()
    other.close()
