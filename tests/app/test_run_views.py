"""What the window shows of runs, driven as a person would: the live curves once a run has ended (the
settings typed in the Training panel, Start clicked, the curves read back from the plot items) and the
Runs tab over run folders spoilt on disk."""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt

from layerloom.app.panels.runs import STATUS
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
    # Step mode's gradients on the wires leave them once a run has changed the weights (they stayed, of
    # weights the graph no longer had, until Start over); the same settings: the graph itself is unchanged
    win.actions_by_name["step_mode"].trigger()
    step = win.learning.step
    qtbot.mouseClick(step.step_button, LEFT)
    qtbot.waitUntil(lambda: step.view is not None and step.step_button.isEnabled(), timeout=60_000)
    notes = {e.src: w.note for e, w in win.scene.wires.items()}
    assert notes["fc3"].startswith("← ∇ ") and notes["conv1"].startswith("← ∇ ")
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert [w.note for w in win.scene.wires.values() if w.note] == [] and step.view is None
    assert step.loss.text().startswith("A training run has changed the weights since the last step")
    settings(ui, epochs=2, max_steps=0)       # a longer run (a step event at each epoch end at least): lines again
    qtbot.waitUntil(lambda: ui.ready, timeout=20_000)
    qtbot.mouseClick(ui.panel.start, LEFT)
    wait_run_end(ui, qtbot)
    assert len(plots.smooth.getData()[0]) > 1 and plots.smooth.opts["symbol"] is None


def test_run_folders_spoilt_on_disk_are_listed_or_left_out_never_a_traceback(win, trained, qtbot):
    """The Runs tab, Refresh and File ▸ Export Model… over a runs folder where some folders were edited or
    cut short by hand: each readable run shows, with the rows of its metrics that can be read."""
    import shutil
    base = Path(trained).parent
    spoilt = {"not-an-object": ("graph.loom.json", b'"a string"'), "config-list": ("config.json", b"[1, 2]"),
              "summary-list": ("summary.json", b"[1]"), "summary-odd": ("summary.json", b'{"status": 3}'),
              "metrics-binary": ("metrics.csv", b"\xff\xfe\x00 not text"),
              "metrics-odd": ("metrics.csv", b"epoch,step,train_loss,val_loss,val_accuracy\n"
                                             b"x,5,1,1,1\n1,30,0.5,,0.9,surplus\n2,60,oops,0.4\n")}
    for name, (file, data) in spoilt.items():
        shutil.copytree(trained, base / name)
        (base / name / file).write_bytes(data)
    ui = win.training
    ui.runs_dock.show()
    ui.runs_dock.raise_()
    runs = ui.runs
    qtbot.mouseClick(runs.refresh_button, LEFT)
    rows = [runs.tree.topLevelItem(i) for i in range(runs.tree.topLevelItemCount())]
    listed = {row.text(0): row for row in rows}
    assert set(listed) == {Path(trained).name, "summary-list", "summary-odd", "metrics-binary", "metrics-odd"}
    assert listed["summary-list"].text(STATUS) == "incomplete" and listed["summary-odd"].text(STATUS) == "3"
    for name in ("metrics-binary", "metrics-odd"):
        runs.tree.clearSelection()
        listed[name].setSelected(True)                   # its curves: what metrics.csv holds that can be read
    assert runs.legend.count() == 1
    x, y = runs.loss_plot.listDataItems()[0].getData()
    assert list(x) == [1, 2] and y[0] != y[0] and y[1] == 0.4       # the empty value is a gap (nan)
    dialog = win.exporting.dialog()                  # the export choices read the same folders
    assert any(c.run is not None and c.run.name == Path(trained).name for c in dialog.choices)
    dialog.deleteLater()


