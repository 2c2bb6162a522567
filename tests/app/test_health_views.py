"""Training health in the window: the strip beside the curves, the problems on the canvas blocks."""
from __future__ import annotations

from PySide6.QtCore import Qt

from layerloom.app import edits
from layerloom.graph import load_graph
from layerloom.presets import preset_path

from .helpers import wait_run_end

LEFT = Qt.MouseButton.LeftButton


def test_a_run_at_lr_10_turns_the_strip_red_and_marks_its_blocks_until_the_graph_changes(win, ui, qtbot, tmp_path):
    doc = load_graph(preset_path("lenet5"))
    doc.training = {"dataset": "mnist-sample", "optimizer": "adam", "lr": 10.0, "epochs": 1, "max_steps": 3}
    win.session.set_document(doc)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    strip = ui.plots.health
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    qtbot.waitUntil(lambda: strip.step is not None, timeout=5000)
    # the strip: the update ratio is red and names a block the trainer flagged as exploding
    problems = ui.live.health_problems
    exploding = {b for b, code in problems if code == "health.exploding"}
    assert strip.level("update") == "bad" and strip.level("nonfinite") in ("ok", "bad")
    chip = strip.chips["update"]
    assert chip.block in exploding and "‖Δw‖/‖w‖" in chip.toolTip() and "learning rate is too high" in chip.toolTip()
    assert strip.isVisible() and strip.when.text().endswith(f"step {strip.step:,}")     # "at step N" in one row
    ui.curves_dock.show()
    ui.curves_dock.raise_()
    qtbot.wait(100)
    win.grab().save(str(tmp_path / "window-health-strip.png"))
    ui.plots.grab().save(str(tmp_path / "curves-health-strip.png"))
    # clicking a red indicator selects its block on the canvas
    win.scene.clearSelection()
    qtbot.mouseClick(chip, LEFT)
    assert win.scene.selected_block_ids() == [chip.block]
    # every flagged block wears the warning badge, with the finding in its tooltip
    for block in exploding:
        look = win.scene.blocks[block].look
        assert look.status == "warning" and "training health: update ratio" in look.tooltip and "exploding" in look.tooltip
    assert "training health" not in win.scene.blocks["conv1"].look.tooltip or "conv1" in {b for b, _ in problems}
    # a change to the graph clears them: they described the graph that trained
    assert edits.set_param(win.session, "fc3", "bias", False)
    win.session.flush()
    assert not win.scene.run_diagnostics
    assert all("training health" not in win.scene.blocks[b].look.tooltip for b in exploding)


def test_the_strip_takes_two_rows_when_the_panel_is_narrow_and_never_holds_it_wider(qtbot):
    from PySide6.QtWidgets import QVBoxLayout, QWidget
    from layerloom.app.panels.health_strip import HealthStrip
    panel = QWidget()                                              # the strip inside a panel, as in Curves
    qtbot.addWidget(panel)
    strip = HealthStrip(panel)
    QVBoxLayout(panel).addWidget(strip)
    strip.set_indicators([{"key": "dead", "level": "warn", "value": "31 %", "block": "conv1"},
                          {"key": "update", "level": "bad", "value": "3.2e+02", "block": "fc1"}], step=1200)
    panel.resize(1200, 120)
    panel.show()
    qtbot.waitUntil(lambda: strip.two_rows is False and strip.width() > 1000)
    one_row = strip.sizeHint().height()
    panel.resize(360, 120)                                         # narrower than one row needs
    qtbot.waitUntil(lambda: strip.two_rows is True and strip.width() < 400)
    assert panel.minimumSizeHint().width() < 360                   # the strip never holds the panel wider
    assert strip.sizeHint().height() > one_row                    # the second row is given its height
    chips = list(strip.chips.values())
    qtbot.waitUntil(lambda: chips[2].y() > chips[0].y())           # once the layout has been applied
    assert chips[0].y() == chips[1].y() < chips[2].y() == chips[3].y()   # two rows of two
    for chip in chips:                                             # every indicator within the strip
        assert chip.geometry().right() <= strip.width()
    panel.resize(1200, 120)
    qtbot.waitUntil(lambda: strip.two_rows is False and len({chip.y() for chip in chips}) == 1)
