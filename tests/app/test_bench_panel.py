"""The Benchmark tab measures a trained run off the GUI thread with `layerloom bench`'s own measurement:
its sizes, accuracies and agreements are the CLI's, and Cancel stops it."""
from __future__ import annotations

import json

from PySide6.QtCore import Qt

from layerloom.runtime.cli import run
from layerloom.runtime.latency import percent_text, size_text

from .helpers import settings

LEFT = Qt.MouseButton.LeftButton


def test_the_table_shows_what_layerloom_bench_measures(win, trained, qtbot, capsys):
    win.actions_by_name["benchmark"].trigger()
    panel = win.benchmarking.panel
    assert win.docks["benchmark"].isVisible() and panel.run.currentData() == str(trained)
    for key in ("pt2", "onnx", "onnx-int8-static"):                 # keep torch eager and int8 dynamic
        qtbot.mouseClick(panel.formats[key], LEFT)
    assert panel.chosen_formats() == {"torch", "onnx-int8-dynamic"}
    with qtbot.waitSignal(win.benchmarking.finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start, LEFT)
        assert not panel.start.isEnabled() and panel.cancel.isEnabled()
    report = done.args[0]
    assert [row["key"] for row in report["backends"]] == ["torch", "onnx-int8-dynamic"]
    table = [[panel.table.item(r, c).text() for c in range(panel.table.columnCount())]
             for r in range(panel.table.rowCount())]

    assert run(["bench", str(trained), "--json", "--repeats", "3"]) == 0
    cli = {row["key"]: row for row in json.loads(capsys.readouterr().out)["backends"]}
    for cells, row in zip(table, report["backends"]):
        same = cli[row["key"]]
        assert cells[0] == same["backend"]
        assert cells[1] == size_text(same["size_bytes"])                    # the same file sizes
        assert cells[7] == percent_text(same["accuracy"])                   # the same validation accuracy
        assert cells[8] == percent_text(same["top1_agreement"])             # the same agreement with torch
        assert cells[2] == f"{row['latency']['1']['median_ms']:.2f} ms"     # this run's own timings
        assert cells[5] == f"{row['latency']['32']['p90_ms']:.2f} ms"
    assert table[0][8] == "100.00 %" and "kB" in table[1][1]
    assert float(table[1][1].split()[0]) < 0.35 * float(table[0][1].split()[0])   # int8 is under 35 % of fp32
    assert "CPU thread(s)" in panel.status.text() and panel.start.isEnabled()


def test_cancel_stops_a_measurement_and_the_panel_says_so(win, trained, qtbot):
    win.benchmarking.show()
    panel = win.benchmarking.panel
    with qtbot.waitSignal(win.benchmarking.finished, timeout=120_000) as done:
        qtbot.mouseClick(panel.start, LEFT)
        qtbot.mouseClick(panel.cancel, LEFT)
    assert done.args[0] is None and panel.status.text() == "Cancelled." and panel.table.rowCount() == 0
    assert panel.start.isEnabled() and not panel.cancel.isEnabled()


def test_no_measuring_while_the_window_trains(win, trained, ui, qtbot):
    """A run going in the window would share the CPU: Start refuses and says so, until the run ends."""
    settings(ui, epochs=50, batch_size=16)
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.run.active, timeout=30_000)
    qtbot.mouseClick(ui.panel.pause, LEFT)
    win.actions_by_name["benchmark"].trigger()
    panel = win.benchmarking.panel
    assert panel.run.currentData() == str(trained)
    assert win.benchmarking.start() is False and win.benchmarking.job is None
    assert "A training run is going" in panel.status.text()
    qtbot.mouseClick(ui.panel.stop, LEFT)
    qtbot.waitUntil(lambda: not ui.run.active, timeout=30_000)
    for box in panel.formats.values():                      # no format: the next reason, not the run's
        box.setChecked(False)
    assert win.benchmarking.start() is False and panel.status.text() == "Choose at least one format."
