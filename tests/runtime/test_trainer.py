"""The trainer: learning, events, control from another thread, exact resume, faults."""
import threading

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from layerloom.graph.compiler import compile_graph
from layerloom.runtime.checkpoints import latest_checkpoint, load_checkpoint
from layerloom.runtime.data import DataBundle, InMemorySplit
from layerloom.runtime.runs import read_json, read_metrics
from layerloom.runtime.taps import FeatureTaps
from layerloom.runtime.trainer import Trainer

from ..pause_probe import CountedPause
from .trainer_helpers import Recorder, lenet, mnist_small, small_net, weights_equal


def test_lenet_learns_and_reports_every_event(tmp_path):
    rec = Recorder()
    taps = FeatureTaps(["conv1", "fc3"], interval=0.0)
    t = Trainer(lenet(), {"epochs": 2, "batch_size": 32}, rec, runs_base=tmp_path, taps=taps, data=mnist_small(1024))
    summary = t.run()
    assert summary["status"] == "finished"
    assert summary["val_accuracy"] > 0.6          # 64 steps of LeNet-5 on real digits (chance: 0.1)
    types = [e["type"] for e in rec.events]
    assert types[0] == "started" and types[-1] == "finished"
    assert types.count("epoch_end") == 2 and types.count("checkpoint") == 2
    steps = rec.of("step")
    assert steps and all(a["step"] < b["step"] for a, b in zip(steps, steps[1:]))
    assert {"loss", "lr", "samples_per_s", "epoch"} <= set(steps[0])
    end = rec.of("epoch_end")[-1]
    assert end["confusion"].shape == (10, 10) and end["confusion"].sum() == 256
    assert np.isclose(end["val_accuracy"], np.trace(end["confusion"]) / 256)
    assert end["per_class_accuracy"].shape == (10,)
    maps = [e for e in rec.of("feature_maps") if e["block"] == "conv1"]
    assert maps and maps[0]["kind"] == "image" and maps[0]["maps"].dtype == np.uint8
    assert maps[0]["maps"].shape == (6, 28, 28)
    assert any(not np.array_equal(maps[0]["maps"], m["maps"]) for m in maps[1:])   # it changes as it learns
    fc3 = [e for e in rec.of("feature_maps") if e["block"] == "fc3"][0]
    assert fc3["kind"] == "vector" and fc3["values"].shape == (10,)
    assert rec.of("prediction")[-1]["probabilities"].shape == (10,)
    started = rec.of("started")[0]
    assert started["probe_input"].shape == (1, 28, 28) and started["probe_input"].dtype == np.uint8
    # The run folder
    run = tmp_path / next(p.name for p in tmp_path.iterdir())
    assert {"graph.loom.json", "config.json", "metrics.csv", "summary.json", "checkpoints"} <= \
        {p.name for p in run.iterdir()}
    rows = read_metrics(run)
    assert [r["epoch"] for r in rows] == [1, 2]
    assert set(read_json(run / "summary.json")) >= {"val_accuracy", "val_loss", "epochs", "steps", "seconds"}


def test_step_events_are_throttled(tmp_path, monkeypatch):
    monkeypatch.setattr("layerloom.runtime.trainer.STEP_EVENT_INTERVAL", 3600.0)
    rec = Recorder()
    Trainer(small_net(), {"epochs": 2, "batch_size": 64}, rec, runs_base=tmp_path, data=mnist_small()).run()
    steps = rec.of("step")
    assert [s["step"] for s in steps] == [8, 16]          # only the last step of each epoch
    monkeypatch.setattr("layerloom.runtime.trainer.STEP_EVENT_INTERVAL", 0.0)
    rec = Recorder()
    Trainer(small_net(), {"epochs": 1, "batch_size": 64}, rec, runs_base=tmp_path, data=mnist_small()).run()
    assert [s["step"] for s in rec.of("step")] == list(range(1, 9))


def test_each_epoch_ends_with_a_capture_however_short(tmp_path):
    rec = Recorder()
    taps = FeatureTaps(["conv1"], interval=3600.0)      # no capture falls due by time in this run
    Trainer(lenet(), {"epochs": 2, "batch_size": 64}, rec, runs_base=tmp_path, taps=taps,
            data=mnist_small()).run()
    maps = rec.of("feature_maps")
    assert [m["step"] for m in maps] == [1, 8, 16]      # the first step, then each epoch's last
    assert not np.array_equal(maps[0]["maps"], maps[-1]["maps"])


def test_naming_the_same_taps_again_captures_nothing_and_a_new_run_captures_at_once(tmp_path):
    """The window names its taps as a run starts and again when its started event comes: the second
    naming changes nothing, so it must not capture (and redraw the maps) a second time."""
    taps = FeatureTaps(["conv1"], interval=3600.0)
    rec = Recorder()
    Trainer(lenet(), {"epochs": 1, "max_steps": 3}, rec, runs_base=tmp_path, taps=taps, data=mnist_small()).run()
    assert [m["step"] for m in rec.of("feature_maps")] == [1, 3]     # the first step and the run's last
    taps.set_blocks(["conv1"])
    assert not taps.due()                       # the same blocks: nothing new to show
    taps.new_run()
    assert taps.due()                           # a new run's first step shows its maps at once
    taps.capture(compile_graph(lenet()), torch.zeros(1, 1, 28, 28), 0)
    assert not taps.due()
    taps.set_blocks(["conv1", "fc3"])
    assert taps.due() and taps.blocks == {"conv1", "fc3"}      # a block followed: captured at the next step


