"""What the window's live views show once a run has ended, driven as a person would: the settings typed
in the Training panel, Start clicked, the curves read back from the plot items."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from layerloom.runtime.runs import read_json

from .helpers import settings, wait_run_end

LEFT = Qt.MouseButton.LeftButton


def test_a_run_of_one_step_shows_its_loss_and_its_validation_on_the_curves(win, ui, qtbot):
    settings(ui, epochs=1, max_steps=1)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    summary = read_json(Path(ui.training.last_run_dir) / "summary.json")      # the trainer's own account
    assert summary["status"] == "finished" and summary["steps"] == 1 and summary["epochs"] == 0
    plots = ui.plots
    x, y = plots.smooth.getData()
    assert list(x) == [1] and plots.smooth.opts["symbol"] == "o"         # one point: a dot, not a line of nothing
    x, y = plots.accuracy.getData()       # validated at the end (no epoch ended): its point is on the curve
    assert list(x) == [1] and np.allclose(y, [summary["val_accuracy"] * 100])
    assert np.allclose(plots.val_loss.getData()[1], [summary["val_loss"]])
    lo, hi = plots.acc_plot.viewRange()[1]
    assert lo < y[0] < hi and hi - lo >= 1.0           # a readable axis around a single value
    settings(ui, epochs=2, max_steps=0)       # a longer run (a step event at each epoch end at least): lines again
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert len(plots.smooth.getData()[0]) > 1 and plots.smooth.opts["symbol"] is None
