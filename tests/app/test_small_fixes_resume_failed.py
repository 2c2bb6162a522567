"""A run that failed because its training data could not be read (a data-loading worker killed when memory ran
out, a file that vanished) keeps its last checkpoint, and its message tells the person to resume it, as
`layerloom train --resume RUN` does. The Runs list offered Resume only for stopped or interrupted runs; now a
failed run with a checkpoint offers it too, and one that failed before its first checkpoint still does not."""
from __future__ import annotations

import errno
from pathlib import Path

import pytest
import torch
from PySide6.QtCore import Qt

from layerloom.app.panels.runs import STATUS
from layerloom.graph import load_graph
from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.config import TrainConfig
from layerloom.runtime.data import DataBundle, load_dataset
from layerloom.runtime.runs import read_json
from layerloom.runtime.trainer import Trainer

from .helpers import wait_run_end

LEFT = Qt.MouseButton.LeftButton
SETTINGS = {"epochs": 2, "batch_size": 500, "threads": 1}


class _Vanishing:
    """A training split read sample by sample, as from files on disk (no `batch`), whose files are deleted when
    `gone` is set: reading then raises what reading a deleted file raises."""

    def __init__(self, split):
        self.split, self.gone = split, False

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i):
        if self.gone:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", f"/data/digits/{i:05d}.png")
        x, y = self.split.batch(torch.tensor([i]))
        return x[0], int(y[0])


def _failed_run(runs: Path, after_checkpoint: bool) -> Path:
    """A LeNet-5 run that fails when its training files vanish: after its first checkpoint, or before it."""
    doc = load_graph(preset_path("lenet5"))
    cfg = TrainConfig.from_sources(doc.training, SETTINGS)
    data = load_dataset(cfg.dataset, input_shape=(1, 28, 28), seed=cfg.seed, **cfg.dataset_options)
    train = _Vanishing(data.train)
    train.gone = not after_checkpoint

    def on_event(e):
        if e["type"] == "checkpoint":
            train.gone = True
    trainer = Trainer(doc, SETTINGS, on_event, runs_base=runs, data=DataBundle(data.info, train, data.val))
    trainer.loader_workers = 0                  # read in the training thread (no worker processes in a test)
    assert trainer.run() is None and trainer.state == "failed"
    return trainer.run_dir


def _pick(runs, folder: Path) -> str:
    row = next(runs.tree.topLevelItem(i) for i in range(runs.tree.topLevelItemCount())
               if runs.tree.topLevelItem(i).text(0) == folder.name)
    runs.tree.clearSelection()
    row.setSelected(True)
    return row.text(STATUS)


@pytest.fixture
def failed(win, tmp_path, qtbot):
    """LeNet-5 open, two failed runs of it in the window's runs folder (one failed before its first checkpoint,
    one after it: (early, late)), and the Runs tab showing them."""
    runs_folder = tmp_path / "runs"
    win.training.set_runs_folder(runs_folder)
    early = _failed_run(runs_folder, after_checkpoint=False)
    late = _failed_run(runs_folder, after_checkpoint=True)
    win.files.open_preset(preset_path("lenet5"))
    win.training.runs_dock.show()
    win.training.runs_dock.raise_()
    qtbot.mouseClick(win.training.runs.refresh_button, LEFT)
    return early, late


def test_a_failed_run_offers_resume_only_when_it_kept_a_checkpoint(win, failed):
    early, late = failed
    summary = read_json(late / "summary.json")
    assert summary["status"] == "failed" and f"resume with layerloom train --resume {late}" in summary["message"]
    assert "no checkpoint was saved" in read_json(early / "summary.json")["message"]
    runs = win.training.runs
    assert _pick(runs, early) == "failed" and not runs.resume_button.isEnabled()
    assert "failed before its first checkpoint" in runs.resume_button.toolTip()
    assert not runs.export_button.isEnabled()
    assert _pick(runs, late) == "failed" and runs.resume_button.isEnabled() and runs.export_button.isEnabled()
    row = runs.tree.selectedItems()[0]
    assert "resume with layerloom train --resume" in row.toolTip(STATUS)      # the failure's own words
    runs.grab().save("/tmp/runs_failed.png")


def test_a_run_failed_after_its_checkpoint_is_resumed_from_the_runs_list(win, failed, qtbot):
    _, late = failed
    kept = load_checkpoint(late).meta["step"]             # where the failed run can go on from
    ui, runs = win.training, win.training.runs
    assert _pick(runs, late) == "failed"
    said = []
    win.session.message.connect(said.append)
    qtbot.mouseClick(runs.resume_button, LEFT)
    assert ui.run.active, said
    wait_run_end(ui, qtbot)
    assert ui.live.started["resumed_from"]
    done = read_json(late / "summary.json")
    assert done["status"] == "finished" and done["epochs"] == SETTINGS["epochs"], done
    assert done["steps"] > kept and load_checkpoint(late).meta["step"] == done["steps"]
    qtbot.mouseClick(runs.refresh_button, LEFT)
    assert _pick(runs, late) == "finished"