def test_no_taps_means_no_probe_work(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setattr(FeatureTaps, "capture", lambda self, *a: calls.append(1) or [])
    Trainer(small_net(), {"epochs": 1}, None, runs_base=tmp_path, data=mnist_small()).run()
    assert calls == []


class Resumes:
    """An extension that counts the `resumed` hook's calls (extensions that time steps leave a pause out)."""
    def __init__(self):
        self.calls = 0

    def resumed(self, trainer):
        self.calls += 1


def test_pause_resume_set_lr_and_stop_from_another_thread(tmp_path):
    rec, resumes = Recorder(), Resumes()
    t = Trainer(lenet(), {"epochs": 50, "batch_size": 16, "optimizer": "sgd", "lr": 0.01}, rec,
                runs_base=tmp_path, data=mnist_small(1024), extensions=[resumes])
    t._running = flag = CountedPause()        # the trainer's run/pause flag, counting paused wake-ups
    worker = threading.Thread(target=t.run)
    worker.start()
    try:
        rec.wait_for(lambda e: e["type"] == "step")
        t.pause()
        rec.wait_for(lambda e: e["type"] == "paused")
        n = len(rec.of("step"))
        paused_at = t.step
        assert flag.wait_for_wakeups(3)            # the trainer looked three times and stayed paused
        assert len(rec.of("step")) == n and t.step == paused_at and t.state == "paused" and resumes.calls == 0
        t.set_lr(0.002)
        t.resume()
        rec.wait_for(lambda e: e["type"] == "lr_changed")
        assert rec.of("lr_changed")[0]["lr"] == pytest.approx(0.002)
        rec.wait_for(lambda e: e["type"] == "step" and e["step"] > paused_at + 2)
        assert rec.of("step")[-1]["lr"] == pytest.approx(0.002) and resumes.calls == 1
        t.stop()
        worker.join(timeout=30)
        assert not worker.is_alive()
    finally:
        t.stop()
        worker.join(timeout=30)
    fin = rec.of("finished")[-1]
    assert fin["stopped"] is True and t.state == "stopped"
    ckpt = load_checkpoint(fin["run_dir"])
    assert ckpt.meta["step"] == t.step    # stopped within one step, and saved there
    assert ckpt.state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.002)


@pytest.mark.parametrize("config", [
    {"optimizer": "adam", "schedule": "cosine", "augment": {"random_crop": 2, "rotation": 10}},
    {"optimizer": "sgd", "schedule": "onecycle"},
])
def test_resume_is_exact(tmp_path, config):
    cfg = {"epochs": 2, "batch_size": 64, **config}
    straight = Trainer(small_net(), cfg, None, runs_base=tmp_path / "a", data=mnist_small())
    straight.run()
    # Run 1 epoch, stop at the start of the second, resume for the rest.
    rec = Recorder()
    first = Trainer(small_net(), cfg, lambda e: (rec(e), e["type"] == "epoch_end" and first.stop()),
                    runs_base=tmp_path / "b", data=mnist_small())
    first.run()
    assert first.summary["status"] == "stopped" and first.summary["epochs"] == 1
    second = Trainer(None, None, None, resume=first.run_dir, data=mnist_small())
    second.run()
    assert second.summary["status"] == "finished" and second.summary["steps"] == straight.summary["steps"]
    a = {k: v for k, v in straight.model.state_dict().items()}
    b = {k: v for k, v in second.model.state_dict().items()}
    assert weights_equal(a, b)


def test_resume_mid_epoch_is_exact(tmp_path, monkeypatch):
    monkeypatch.setattr("layerloom.runtime.trainer.STEP_EVENT_INTERVAL", 0.0)   # an event every step
    cfg = {"epochs": 1, "batch_size": 32}
    straight = Trainer(small_net(), cfg, None, runs_base=tmp_path / "a", data=mnist_small())
    straight.run()
    first = Trainer(small_net(), cfg, lambda e: e["type"] == "step" and e["step"] >= 5 and first.stop(),
                    runs_base=tmp_path / "b", data=mnist_small())
    first.run()
    stopped_at = first.step
    assert 5 <= stopped_at < 16
    second = Trainer(None, None, None, resume=first.run_dir, data=mnist_small())
    second.run()
    assert weights_equal(straight.model.state_dict(), second.model.state_dict())


