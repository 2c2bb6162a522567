"""The window's shell: every action from one table with unique keys, keys that really fire, the wheel
guard, Help ▸ Keyboard Shortcuts and About, View ▸ Reset Layout."""
from __future__ import annotations

from collections import Counter

import pytest

from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QAction, QKeySequence, QWheelEvent
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.app import docks, menus
from layerloom.app.panels.shortcuts import ShortcutsDialog
from layerloom.graph.fileformat import load_graph
from layerloom.presets import preset_path

from .helpers import block_point


def every_key_sequence(win) -> list[tuple[str, str]]:
    """(key sequence, action) for every QAction that lives in the window, its menus and toolbar."""
    out = []
    for act in win.findChildren(QAction):
        for seq in act.shortcuts():
            out.append((seq.toString(QKeySequence.SequenceFormat.PortableText), act.objectName() or act.text()))
    return out


def test_every_shortcut_is_unique(win):
    keys = every_key_sequence(win)
    assert len(keys) > 25
    counts = Counter(k for k, _ in keys)
    duplicates = {k: [a for kk, a in keys if kk == k] for k, n in counts.items() if n > 1}
    assert not duplicates, f"key sequences bound more than once: {duplicates}"


def test_every_table_row_is_a_real_action_in_a_menu_and_calls_something(win):
    in_menus = {a.objectName() for m in win.menus.values() for a in m.actions()}
    for spec in menus.ACTIONS:
        assert spec.name in win.actions_by_name
        assert spec.name in in_menus, f"{spec.name} is in no menu"
        target = win
        for part in spec.slot.split("."):
            target = getattr(target, part)
        assert callable(target), spec.slot
    train = win.menus["train"].actions()
    assert win.actions_by_name["train_start"] in train and win.actions_by_name["export"] in win.menus["file"].actions()


def test_quit_and_save_as_keys_fire(win, qtbot, monkeypatch, dialogs, tmp_path):
    """Ctrl+Q and Ctrl+Shift+S were bound twice (the standard key and the same literal key): Qt called them
    ambiguous and did nothing."""
    win.session.set_document(load_graph(preset_path("mlp")))
    dialogs.save_path = str(tmp_path / "saved.loom.json")
    win.view.setFocus()
    QTest.keyClick(win.view, Qt.Key.Key_S, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    assert (tmp_path / "saved.loom.json").exists()
    assert win.isVisible()
    QTest.keyClick(win.view, Qt.Key.Key_Q, Qt.KeyboardModifier.ControlModifier)
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=5000)


def wheel(widget, steps: int = -1) -> None:
    """A wheel notch over the middle of `widget`, delivered as the window system would."""
    pos = QPointF(widget.rect().center())
    event = QWheelEvent(pos, QPointF(widget.mapToGlobal(pos.toPoint())), QPoint(0, 0), QPoint(0, 120 * steps),
                        Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def test_wheel_over_an_unfocused_spin_box_scrolls_the_inspector_not_the_value(win, qtbot):
    win.resize(1000, 520)
    win.session.set_document(load_graph(preset_path("lenet5")))
    win.view.fit()
    QTest.mouseClick(win.view.viewport(), Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier,
                     block_point(win, "conv1"))
    box = win.inspector.editor("out_channels").main
    bar = win.inspector.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.maximum() > 0)
    assert box.focusPolicy() != Qt.FocusPolicy.WheelFocus      # a wheel does not focus it first
    before, scrolled = box.value(), bar.value()
    wheel(box.lineEdit())
    wheel(box)
    assert box.value() == before and win.document.blocks["conv1"].params["out_channels"] == before
    assert win.undo_stack.count() == 0
    assert bar.value() > scrolled                              # the panel scrolled instead
    box.setFocus()                                             # clicked into: the wheel is the person's choice
    qtbot.waitUntil(box.hasFocus)
    wheel(box)
    assert box.value() == before - 1


def test_a_spin_box_made_after_a_theme_change_is_guarded_too(win):
    """The guard comes with the application's style: View > Theme sets a new one, and a dialog opened
    afterwards (a field made later) keeps its value under a wheel it has not been clicked into."""
    from PySide6.QtWidgets import QComboBox, QScrollArea, QSpinBox, QVBoxLayout, QWidget
    win.set_theme("dark")
    area = QScrollArea()
    inner = QWidget()
    column = QVBoxLayout(inner)
    box, combo = QSpinBox(), QComboBox()
    box.setValue(5)
    combo.addItems(["a", "b", "c"])
    column.addWidget(box)
    column.addWidget(combo)
    area.setWidget(inner)
    area.show()
    try:
        assert box.focusPolicy() == combo.focusPolicy() == Qt.FocusPolicy.StrongFocus
        wheel(box.lineEdit())
        wheel(combo)
        assert box.value() == 5 and combo.currentIndex() == 0
    finally:
        area.close()
        area.deleteLater()