def test_export_or_resume_of_a_run_deleted_on_disk_says_so_and_reads_the_list_again(win, trained, qtbot):
    import json
    import shutil
    stopped = Path(trained).parent / "20990101-000000-stopped-copy"
    shutil.copytree(trained, stopped)
    summary = json.loads((stopped / "summary.json").read_text())
    (stopped / "summary.json").write_text(json.dumps({**summary, "status": "stopped"}))
    ui = win.training
    ui.runs_dock.show()
    ui.runs_dock.raise_()
    runs = ui.runs
    qtbot.mouseClick(runs.refresh_button, LEFT)
    for folder, button in ((stopped, runs.resume_button), (Path(trained), runs.export_button)):
        row = next(runs.tree.topLevelItem(i) for i in range(runs.tree.topLevelItemCount())
                   if runs.tree.topLevelItem(i).text(0) == folder.name)
        runs.tree.clearSelection()
        row.setSelected(True)
        assert button.isEnabled()
        shutil.rmtree(folder)                            # deleted in the file manager meanwhile
        qtbot.mouseClick(button, LEFT)
        message = win.statusBar().currentMessage()
        assert f"{folder.name} is no longer on disk (moved or deleted)" in message and "Errno" not in message
        assert folder.name not in [runs.tree.topLevelItem(i).text(0) for i in range(runs.tree.topLevelItemCount())]
        assert not ui.run.active and not button.isEnabled()


def test_export_while_a_run_trains_names_it_and_exports_its_newest_checkpoint(win, ui, qtbot, tmp_path):
    from safetensors.torch import load_file

    from layerloom.runtime.checkpoints import latest_checkpoint, load_checkpoint
    from layerloom.runtime.runs import read_metrics
    settings(ui, epochs=4, batch_size=16)               # 250 steps an epoch
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 260, timeout=60_000)       # past the first epoch's checkpoint
    qtbot.mouseClick(ui.panel.pause, LEFT)               # the checkpoint stays the one of epoch 1 meanwhile
    qtbot.waitUntil(lambda: ui.run.state.value == "paused", timeout=30_000)
    run = Path(ui.training.last_run_dir)
    dialog = win.exporting.dialog()
    try:
        first = dialog.choices[0]
        accuracy = read_metrics(run)[-1]["val_accuracy"]          # epoch 1's, as the trainer wrote it
        assert first.run == run and dialog.choice.currentIndex() == 0
        assert f"val acc {accuracy:.1%} · training now" in first.label and "still training" in dialog.about.text()
        for fmt, check in dialog.checks.items():
            check.setChecked(fmt == "safetensors")
        dialog.folder.setText(str(tmp_path / "exported"))
        dialog.show()
        qtbot.mouseClick(dialog.export_button, LEFT)
        qtbot.waitUntil(lambda: dialog.job is None, timeout=60_000)
        weights = load_file(next((tmp_path / "exported").glob("*.safetensors")))
        saved = load_checkpoint(latest_checkpoint(run)).weights
        assert weights.keys() == saved.keys() and all((weights[k] == saved[k]).all() for k in saved)
    finally:
        dialog.close()
        dialog.deleteLater()
        ui.stop()
        wait_run_end(ui, qtbot)
    after = win.exporting.dialog()
    assert after.choices[0].run == run and "· stopped ·" in after.choices[0].label       # it has ended
    after.deleteLater()


def test_a_runs_folder_that_cannot_be_written_to_blocks_start_and_says_what_to_do(win, ui, qtbot, tmp_path,
                                                                                  monkeypatch):
    import os

    from PySide6.QtWidgets import QFileDialog

    import layerloom.runtime.path_problems as path_problems
    read_only = tmp_path / "read-only"
    read_only.mkdir()
    real_access = os.access
    monkeypatch.setattr(path_problems.os, "access",           # as a folder on a read-only disk answers
                        lambda p, mode, **kw: Path(p) != read_only and real_access(p, mode, **kw))
    chosen = [str(read_only)]
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: chosen[0]))
    ui.runs_dock.show()
    ui.runs_dock.raise_()
    qtbot.mouseClick(ui.runs.change, LEFT)                     # the Runs tab's Folder…
    assert not ui.panel.start.isEnabled() and not ui.ready
    text = " ".join(ui.panel.check_texts())
    assert f"Runs cannot be saved: {read_only} cannot be written to" in text and "Folder… in the Runs tab" in text
    chosen[0] = str(tmp_path / "writable")
    qtbot.mouseClick(ui.runs.change, LEFT)
    qtbot.waitUntil(lambda: ui.panel.start.isEnabled(), timeout=10_000)
    assert not any("Runs cannot be saved" in t for t in ui.panel.check_texts())


