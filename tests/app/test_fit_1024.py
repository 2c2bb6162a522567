"""Every panel fits a 1024-pixel-wide window (the window's least width with that one panel open, from a
freshly reset layout); the palette is never squeezed to "Inp"; Explain's no-run state is one sentence with
its controls disabled; Train ▸ New Sweep… opens the Experiment panel, whose empty views say how to start."""
from __future__ import annotations

import pytest
from PySide6.QtCore import QPoint
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QApplication

from layerloom.app.panels.explain import NO_RUN, ExplainPanel
from layerloom.app.panels.trial_table import PLOT_EMPTY, TABLE_EMPTY, TrialTable

from .helpers import LEFT, NO_MOD, settle_layouts

NARROW = 1024
PANELS = ("lessons", "inside", "step_mode", "explain", "benchmark", "embeddings", "new_sweep")


@pytest.mark.parametrize("action", PANELS)
def test_each_panel_opened_alone_fits_a_1024_pixel_window(win, qtbot, action):
    win.reset_layout()
    win.resize(1440, 900)
    settle_layouts()
    win.actions_by_name[action].trigger()
    settle_layouts()
    assert win.minimumSizeHint().width() <= NARROW, action
    win.resize(NARROW, 640)
    settle_layouts()
    assert win.width() == NARROW
    palette = win.palette
    assert palette.width() >= palette.search.fontMetrics().horizontalAdvance("Search blocks…") + 40


def test_the_palette_keeps_a_sensible_least_width(win):
    assert win.docks["palette"].minimumSizeHint().width() >= 140


def _click_menu_entry(win, qtbot, menu_name: str, action) -> None:
    """Open a menu of the menu bar with a click on its title, then click one of its entries."""
    bar, menu = win.menuBar(), win.menus[menu_name]
    QTest.mouseClick(bar, LEFT, NO_MOD, bar.actionGeometry(menu.menuAction()).center())
    qtbot.waitUntil(menu.isVisible, timeout=5000)
    QTest.mouseClick(menu, LEFT, NO_MOD, menu.actionGeometry(action).center())
    qtbot.waitUntil(lambda: not menu.isVisible(), timeout=5000)


def test_train_new_sweep_shows_the_experiment_panel(win, qtbot):
    dock = win.docks["experiments"]
    dock.hide()
    action = win.actions_by_name["new_sweep"]
    assert action in win.menus["train"].actions() and action.text() == "New &Sweep…"
    _click_menu_entry(win, qtbot, "train", action)
    settle_layouts()
    assert dock.isVisible() and not dock.visibleRegion().isEmpty()     # shown and in front of its tab group
    panel = win.experiments
    assert panel.table.table_note.isVisible() and panel.table.plot_note.isVisible()


def _shown(qtbot, widget, width: int, height: int) -> None:
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    qtbot.waitExposed(widget)


def test_the_empty_trial_views_say_how_to_start_and_go_once_there_are_trials(qtbot):
    table = TrialTable()
    _shown(qtbot, table, 600, 200)
    assert table.table_note.isVisible() and table.table_note.text() == TABLE_EMPTY
    assert "PATH=SPEC" in TABLE_EMPTY and "Sweep this parameter" in TABLE_EMPTY and "▶ Start" in TABLE_EMPTY
    assert table.plot_note.isVisible() and table.plot_note.text() == PLOT_EMPTY
    from layerloom.graph.fileformat import load_graph
    from layerloom.presets import preset_path
    from layerloom.runtime.sweeps.spec import parse_section

    from .test_experiments import ROWS
    spec = parse_section(load_graph(preset_path("lenet5")), {"params": {
        "training.lr": "log:1e-3:1", "blocks.fc1.params.out_features": "choice:64,128"}})
    rows = ROWS
    table.show_rows(rows, spec)
    assert not table.table_note.isVisible() and not table.plot_note.isVisible()
    table.show_rows([], spec)
    assert table.table_note.isVisible()


def test_the_epochs_box_shows_its_special_text_whole(qtbot):
    from layerloom.app.panels.experiments import ExperimentPanel
    panel = ExperimentPanel()
    _shown(qtbot, panel, 500, 400)
    box = panel.epochs
    assert box.value() == 0 and box.text() == "graph's"
    edit = box.lineEdit()
    assert edit.fontMetrics().horizontalAdvance("graph's") <= edit.width()


def test_explain_without_a_run_says_one_thing_and_offers_nothing_to_press(qtbot):
    from layerloom.presets import preset_path
    panel = ExplainPanel()
    _shown(qtbot, panel, 900, 420)
    said = [w.text() for w in (panel.title, panel.message, panel.wrong_title, panel.picture) if w.isVisible()
            and w.text()]
    assert said == [NO_RUN] and NO_RUN == "No trained run yet: train the graph (F5), then come back."
    assert not any(w.isEnabled() for w in (panel.method, panel.block, panel.sample, panel.explain_button,
                                           panel.cancel_button, panel.wrong))
    QTest.mouseClick(panel.explain_button, LEFT)                      # disabled: nothing happens
    assert panel.job is None and not panel.message.isVisible()
    panel.load_run(preset_path("mlp"))                                # a run comes: the normal state returns
    assert panel.wait_loaded()
    assert panel.title.text() != NO_RUN and panel.message.isVisible()
    assert panel.method.isEnabled() and panel.explain_button.isEnabled() and panel.wrong.isEnabled()
    assert panel.picture.text() == "Click a sample on the left to explain it."
    assert panel.lists.wait() and panel.block_view.jobs.wait()
    panel.stop_all()


def test_explain_opened_from_the_menu_without_a_run_shows_one_message(win, qtbot):
    _click_menu_entry(win, qtbot, "train", win.actions_by_name["explain"])
    settle_layouts()
    panel = win.explaining.panel
    assert win.docks["explain"].isVisible()
    said = [w.text() for w in (panel.title, panel.message, panel.wrong_title, panel.picture) if w.isVisible()
            and w.text()]
    assert said == [NO_RUN]
    assert not panel.explain_button.isEnabled() and not panel.method.isEnabled()
    QApplication.processEvents()