def test_wheel_over_the_learning_rate_and_the_data_set_changes_nothing(win):
    settings = win.training.panel.settings
    lr, optimizer = settings.lr.value(), settings.optimizer.currentIndex()
    dataset = win.training.panel.dataset.currentIndex()
    for w in (settings.lr, settings.optimizer, win.training.panel.dataset):
        wheel(w)
        wheel(w, 1)
    assert settings.lr.value() == lr and settings.optimizer.currentIndex() == optimizer
    assert win.training.panel.dataset.currentIndex() == dataset


def test_keyboard_shortcuts_dialog_lists_every_action_and_filters(win, qtbot):
    win.actions_by_name["shortcuts"].trigger()
    dialog = next(d for d in win.findChildren(ShortcutsDialog))
    qtbot.waitExposed(dialog)
    texts = dialog.visible_actions()
    assert "Save As…" in texts and "▶ Train" in texts and "Export Model…" in texts
    QTest.keyClicks(dialog.search, "zoom")
    assert set(dialog.visible_actions()) == {"Zoom In", "Zoom Out", "Zoom at the pointer"}
    dialog.search.clear()
    QTest.keyClicks(dialog.search, "F5")
    assert dialog.visible_actions() == ["▶ Train", "Stop Training"]
    QTest.keyClicks(dialog.search, "nothing-like-this")
    assert dialog.visible_actions() == [] and dialog.empty.isVisible()
    dialog.close()


def test_about_names_the_version(win, monkeypatch):
    from importlib import metadata
    from PySide6.QtWidgets import QMessageBox
    shown = []
    monkeypatch.setattr(QMessageBox, "about", staticmethod(lambda parent, title, text: shown.append(text)))
    win.actions_by_name["about"].trigger()
    assert shown and metadata.version("layerloom") in shown[0]


def test_reset_layout_puts_closed_and_floating_panels_back(win, qtbot):
    win.docks["inspector"].close()
    win.docks["palette"].setFloating(True)
    win.docks["feature_maps"].show()
    win.removeDockWidget(win.docks["summary"])
    qtbot.wait(50)
    win.actions_by_name["reset_layout"].trigger()
    qtbot.wait(50)
    for spec in docks.DOCKS:
        dock = win.docks[spec.name]
        assert not dock.isFloating() and win.dockWidgetArea(dock) == spec.area, spec.name
        assert dock.isHidden() != spec.shown, spec.name
    tabbed = {d.objectName() for d in win.tabifiedDockWidgets(win.docks["inspector"])}
    assert "dock:training" in tabbed
    assert not win.docks["inspector"].visibleRegion().isEmpty()   # in front of its tab group
    assert win.docks["runs"].toggleViewAction() in win.menus["panels"].actions()


@pytest.mark.parametrize("size", [(1440, 900), (1400, 900)])
def test_reset_layout_leaves_one_tab_bar_per_tab_group(qtbot, size):
    """Reset Layout after Explain and Benchmark were opened used to leave earlier tab bars shown, painted over
    the palette ("Benchmark | Explain" on its last rows) and over panel titles."""
    from PySide6.QtWidgets import QTabBar

    from layerloom.app.window import MainWindow
    from layerloom.presets import preset_path

    from .helpers import close_without_questions
    win = MainWindow(restore_settings=False)
    qtbot.addWidget(win, before_close_func=close_without_questions)
    win.resize(*size)                           # a wide window: the palette gets its wide width
    win.show()
    qtbot.waitUntil(lambda: win.later_built, timeout=60_000)
    win.files.open_preset(preset_path("lenet5"))

    def settle():                               # every posted event delivered, as a busy event loop does
        for _ in range(20):
            QApplication.sendPostedEvents()
            QApplication.processEvents()
        qtbot.wait(300)

    for name in ("benchmark", "explain"):
        win.actions_by_name[name].trigger()
        settle()
    for _ in range(2):
        win.actions_by_name["reset_layout"].trigger()
        settle()
        groups = set()
        for dock in win.docks.values():
            group = [dock, *win.tabifiedDockWidgets(dock)]
            if len(group) > 1 and any(d.isVisible() for d in group):
                groups.add(frozenset(d.windowTitle() for d in group))
        bars = [frozenset(b.tabText(i) for i in range(b.count())) for b in win.findChildren(QTabBar)
                if b.parent() is win and b.isVisible()]
        assert sorted(map(sorted, bars)) == sorted(map(sorted, groups)), (bars, groups)
    win.session.undo_stack.setClean()