def test_a_killed_run_is_listed_as_interrupted_and_resumes_while_a_live_ones_waits(win, trained, qtbot):
    """A run whose process was killed after a checkpoint showed "incomplete" with Resume disabled, although
    `layerloom train --resume` goes on from it; a run another process trains now must not be resumed here."""
    import json
    import os
    import shutil

    from layerloom.runtime.processes import OWNER, process_started
    killed = Path(trained).parent / "20990101-000000-killed"
    other = Path(trained).parent / "20990101-000001-elsewhere"
    for folder in (killed, other):
        shutil.copytree(trained, folder)
        (folder / "summary.json").unlink()               # a kill leaves no summary
    import subprocess
    import sys
    ended = subprocess.Popen([sys.executable, "-c", "pass"])
    ended.wait()
    (killed / OWNER).write_text(json.dumps({"pid": ended.pid, "started": 1.0}))     # its trainer, killed
    parent = os.getppid()
    (other / OWNER).write_text(json.dumps({"pid": parent, "started": process_started(parent)}))
    ui = win.training
    ui.runs_dock.show()
    ui.runs_dock.raise_()
    runs = ui.runs
    qtbot.mouseClick(runs.refresh_button, LEFT)

    def pick(folder):
        row = next(runs.tree.topLevelItem(i) for i in range(runs.tree.topLevelItemCount())
                   if runs.tree.topLevelItem(i).text(0) == folder.name)
        runs.tree.clearSelection()
        row.setSelected(True)
        return row.text(STATUS)

    assert pick(other) == "training elsewhere" and not runs.resume_button.isEnabled()
    assert pick(killed) == "interrupted" and runs.resume_button.isEnabled()
    qtbot.mouseClick(runs.resume_button, LEFT)
    wait_run_end(ui, qtbot)
    assert read_json(killed / "summary.json")["status"] == "finished" and not (killed / OWNER).exists()


def test_export_before_a_runs_first_checkpoint_says_when_one_comes(win, ui, qtbot):
    """Export opened while a run was in its first epoch offered the untrained graph and said "Train it
    (▶ Train) to export what it learns", to a person watching it train."""
    settings(ui, epochs=4, batch_size=16)               # 250 steps an epoch: no checkpoint for a while
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 2, timeout=60_000)
    qtbot.mouseClick(ui.panel.pause, LEFT)
    qtbot.waitUntil(lambda: ui.run.state.value == "paused", timeout=30_000)
    dialog = win.exporting.dialog()
    try:
        assert [c.run for c in dialog.choices] == [None]            # nothing trained to export yet
        text = dialog.about.text()
        assert "A run is training it now and has no checkpoint yet" in text and "Train it (▶ Train)" not in text
    finally:
        dialog.deleteLater()
        ui.stop()
        wait_run_end(ui, qtbot)
    dialog = win.exporting.dialog()                     # the run has ended: its checkpoint is a choice
    assert dialog.choices[0].run == Path(ui.training.last_run_dir)
    dialog.choice.setCurrentIndex(len(dialog.choices) - 1)
    assert "Train it (▶ Train)" in dialog.about.text()
    dialog.deleteLater()


def test_a_run_that_ends_while_the_export_dialog_is_open_is_no_longer_offered_as_training(win, ui, qtbot):
    """Export opened while a run trained, then the run stopped: the dialog still offered it as "training now" with
    the note that it is still training (the new user exporting after the run had to close and open it again)."""
    settings(ui, epochs=4, batch_size=16)               # 250 steps an epoch
    qtbot.mouseClick(ui.panel.start, LEFT)
    qtbot.waitUntil(lambda: ui.live.step >= 260, timeout=60_000)       # past the first epoch's checkpoint
    run = Path(ui.training.last_run_dir)
    dialog = win.exporting.dialog()
    qtbot.addWidget(dialog)
    assert "training now" in dialog.choices[0].label and "still training" in dialog.about.text()
    qtbot.mouseClick(ui.panel.stop, LEFT)
    wait_run_end(ui, qtbot)
    assert dialog.choices[0].run == run and dialog.choice.currentIndex() == 0
    assert "· stopped ·" in dialog.choices[0].label and dialog.choice.currentText() == dialog.choices[0].label
    assert "still training" not in dialog.about.text() and "training now" not in dialog.choice.currentText()
    assert dialog.about.text() == f"The weights of the last checkpoint in {run.name}, with the graph that run trained."
