"""The Benchmark tab's report belongs to the run it measured: it names the graph and the run folder, goes away
when another graph is opened (a measurement still going for the old graph is cancelled, its result never
shown as the new graph's), and says so when a training run shared the CPU while it measured."""
from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QMessageBox

LEFT = Qt.MouseButton.LeftButton
SB = QMessageBox.StandardButton


def _torch_only(win):
    win.actions_by_name["benchmark"].trigger()
    panel = win.benchmarking.panel
    for key, box in panel.formats.items():
        box.setChecked(key == "torch")
    return panel


def test_the_report_names_its_run_and_goes_when_another_graph_opens(win, trained, qtbot, dialogs):
    panel = _torch_only(win)
    with qtbot.waitSignal(win.benchmarking.finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start, LEFT)
    assert done.args[0] is not None and panel.table.rowCount() == 1
    measured = panel.findChild(QLabel, "bench-measured")          # beside the Measure button
    assert measured is not None and measured.isVisible()
    assert measured.text() == f"Measured: LeNet-5 · run folder {trained.name}"
    assert "CPU thread(s)" in panel.status.text() and "Warning" not in panel.status.text()
    dialogs.answers += [SB.Discard]
    win.actions_by_name["new"].trigger()
    assert win.document.name == "Untitled"
    assert panel.table.rowCount() == 0 and measured.text() == ""
    assert panel.status.text().startswith("Choose a trained run")
    assert panel.run.currentData() is None            # no run of the new graph to measure
    assert win.benchmarking.report is None


def test_a_measurement_going_when_another_graph_opens_is_cancelled_not_shown(win, trained, qtbot, dialogs):
    panel = _torch_only(win)
    with qtbot.waitSignal(win.benchmarking.finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start, LEFT)
        dialogs.answers += [SB.Discard]
        win.actions_by_name["new"].trigger()             # before the measurement can have ended here
        assert panel.status.text().startswith("Another graph is open: stopping the measurement of LeNet-5")
    assert done.args[0] is None and win.benchmarking.report is None
    assert panel.table.rowCount() == 0 and panel.measured.text() == ""
    assert panel.status.text() == (f"Stopped measuring LeNet-5 (run folder {trained.name}): another graph was "
                                   "opened. Open that graph again to measure its run.")
    assert panel.start.isEnabled() and not panel.cancel.isEnabled()


def test_training_started_while_it_measures_is_said_in_the_report(win, trained, ui, qtbot):
    """Measure is refused while a run trains; ▶ Train is not refused while it measures, but the report
    says its timings shared the CPU."""
    ui.panel.settings.epochs.setValue(50)
    panel = _torch_only(win)
    with qtbot.waitSignal(win.benchmarking.finished, timeout=180_000) as done:
        qtbot.mouseClick(panel.start, LEFT)
        win.actions_by_name["train_start"].trigger()
        assert ui.run.active
        qtbot.waitUntil(lambda: ui.live.step >= 1, timeout=60_000)
        assert ui.stop_and_wait()                        # stopped, maybe before the measurement ends: still said
    assert done.args[0] is not None and panel.table.rowCount() == 1
    assert panel.status.text().startswith("Warning: a training run shared the CPU while this was measured: "
                                          "measure again for clean timings. ")
    with qtbot.waitSignal(win.benchmarking.finished, timeout=120_000) as done:   # measured alone: no warning
        qtbot.mouseClick(panel.start, LEFT)
    assert done.args[0] is not None and not panel.status.text().startswith("Warning")
