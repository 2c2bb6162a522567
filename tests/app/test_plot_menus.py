"""A plot's context menu is made at its first right click, not with the window: a new window has made
none, and a right click on a curve plot opens the menu pyqtgraph makes for any plot,
with the plot's options."""
from __future__ import annotations

import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from pyqtgraph.graphicsItems.ViewBox.ViewBoxMenu import ViewBoxMenu


def view_boxes(win) -> list[pg.ViewBox]:
    boxes = []
    for view in win.findChildren(pg.GraphicsView):
        boxes += [item for item in view.scene().items() if isinstance(item, pg.ViewBox)]
    return boxes


def texts(menu) -> list[str]:
    return [a.text() for a in menu.actions()]


def test_a_new_window_has_made_no_plot_menu_and_a_right_click_makes_pyqtgraphs(win, qtbot):
    boxes = view_boxes(win)
    assert len(boxes) >= 10                                   # the training, runs and learning views
    assert [b for b in boxes if b.menu is not None] == []

    plots = win.training.plots
    win.docks["curves"].show()
    win.docks["curves"].raise_()
    plots.placeholder.hide()                                  # the curves as a run shows them
    plots.graphics.show()
    qtbot.waitUntil(lambda: plots.graphics.isVisible())
    box = plots.loss_plot.getViewBox()
    assert box.menuEnabled()
    at = plots.graphics.mapFromScene(box.sceneBoundingRect().center())
    QTest.mouseClick(plots.graphics.viewport(), Qt.MouseButton.RightButton, Qt.KeyboardModifier.NoModifier, at)
    qtbot.waitUntil(lambda: box.menu is not None and box.menu.isVisible())
    reference = ViewBoxMenu(pg.ViewBox())                     # the menu pyqtgraph gives any plot
    shown = texts(box.menu)
    assert shown[:len(texts(reference))] == texts(reference) and "View All" in shown
    assert "Plot Options" in shown                            # and the plot's own, as pyqtgraph adds them
    box.menu.hide()

    box.setMenuEnabled(False)                                 # switched off as for any ViewBox
    assert box.menu is None and box.getContextMenus(None) == []
