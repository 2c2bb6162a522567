"""A sweep resumes where it stopped: after its coordinator is killed (SIGKILL), after Stop, and after a second
Ctrl-C ends it at once; nothing of the grid is lost or run twice."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from layerloom.app.main import main
from layerloom.runtime.runs import read_json
from layerloom.runtime.sweeps.study import open_storage

from .sweep_helpers import write_graph, write_stuck_trial
from .sweep_running import CLI, result_rows, running_trial, sweep_runner, wait_for


def test_sweep_resumes_after_the_coordinator_is_killed(tmp_path):
    # batches of 8: 500 steps an epoch, so the trial is still training when the kill below reaches it (with
    # batches of 256 its two epochs took a fraction of a second, and it had sometimes completed by then)
    graph = write_graph(tmp_path / "g.loom.json", {"name": "kill", "params": {"training.lr": "choice:0.003,0.01"},
                                                   "strategy": "grid", "epochs": 2}, {"batch_size": 8})
    out = tmp_path / "sweeps"
    cmd = ["sweep", graph, "--workers", "1", "--out", str(out)]
    proc = subprocess.Popen(CLI + cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        row = wait_for(lambda: running_trial(out / "kill"))
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    # the orphaned trial gets SIGINT when its coordinator dies and stops cleanly
    summary_path = Path(row["run"]) / "summary.json"
    summary = wait_for(lambda: summary_path.exists() and read_json(summary_path), 120)
    assert summary["status"] in ("stopped", "finished")
    assert main(cmd) == 0
    rows = json.loads((out / "kill" / "results.json").read_text())
    first = rows[0]
    assert first["number"] == row["number"] and first["state"] == "failed" and "interrupted" in first["message"]
    done = [r for r in rows if r["state"] == "complete"]
    assert sorted(r["params"]["training.lr"] for r in done) == [0.003, 0.01]   # the grid, nothing lost or doubled
    assert len(rows) == 3


def test_a_stopped_sweep_runs_the_stopped_trials_values_when_it_resumes(tmp_path):
    import threading
    sweep = {"name": "stop", "params": {"training.lr": "choice:0.003,0.01"}, "strategy": "grid", "epochs": 3}
    runner, study, folder = sweep_runner(tmp_path, sweep)
    frozen, errors = threading.Event(), []

    def freeze_at_start(event):
        """The trial's three epochs take a fraction of a second: it is held (SIGSTOP) where its started event
        finds it, from the coordinator's own thread, so that the stop below reaches it with its epochs to go
        (Stop lets it go on, SIGCONT, and asks it to stop, SIGINT). The coordinator ignores a callback's
        errors: they are kept for the test to raise."""
        try:
            if event["type"] == "started" and not frozen.is_set():
                runner.running[event["trial"]].proc.pause(True)
                frozen.set()
        except BaseException as exc:
            errors.append(exc)
            frozen.set()

    runner.callback = freeze_at_start
    thread = threading.Thread(target=runner.run)
    thread.start()
    try:
        assert frozen.wait(120)
        if errors:
            raise errors[0]
        row = wait_for(lambda: running_trial(folder))
    finally:
        runner.stop()                                   # the Stop button, or Ctrl-C in `layerloom sweep`
        thread.join(120)
    (stopped,) = [r for r in json.loads((folder / "results.json").read_text()) if r["number"] == row["number"]]
    if stopped["state"] == "complete":   # the coordinator read the started event only after the trial had ended
        pytest.skip("the coordinator read the trial's started event after its last epoch: nothing to stop")
    assert stopped["state"] == "failed" and "tried again when the sweep resumes" in stopped["message"]
    again, study, _ = sweep_runner(tmp_path, sweep)          # the same sweep started again
    again.run()
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["training.lr"] for t in done) == [0.003, 0.01]   # Optuna's record: the whole grid


def test_a_second_ctrl_c_ends_the_sweep_at_once_and_it_resumes(tmp_path):
    """The first Ctrl-C asks every trial to stop cleanly; a trial that does not (stuck in a read) would keep
    the sweep waiting for ever. The second Ctrl-C ends it now; the study stays consistent and resumes."""
    import optuna
    stuck = write_stuck_trial(tmp_path / "stuck_trial.py")
    graph = write_graph(tmp_path / "g.loom.json", {"name": "abort", "params": {"training.lr": "choice:0.003"},
                                                   "strategy": "grid"},
                        {"max_steps": 2, "dataset_options": {"train_count": 512}})
    out = tmp_path / "sweeps"
    cmd = ["sweep", graph, "--workers", "1", "--out", str(out)]
    script = ("import sys\nfrom layerloom.runtime.sweeps import trial\n"
              f"trial.TRAIN = [{str(stuck)!r}]\n"
              f"from layerloom.app.main import main\nsys.exit(main({cmd!r}))\n")
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: any(r["state"] == "running" for r in result_rows(out / "abort")), 120)
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(1.0)                              # two key presses, not one signal the system merges
        os.kill(proc.pid, signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
    assert proc.returncode == 130, stderr
    assert "Ctrl-C again to abort now" in stderr and "Aborting" in stderr, stderr
    row, queued = result_rows(out / "abort")              # the aborted trial, and its values queued again
    assert queued["state"] == "waiting"
    assert row["state"] == "failed" and row["message"].startswith("aborted: ") and "tried again" in row["message"]
    assert "aborted" in stdout                        # the table's failure line
    assert main(cmd) == 0                             # resumes with a real trial: the aborted values run again
    study = optuna.load_study(study_name="abort", storage=open_storage(None, out / "abort"))
    states = [(t.state.name, t.params["training.lr"], bool(t.user_attrs.get("interrupted"))) for t in study.trials]
    assert states == [("FAIL", 0.003, True), ("COMPLETE", 0.003, False)]
