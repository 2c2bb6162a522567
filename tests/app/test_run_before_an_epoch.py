"""A run that ends at Max steps before its first epoch finished (the usual quick try): the Validation panel
says so, with the run's own final validation, instead of "No epoch has finished yet."; the Runs list counts
its steps beside its 0 epochs."""
from __future__ import annotations

from pathlib import Path

from layerloom.app.panels.runs import COLUMNS
from layerloom.runtime.runs import read_json

from .helpers import LEFT, settings, wait_run_end


def test_a_run_ended_by_max_steps_before_an_epoch_says_so(win, ui, qtbot):
    settings(ui, max_steps=5, epochs=1)
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    run = Path(ui.training.last_run_dir)
    summary = read_json(run / "summary.json")
    assert summary["epochs"] == 0 and summary["steps"] == 5            # the trainer's own account
    text = ui.epochs.waiting.text()
    assert text.startswith("The run ended (Max steps) after 5 steps, before its first epoch finished")
    assert f"{summary['val_accuracy']:.2%} accuracy" in text
    tree = ui.runs.tree
    row = next(tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
               if tree.topLevelItem(i).text(0) == run.name)
    assert row.text(COLUMNS.index("Epochs")) == "0 (5 steps)"