def test_nan_loss_fails_with_step_and_keeps_checkpoint(tmp_path):
    rec = Recorder()
    t = Trainer(small_net(dropout=False), {"epochs": 3, "optimizer": "sgd", "lr": 0.01, "momentum": 0.0}, None,
                runs_base=tmp_path, data=mnist_small())

    def explode(e):            # after a clean first epoch, a huge learning rate makes the loss blow up
        rec(e)
        if e["type"] == "epoch_end":
            t.set_lr(10.0)
    t.callback = explode
    bundle = mnist_small()
    x = bundle.train.images.float() / 255 * 1e6     # large inputs + lr 10 -> inf/nan loss quickly
    t.data = DataBundle(bundle.info, InMemorySplit(x, bundle.train.labels), bundle.val)
    assert t.run() is None
    failed = rec.of("failed")[0]
    assert "not a finite number" in failed["message"] and f"step {failed['step'] + 1}" in failed["message"]
    assert "Lower the learning rate" in failed["message"]
    ck = load_checkpoint(t.run_dir)
    assert ck.meta["epoch"] >= 1 and all(torch.isfinite(v).all() for v in ck.weights.values() if v.is_floating_point())
    assert read_json(t.run_dir / "summary.json")["status"] == "failed"


def test_wrong_label_range_fails_clearly(tmp_path):
    bundle = mnist_small()
    labels = bundle.train.labels.clone()
    labels[::3] = 12
    rec = Recorder()
    data = DataBundle(bundle.info, InMemorySplit(bundle.train.images, labels), bundle.val)
    assert Trainer(small_net(), {"epochs": 1}, rec, runs_base=tmp_path, data=data).run() is None
    msg = rec.of("failed")[0]["message"]
    assert msg.startswith("step 1: a label is 12, but the network has only 10 outputs")


class BrokenSet(torch.utils.data.Dataset):
    def __init__(self, base):
        self.base = base

    def __len__(self):
        return len(self.base)

    def __getitem__(self, i):
        if i % 7 == 3:
            raise OSError("image 3 is truncated")
        return self.base[i]


def test_data_pipeline_error_fails_clearly(tmp_path):
    bundle = mnist_small()
    rec = Recorder()
    data = DataBundle(bundle.info, BrokenSet(bundle.train), bundle.val)
    assert Trainer(small_net(), {"epochs": 1}, rec, runs_base=tmp_path, data=data).run() is None
    msg = rec.of("failed")[0]["message"]
    assert "reading the training data failed" in msg and "image 3 is truncated" in msg and msg.startswith("step 1")


def test_model_error_fails_clearly(tmp_path, monkeypatch):
    rec = Recorder()
    t = Trainer(small_net(), {"epochs": 1}, rec, runs_base=tmp_path, data=mnist_small())
    original = t._loss

    def bad_loss(logits, y):
        if t.step == 2:
            raise RuntimeError("CUDA error: an illegal memory access was encountered")
        return original(logits, y)
    t._loss = bad_loss
    assert t.run() is None
    assert rec.of("failed")[0]["message"].startswith("step 3: the model failed on a training batch")


def test_data_mismatch_is_caught_before_training(tmp_path):
    from layerloom.graph import load_graph
    from layerloom.presets import preset_path
    rec = Recorder()
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("input", "shape", [3, 32, 32])
    assert Trainer(doc, {"epochs": 1}, rec, runs_base=tmp_path, data=mnist_small()).run() is None
    msg = rec.of("failed")[0]["message"]
    assert "Input expects 3×32×32 but mnist-sample gives 1×28×28" in msg
    rec = Recorder()
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("fc3", "out_features", 5)
    Trainer(doc, {"epochs": 1}, rec, runs_base=tmp_path, data=mnist_small()).run()
    assert "set the last Linear's out_features to 10" in rec.of("failed")[0]["message"]
    rec = Recorder()
    Trainer(doc, {"epochs": 1, "optimizer": "rmsprop"}, rec, runs_base=tmp_path).run()
    assert "optimizer must be one of sgd, adam, adamw" in rec.of("failed")[0]["message"]


def test_checkpoint_weights_match_compiled_keys(tmp_path):
    t = Trainer(small_net(), {"epochs": 1}, None, runs_base=tmp_path, data=mnist_small())
    t.run()
    path = latest_checkpoint(t.run_dir)
    weights = load_file(str(path / "model.safetensors"))
    assert weights.keys() == t.model.state_dict().keys()
    assert weights_equal(weights, {k: v.cpu() for k, v in t.model.state_dict().items()})


@pytest.mark.parametrize("where", ["runs", "runs/inside"])
def test_a_runs_folder_a_file_stands_in_fails_the_run_in_words_and_writes_nothing(tmp_path, where):
    (tmp_path / "runs").write_text("a file, where the runs folder would be")
    rec = Recorder()
    t = Trainer(small_net(), {"epochs": 1, "batch_size": 64}, rec, runs_base=tmp_path / where,
                data=mnist_small(128, 64))
    assert t.run() is None and t.state == "failed"
    with pytest.raises(OSError):                              # what the file system says of that folder
        (tmp_path / where).mkdir(parents=True, exist_ok=True)
    [failed] = [e for e in rec.events if e["type"] == "failed"]
    assert failed["message"] == (f"training stopped at step 0: cannot use {tmp_path / where}: "
                                 "a file is in the way of a folder")
    assert [p.name for p in tmp_path.iterdir()] == ["runs"]
    assert (tmp_path / "runs").read_text() == "a file, where the runs folder would be"
