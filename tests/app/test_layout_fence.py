"""A panel in a LayoutFence changes its texts without laying out the window again; a change of its size
needs still reaches the window. The unfenced dock beside it is Qt's own behaviour, the reference."""
from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtWidgets import QDockWidget, QLabel, QMainWindow, QVBoxLayout, QWidget

from layerloom.app.docks import PanelDock
from layerloom.app.layout_fence import LayoutFence


class LayoutRequests(QObject):
    def __init__(self, widget):
        super().__init__()
        self.count = 0
        widget.installEventFilter(self)

    def eventFilter(self, obj, event):
        if event.type() == QEvent.Type.LayoutRequest:
            self.count += 1
        return False


def panel_with_label():
    panel = QWidget()
    label = QLabel("step 0", panel)
    label.setFixedWidth(120)             # its size hint stays the same whatever it says
    QVBoxLayout(panel).addWidget(label)
    return panel, label


def window_with(dock_class, qtbot):
    win = QMainWindow()
    win.setCentralWidget(QLabel("canvas"))
    panel, label = panel_with_label()
    dock = dock_class("Panel", win)
    dock.setWidget(panel)
    win.addDockWidget(Qt.DockWidgetArea.BottomDockWidgetArea, dock)
    qtbot.addWidget(win)
    win.resize(700, 500)
    win.show()
    qtbot.waitExposed(win)
    return win, dock, panel, label


def relayouts_for_texts(win, label, qtbot, n=20):
    qtbot.wait(50)                       # the window's first layouts settle
    seen = LayoutRequests(win)
    for i in range(n):
        label.setText(f"step {i + 1}")
        qtbot.wait(5)
    qtbot.wait(20)
    return seen.count


def test_texts_in_a_fenced_panel_do_not_lay_out_the_window(qtbot):
    win, _dock, _panel, label = window_with(QDockWidget, qtbot)
    assert relayouts_for_texts(win, label, qtbot) >= 10      # Qt climbs to the window for every text
    win2, dock2, panel2, label2 = window_with(PanelDock, qtbot)
    assert dock2.widget() is panel2
    assert isinstance(panel2.parentWidget(), LayoutFence)
    assert relayouts_for_texts(win2, label2, qtbot) == 0
    assert label2.text() == "step 20" and label2.isVisible()
    assert panel2.geometry() == panel2.parentWidget().rect()       # the panel fills the fence


def test_a_changed_size_need_still_reaches_the_window(qtbot):
    win, dock, panel, _label = window_with(PanelDock, qtbot)
    seen = LayoutRequests(win)
    panel.setMinimumHeight(300)
    qtbot.waitUntil(lambda: dock.height() >= 300, timeout=2000)
    assert seen.count >= 1
    assert panel.height() >= 300 and panel.geometry() == panel.parentWidget().rect()
    big = QLabel("a much wider text than before " * 6)
    panel.layout().addWidget(big)
    qtbot.waitUntil(lambda: panel.parentWidget().sizeHint() == panel.sizeHint(), timeout=2000)
    assert panel.parentWidget().minimumSizeHint() == panel.minimumSizeHint()


def test_a_hidden_fence_catches_up_when_shown(qtbot):
    win, dock, panel, _label = window_with(PanelDock, qtbot)
    dock.hide()
    panel.setMinimumWidth(450)          # no LayoutRequest reaches a hidden fence
    dock.show()
    qtbot.waitUntil(lambda: dock.width() >= 450, timeout=2000)
    assert panel.parentWidget().minimumSize().width() == 450


def test_replacing_a_docks_panel_deletes_the_old_fence_with_its_placeholder(qtbot):
    win, dock, panel, _label = window_with(PanelDock, qtbot)
    old_fence = panel.parentWidget()
    destroyed = []
    old_fence.destroyed.connect(lambda: destroyed.append("fence"))
    panel.destroyed.connect(lambda: destroyed.append("placeholder"))
    new_panel, _ = panel_with_label()
    dock.setWidget(new_panel)
    qtbot.waitUntil(lambda: len(destroyed) == 2, timeout=2000)
    assert dock.widget() is new_panel and new_panel.isVisible()
    dock.setWidget(new_panel)            # the same panel again: it moves to the new fence, alive
    qtbot.wait(20)
    assert dock.widget() is new_panel and new_panel.isVisible()
