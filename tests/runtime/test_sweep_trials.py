"""Sweep trials for real: pruning with a clean checkpoint and TensorBoard files read back with TensorBoard's
own reader, failures that keep their reason, each trial's threads, a trial process killed by a signal."""
import json
import os
import signal
from pathlib import Path

import pytest
from tensorboard.backend.event_processing import event_accumulator
from tensorboard.plugins.hparams import plugin_data_pb2

from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.runs import read_json, read_metrics

from .sweep_helpers import write_graph
from .sweep_running import sweep_runner

def test_a_bad_learning_rate_is_pruned_and_stops_cleanly_with_a_checkpoint(tmp_path):
    events = []
    runner, study, folder = sweep_runner(tmp_path, {
        "name": "prune", "params": {"training.lr": "log:1e-7:1e-1"}, "strategy": "tpe", "trials": 2,
        "pruning": {"warmup_epochs": 0, "startup_trials": 1}, "epochs": 4})
    runner.callback = events.append
    study.enqueue_trial({"training.lr": 0.003})
    study.enqueue_trial({"training.lr": 1e-7})     # Adam barely moves: far below the median after epoch 1
    rows = runner.run()
    assert [r["state"] for r in rows] == ["complete", "pruned"], rows
    assert json.loads((folder / "results.json").read_text()) == rows
    good, pruned = rows
    assert good["value"] > 0.7 and good["best_epoch"] in (1, 2, 3, 4) and good["run"]
    assert pruned["pruned_at_epoch"] == 1 and pruned["value"] < good["value"]
    summary = read_json(Path(pruned["run"]) / "summary.json")
    assert summary["status"] == "stopped"
    assert summary["epochs"] <= pruned["pruned_at_epoch"] + 1        # exited within one epoch of the decision
    ckpt = load_checkpoint(pruned["run"])                              # a clean, loadable checkpoint
    assert ckpt.meta["epoch"] == summary["epochs"] and "fc1.weight" in ckpt.weights
    assert any(e["type"] == "trial_pruned" for e in events)
    assert len([e for e in events if e["type"] == "epoch_end" and e["trial"] == 0]) == 4

    # TensorBoard's own reader sees the epoch scalars (equal to metrics.csv) and the trial's hparams
    acc = event_accumulator.EventAccumulator(str(Path(good["run"]) / "tensorboard"))
    acc.Reload()
    tags = acc.Tags()["scalars"]
    assert {"loss/train", "loss/val", "accuracy/val", "lr", "hparams/val_accuracy"} <= set(tags)
    metrics = read_metrics(good["run"])
    assert [round(e.value, 4) for e in acc.Scalars("accuracy/val")] == [round(m["val_accuracy"], 4) for m in metrics]
    assert [e.step for e in acc.Scalars("loss/val")] == [m["step"] for m in metrics]
    assert acc.Scalars("hparams/val_accuracy")[0].value == pytest.approx(good["value"], rel=1e-6)
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
    assert info.hparams["training.lr"].number_value == pytest.approx(0.003)


def test_failed_trials_keep_the_reason(tmp_path):
    runner, study, folder = sweep_runner(tmp_path, {
        "name": "fail", "params": {"blocks.conv1.params.kernel_size": "choice:40,3"}, "strategy": "grid"},
        training={"dataset": "no-such-set"}, data_checked=True)   # past the data check: the trial's process fails
    rows = runner.run()
    by_kernel = {r["params"]["blocks.conv1.params.kernel_size"]: r for r in rows}
    assert {r["state"] for r in rows} == {"failed"}
    # refused by analysis before any process started: the diagnostic, no run folder
    assert by_kernel[40]["run"] is None and "conv1:" in by_kernel[40]["message"] and "40" in by_kernel[40]["message"]
    # the trial's own process failed: its message
    assert "no-such-set" in by_kernel[3]["message"]


def test_a_trial_with_every_core_measures_its_threads_and_shared_cores_are_fixed(monkeypatch, tmp_path):
    import queue as queue_module
    from layerloom.runtime.sweeps import coordinator
    from layerloom.runtime.sweeps.trial import TrialProcess
    monkeypatch.setattr(coordinator, "available_cores", lambda: 4)
    assert coordinator.trial_threads(1) == (4, True)        # one worker: the trial measures, as any run does
    assert coordinator.trial_threads(2) == (2, False)       # shared cores: a fixed share, workers x threads <= cores
    assert coordinator.trial_threads(4) == (1, False)
    assert coordinator.trial_threads(1, fixed=3) == (3, False)
    monkeypatch.setattr(coordinator, "available_cores", lambda: 1)
    assert coordinator.trial_threads(1) == (1, False)       # one core: nothing to choose
    proc = TrialProcess(0, tmp_path / "missing.loom.json", tmp_path / "runs", queue_module.Queue(), epochs=1,
                        threads=2, seed=0, measure_threads=True)
    try:
        args = list(proc.proc.args)
        assert args[args.index("--threads") + 1] == "0"     # `layerloom train --threads 0`: choose by measuring
    finally:
        proc.proc.kill()
        proc.proc.wait(timeout=60)


def test_a_trial_process_killed_by_a_signal_says_so(tmp_path):
    import queue

    from layerloom.runtime.sweeps.trial import TrialProcess
    graph = write_graph(tmp_path / "g.loom.json", training={"epochs": 5})
    events = queue.Queue()
    trial = TrialProcess(0, Path(graph), tmp_path / "runs", events, epochs=None, threads=1, seed=0)
    while events.get(timeout=120)[1]["type"] != "started":
        pass
    os.kill(trial.proc.pid, signal.SIGKILL)            # as the system's out-of-memory killer ends a process
    assert trial.wait(60) == -signal.SIGKILL
    last = trial.failure_text().splitlines()[-1]      # what `layerloom sweep` prints for a failed trial
    assert last == ("the training process was ended by SIGKILL: the system may have run out of memory; "
                    "run fewer workers or use a smaller batch size")
