"""Resuming a run after something changed while it was stopped: its training set (refused in words, the run's files
left as they were), or its learning rate (changed while paused: the run's files, its resumed config and the
optimizer that trains agree). And the words of a failure about what is left to go back to."""
import json
from pathlib import Path

from layerloom.runtime.checkpoints import latest_checkpoint, load_checkpoint
from layerloom.runtime.runs import read_json
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder, mnist_small, small_net

CFG = {"epochs": 2, "batch_size": 32, "optimizer": "sgd", "lr": 0.01, "max_steps": 5}   # 8 steps an epoch of 256


def stopped_run(tmp_path, n_train=256, extensions=()):
    """A run that ended at step 5 of its first epoch (max_steps), with its checkpoint there."""
    rec = Recorder()
    t = Trainer(small_net(), CFG, rec, runs_base=tmp_path, data=mnist_small(n_train, 64), extensions=extensions)
    assert t.run()["status"] == "finished"
    assert load_checkpoint(t.run_dir).meta["step_in_epoch"] == 5
    return t.run_dir, rec


def resume(run_dir, n_train, config=None):
    rec = Recorder()
    summary = Trainer(None, config or {"max_steps": 10}, rec, resume=run_dir, data=mnist_small(n_train, 64)).run()
    return summary, rec


def test_a_resume_over_a_training_set_of_another_size_is_refused_in_words(tmp_path):
    run_dir, _ = stopped_run(tmp_path)
    meta = load_checkpoint(run_dir).meta
    assert meta["num_train"] == 256 and meta["batch"] == 32
    before = {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()}
    for n in (128, 300):                                  # images removed, images added
        summary, rec = resume(run_dir, n)
        assert summary is None and not rec.of("started")
        message = rec.of("failed")[0]["message"]
        assert f"{n:,} samples now and had 256" in message and "start a new run" in message, message
        assert "Error" not in message
        assert {p.name: p.read_bytes() for p in run_dir.iterdir() if p.is_file()} == before   # still resumable
    summary, rec = resume(run_dir, 256)                   # the set as it was: it goes on
    assert summary["status"] == "finished" and rec.of("started")[0]["start_step"] == 5


def test_an_older_checkpoint_past_the_end_of_the_epoch_is_refused_in_words(tmp_path):
    """A checkpoint written before it recorded the set's size: a position beyond the epoch now is refused
    (it was an UnboundLocalError)."""
    run_dir, _ = stopped_run(tmp_path)
    meta_path = latest_checkpoint(run_dir) / "meta.json"
    meta = json.loads(meta_path.read_text())
    del meta["num_train"], meta["batch"]
    meta_path.write_text(json.dumps(meta))
    summary, rec = resume(run_dir, 128)                   # 4 steps an epoch now; it stopped after step 5
    message = rec.of("failed")[0]["message"]
    assert summary is None and "step 6 of an epoch" in message and "now has 4 steps" in message, message
    assert "UnboundLocalError" not in message


class ChangeLr:
    """At step 2, what the panel does while paused: a new learning rate, applied at the next step."""

    def after_step(self, trainer, loss_value=None):
        if trainer.step == 2:
            trainer.set_lr(0.05)


def test_a_learning_rate_changed_while_paused_is_in_the_runs_files_and_its_resume(tmp_path):
    run_dir, rec = stopped_run(tmp_path, extensions=[ChangeLr()])
    trained = rec.of("step")[-1]["lr"]                    # what the optimizer trained with (the reference)
    assert trained == 0.05
    assert read_json(run_dir / "config.json")["lr"] == trained
    assert load_checkpoint(run_dir).meta["config"]["lr"] == trained
    summary, rec = resume(run_dir, 256)
    assert summary["status"] == "finished"
    assert rec.of("started")[0]["config"]["lr"] == rec.of("step")[-1]["lr"] == trained
    assert read_json(run_dir / "config.json")["lr"] == trained


def test_a_run_from_before_the_lr_was_recorded_resumes_saying_the_lr_it_trains_with(tmp_path):
    run_dir, _ = stopped_run(tmp_path, extensions=[ChangeLr()])
    for path in (run_dir / "config.json", latest_checkpoint(run_dir) / "meta.json"):   # as an older run wrote them
        data = json.loads(path.read_text())
        (data["config"] if "config" in data else data)["lr"] = 0.01
        path.write_text(json.dumps(data))
    summary, rec = resume(run_dir, 256)
    assert rec.of("started")[0]["config"]["lr"] == rec.of("step")[-1]["lr"] == 0.05
    assert read_json(run_dir / "config.json")["lr"] == 0.05


class NanLoss:
    """The loss becomes NaN from step `at` on."""

    def __init__(self, at):
        self.at = at

    def loss(self, trainer, x, logits, y, loss):
        return loss * float("nan") if trainer.step + 1 >= self.at else loss


def test_a_nan_loss_says_whether_a_checkpoint_is_left(tmp_path):
    cfg = {"epochs": 3, "batch_size": 32, "optimizer": "sgd", "lr": 0.01}
    for at, saved in ((3, False), (11, True)):            # in the first epoch (none saved), in the second
        rec = Recorder()
        t = Trainer(small_net(), cfg, rec, runs_base=tmp_path, data=mnist_small(256, 64), extensions=[NanLoss(at)])
        assert t.run() is None
        message = rec.of("failed")[0]["message"]
        checkpoints = sorted(p.name for p in (Path(t.run_dir) / "checkpoints").glob("epoch-*"))
        assert bool(checkpoints) is saved
        if saved:
            assert f"the last checkpoint ({checkpoints[-1]}) is kept" in message, message
        else:
            assert "no checkpoint was saved" in message and "checkpoint is kept" not in message, message
