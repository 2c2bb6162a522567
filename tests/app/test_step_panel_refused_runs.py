"""Step mode keeps its steps through a training run that never started: only a run that trained (and so
changed the weights) makes Step start over. Driven with the toolbar's ▶ Train, as a person would."""
from __future__ import annotations

from PySide6.QtCore import Qt

from layerloom.app.training.controller import RunState

from .helpers import refused_run, wait_run_end

LEFT = Qt.MouseButton.LeftButton


def _shown(win) -> dict:
    """What the Step panel and the canvas show of the steps taken."""
    panel = win.learning.step
    table = [[panel.table.item(r, c).text() for c in range(panel.table.columnCount())]
             for r in range(panel.table.rowCount())]
    return {"loss": panel.loss.text(), "rule": panel.rule.text(), "table": table,
            "follow": (panel.weight_block.currentText(), panel.weight_param.currentText()),
            "surface": panel.surface_button.isEnabled(),
            "wires": {e.src: w.note for e, w in win.scene.wires.items() if w.note}}


def _step(panel, qtbot) -> None:
    qtbot.mouseClick(panel.step_button, LEFT)
    qtbot.waitUntil(lambda: panel.view is not None and panel.step_button.isEnabled(), timeout=60_000)


def test_a_run_refused_at_its_start_leaves_step_mode_as_it_was(win, ui, qtbot, tmp_path):
    train = win.toolbar.widgetForAction(win.actions_by_name["train_start"])
    refused_run(win, ui, qtbot)                # (the first start keeps the settings in the graph)
    assert ui.run.state == RunState.FAILED and "no" in ui.run.message and "available" in ui.run.message
    win.learning.show_step()
    qtbot.waitUntil(lambda: win.memory.state == "done", timeout=60_000)
    panel = win.learning.step
    _step(panel, qtbot)
    panel.weight_block.setCurrentIndex(panel.weight_block.findText("fc3"))
    panel.weight_param.setCurrentIndex(panel.weight_param.findText("bias"))
    _step(panel, qtbot)
    view, before = panel.view, _shown(win)
    assert before["loss"].startswith("Step 2: loss") and before["rule"].startswith("fc3.bias[0]: ")
    assert before["wires"]["conv1"].startswith("← ∇ ") and [row[0] for row in before["table"]] == panel.order

    runs = tmp_path / "runs"                   # the readiness check refuses: a file where runs are saved
    if runs.is_dir():
        runs.rmdir()
    runs.write_text("not a folder")
    qtbot.mouseClick(train, LEFT)
    assert ui.run.state == RunState.IDLE and not ui.run.active
    assert panel.view is view and _shown(win) == before

    runs.unlink()                              # the trainer's setup refuses: the device is not here
    qtbot.mouseClick(train, LEFT)
    wait_run_end(ui, qtbot)
    assert ui.run.state == RunState.FAILED and ui.run.live.started is None
    assert panel.view is view and _shown(win) == before
    _step(panel, qtbot)                        # Step goes on from its own weights
    assert panel.view is view and view.steps_taken == 3 and panel.loss.text().startswith("Step 3: loss")
