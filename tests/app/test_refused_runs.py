"""A training run refused at its start (by the readiness check, or by the trainer's setup) trained nothing,
and the window says so: Step mode keeps its steps (only a run that trained, and so changed the weights,
makes Step start over), the Curves say the run did not start, and the Validation dock keeps the last epoch
of the run before. Driven with the toolbar's ▶ Train."""
from __future__ import annotations

from PySide6.QtCore import Qt

from layerloom.app.training.controller import RunState

from .helpers import fresh_weights, refused_run, settings, wait_run_end

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
    assert ui.run.state == RunState.FAILED and ui.run.message.startswith("init_from: nothing in ") \
        and "fits this graph" in ui.run.message
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

    runs.unlink()                              # the trainer's setup refuses: no weight in the file fits
    qtbot.mouseClick(train, LEFT)
    wait_run_end(ui, qtbot)
    assert ui.run.state == RunState.FAILED and ui.run.live.started is None
    assert panel.view is view and _shown(win) == before
    _step(panel, qtbot)                        # Step goes on from its own weights
    assert panel.view is view and view.steps_taken == 3 and panel.loss.text().startswith("Step 3: loss")


def test_the_curves_say_a_refused_run_did_not_start(win, ui, qtbot):
    plots = ui.plots
    refused_run(win, ui, qtbot)               # the first run: it was being prepared, and never began
    assert plots.placeholder.isVisible() and not plots.graphics.isVisible()
    assert plots.placeholder.text().startswith("The run did not start, so nothing was trained: init_from: ")
    fresh_weights(win, ui, qtbot)
    settings(ui, max_steps=2)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert ui.run.state == RunState.FINISHED and plots.raw.getData()[0][-1] == 2     # (step events are throttled)
    assert plots.graphics.isVisible() and not plots.placeholder.isVisible()
    refused_run(win, ui, qtbot)               # after a run that trained: its curves were cleared at the start,
    assert plots.placeholder.isVisible() and not plots.graphics.isVisible()     # no empty axes waiting on
    assert "did not start" in plots.placeholder.text() and not plots.health.isVisible()   # a run that is over


def _validation(epochs) -> dict:
    """What the Validation dock shows: its header, the confusion matrix (or the note in its place) and the
    samples with the network's predictions."""
    g = epochs.grid
    return {"header": epochs.header.text(), "matrix": epochs.confusion.currentWidget() is epochs.graphics,
            "note": epochs.waiting.text(), "cells": None if epochs.conf_image.image is None
            else epochs.conf_image.image.tolist(), "tab": epochs.tabs.tabText(1),
            "samples": (len(g.images), g.captions, g.marks, g.tips)}


def test_a_run_refused_at_its_start_leaves_the_validation_dock_on_the_run_before(win, ui, qtbot):
    epochs = ui.epochs
    settings(ui, epochs=1, batch_size=64)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert ui.run.state == RunState.FINISHED
    assert epochs._before is None             # a run that trained keeps nothing of the view it replaced
    before = _validation(epochs)
    assert before["header"].startswith("<b>Epoch 1</b> · validation accuracy") and before["matrix"]
    assert "wrong of 32" in before["tab"] and before["samples"][0] == 32
    refused_run(win, ui, qtbot)               # trained nothing: the finished run's epoch is still the last one
    assert ui.run.state == RunState.FAILED and ui.run.live.started is None
    assert _validation(epochs) == before


def test_f5_on_a_graph_that_cannot_train_says_why_nothing_starts(win, ui, qtbot):
    from layerloom.app import edits
    from layerloom.app.training.ui import CANNOT_START
    edits.set_param(win.session, "input", "shape", [3, 28, 28])     # the MNIST digits have one channel
    win.session.flush()
    ui.recheck()
    assert not ui.ready
    ui.panel.show_message("Run stopped.", "")                       # an earlier run's news
    win.actions_by_name["train_start"].trigger()
    assert ui.panel.message.text() == CANNOT_START and not ui.run.active
