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
    assert strip.isVisible() and "at step" in strip.when.text()
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
