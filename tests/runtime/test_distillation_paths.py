"""A distilled run's teacher is the same run wherever a later command runs: the command line stores it absolute,
and a run that named it relative to the folder it was trained in is still found from elsewhere."""
import pytest
import torch

from layerloom.presets import preset_path
from layerloom.runtime import distillation
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.cli import run
from layerloom.runtime.pruning import prune_run
from layerloom.runtime.runs import read_json
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import lenet, mnist_small

QUICK = {"max_steps": 1, "lr": 1e-3, "optimizer": "sgd"}


@pytest.fixture
def teacher(tmp_path, monkeypatch):
    """A trained run in tmp_path/runs; the tests start in tmp_path, so "runs/NAME" names it from there."""
    monkeypatch.chdir(tmp_path)
    t = Trainer(lenet(), {"epochs": 1, "max_steps": 3}, None, runs_base=tmp_path / "runs", data=mnist_small(128, 64))
    assert t.run() is not None
    return t.run_dir


def test_the_command_line_stores_the_teacher_absolute_and_prune_finds_it_from_elsewhere(teacher, tmp_path,
                                                                                     monkeypatch):
    typed = f"runs/{teacher.name}"
    assert run(["train", str(preset_path("lenet5")), "--teacher", typed, "--epochs", "1", "--max-steps", "2",
                "--out", "students", "--quiet", "--no-tensorboard", "--threads", "1"]) == 0
    (student,) = (tmp_path / "students").iterdir()
    assert read_json(student / "config.json")["teacher"] == str(teacher.resolve())
    assert load_checkpoint(student).meta["config"]["teacher"] == str(teacher.resolve())
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    report = prune_run(student, 0.5, tmp_path / "pruned", finetune_epochs=1, runs_base=tmp_path / "ft",
                       data=mnist_small(128, 64), overrides=QUICK)
    assert read_json(report.run_dir / "config.json")["teacher"] == str(teacher.resolve())


def test_an_older_run_naming_its_teacher_relative_is_pruned_and_resumed_from_another_folder(teacher, tmp_path,
                                                                                         monkeypatch):
    typed = f"runs/{teacher.name}"
    with monkeypatch.context() as old:      # as runs were made before teachers were stored absolute
        old.setattr(distillation, "teacher_path", lambda source, run_dir=None: str(source))
        student = Trainer(lenet(), {"epochs": 1, "max_steps": 2, "teacher": typed}, None,
                          runs_base=tmp_path / "students", data=mnist_small(128, 64))
        assert student.run()["status"] == "finished"
    assert load_checkpoint(student.run_dir).meta["config"]["teacher"] == typed
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")              # runs/NAME is not there from here
    report = prune_run(student.run_dir, 0.5, tmp_path / "pruned", finetune_epochs=1, runs_base=tmp_path / "ft",
                       data=mnist_small(128, 64), overrides=QUICK)
    assert read_json(report.run_dir / "config.json")["teacher"] == str(teacher.resolve())
    events = []
    resumed = Trainer(None, {"max_steps": 3}, events.append, resume=str(student.run_dir), data=mnist_small(128, 64))
    assert resumed.run() is not None, [e for e in events if e["type"] == "failed"]
    assert resumed.config.teacher == str(teacher.resolve())
    # the teacher found is the one trained: its outputs are the run's
    model, _meta = distillation.load_teacher(typed, "cpu", student.run_dir)
    x = torch.zeros(2, 1, 28, 28)
    weights = load_checkpoint(teacher).weights
    assert all(torch.equal(model.state_dict()[k], v) for k, v in weights.items())
    assert model(x).shape == (2, 10)


def test_a_relative_teacher_found_nowhere_says_where_it_was_looked_for(teacher, tmp_path, monkeypatch):
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    with pytest.raises(distillation.CheckpointError, match=r"runs/gone is not there any more \(moved or deleted; "
                                                           r"looked for it from .*elsewhere and beside the run"):
        distillation.load_teacher("runs/gone", "cpu", teacher)


def test_a_run_started_with_a_relative_teacher_stores_it_absolute(teacher, tmp_path):
    """The window hands the training settings' text to the Trainer as typed: the run stores where it is."""
    student = Trainer(lenet(), {"epochs": 1, "max_steps": 1, "teacher": f"runs/{teacher.name}"}, None,
                      runs_base=tmp_path / "students", data=mnist_small(128, 64))
    assert student.run() is not None
    assert read_json(student.run_dir / "config.json")["teacher"] == str(teacher.resolve())
    assert load_checkpoint(student.run_dir).meta["config"]["teacher"] == str(teacher.resolve())
