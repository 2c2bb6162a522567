"""Stop pressed during an epoch's validation: the validation ends within a batch (a large validation set
no longer holds the window's close or the CLI's Ctrl-C for the whole pass), the run keeps a checkpoint at
the end of the epoch's training, and a resume validates that epoch again and goes on exactly as a run
that was never stopped (the same metrics rows, the same weights, bit for bit)."""
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.runs import read_metrics
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import Recorder, mnist_small, small_net, weights_equal

CFG = {"epochs": 2, "batch_size": 32, "optimizer": "sgd", "lr": 0.05}   # 8 steps an epoch of 256
N_TRAIN, N_VAL = 256, 600                                             # validation: 3 batches of 256


def data():
    return mnist_small(N_TRAIN, N_VAL)


def rows(run_dir):
    return [{k: v for k, v in r.items() if k != "seconds"} for r in read_metrics(run_dir)]


def test_stop_during_validation_ends_it_and_a_resume_goes_on_exactly(tmp_path):
    reference = Trainer(small_net(), CFG, Recorder(), runs_base=tmp_path / "a", data=data())
    assert reference.run()["status"] == "finished"

    rec = Recorder()
    t = Trainer(small_net(), CFG, rec, runs_base=tmp_path / "b", data=data())
    read, validation_batches = t._batch, []

    def batch(split, idx, transform):          # Stop arrives while the first validation batch is read
        if split is t.val_set and len(idx) > 1:
            validation_batches.append(len(idx))
            t.stop()
        return read(split, idx, transform)

    t._batch = batch
    summary = t.run()
    assert summary["status"] == "stopped" and summary["epochs"] == 0
    assert validation_batches == [256], validation_batches          # not the other two batches
    assert not rec.of("epoch_end") and rows(t.run_dir) == []
    meta = load_checkpoint(t.run_dir).meta
    assert (meta["epoch"], meta["step"], meta["step_in_epoch"]) == (0, 8, 8)

    rec = Recorder()
    resumed = Trainer(None, {}, rec, resume=t.run_dir, data=data())
    assert resumed.run()["status"] == "finished"
    assert rec.of("started")[0]["start_step"] == 8
    assert [e["epoch"] for e in rec.of("epoch_end")] == [1, 2]     # the first epoch validated on resume
    assert rows(t.run_dir) == rows(reference.run_dir)
    assert weights_equal(resumed.model.state_dict(), reference.model.state_dict())


def test_stop_during_the_last_validation_of_a_max_steps_run_is_resumed_to_its_end(tmp_path):
    """max_steps ending exactly at an epoch's end: the run's last validation stopped, then resumed."""
    cfg = dict(CFG, epochs=3, max_steps=16)
    reference = Trainer(small_net(), cfg, Recorder(), runs_base=tmp_path / "a", data=data())
    assert reference.run()["epochs"] == 2

    t = Trainer(small_net(), cfg, Recorder(), runs_base=tmp_path / "b", data=data())
    read = t._batch

    def batch(split, idx, transform):
        if split is t.val_set and len(idx) > 1 and t.step == 16:
            t.stop()
        return read(split, idx, transform)

    t._batch = batch
    assert t.run()["status"] == "stopped"
    assert len(rows(t.run_dir)) == 1
    resumed = Trainer(None, {}, Recorder(), resume=t.run_dir, data=data())
    summary = resumed.run()
    assert summary["status"] == "finished" and summary["epochs"] == 2 and summary["steps"] == 16
    assert rows(t.run_dir) == rows(reference.run_dir)
    assert summary["val_loss"] == reference.summary["val_loss"]
    assert weights_equal(resumed.model.state_dict(), reference.model.state_dict())


def test_a_run_stopped_part_way_through_an_epoch_keeps_that_epochs_training_loss(tmp_path):
    """The epoch's train_loss counts the steps before the stop too (it was the mean of the resumed steps only)."""
    reference = Trainer(small_net(), CFG, Recorder(), runs_base=tmp_path / "a", data=data())
    reference.run()
    rec = Recorder()
    t = Trainer(small_net(), CFG, rec, runs_base=tmp_path / "b", data=data())
    ready = t._ready

    def training_batch(x, y, transform):      # Stop comes while step 6 reads its batch: it stops after it
        if t.step == 5:
            t.stop()
        return ready(x, y, transform)

    t._ready = training_batch
    assert t.run()["status"] == "stopped"
    meta = load_checkpoint(t.run_dir).meta
    assert meta["step_in_epoch"] == 6 and meta["epoch_loss"][1] == 6
    Trainer(None, {}, Recorder(), resume=t.run_dir, data=data()).run()
    assert rows(t.run_dir) == rows(reference.run_dir)
