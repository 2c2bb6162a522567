"""Which process trains a run folder: a live trainer's run cannot be resumed by a second one (two trainers
would write one folder), and a killed trainer's run can, even after its process id went to another process."""
import json
import os
import subprocess
import sys
import time

from layerloom.presets import preset_path
from layerloom.runtime.checkpoints import load_checkpoint
from layerloom.runtime.processes import OWNER, STARTED, process_started, trained_elsewhere
from layerloom.runtime.trainer import Trainer


def _start_training(out):
    """`layerloom train` on the MLP for many epochs of 64 digits; returns the process once it has written its
    first checkpoint, and the run folder."""
    proc = subprocess.Popen([sys.executable, "-m", "layerloom.app.main", "train", str(preset_path("mlp")),
                             "--epochs", "5000", "--data-option", "train_count=64",
                             "--out", str(out), "--events-json", "--no-tensorboard", "--threads", "1"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        if line.startswith("{") and json.loads(line).get("type") == "checkpoint":
            return proc, next(p for p in out.iterdir() if p.is_dir())
    proc.kill()
    raise AssertionError(f"no checkpoint came: {proc.stderr.read()[-2000:]}")


def test_a_live_trainers_run_is_refused_and_a_killed_ones_resumes(tmp_path):
    proc, run = _start_training(tmp_path / "runs")
    try:
        assert trained_elsewhere(run) == proc.pid
        events = []
        assert Trainer(None, {"max_steps": 1}, events.append, resume=str(run)).run() is None
        [failed] = [e for e in events if e["type"] == "failed"]
        assert failed["message"] == (f"{run.name} is being trained by process {proc.pid} now: stop it (or let it "
                                     "end) before resuming it")
        assert not (run / "summary.json").exists()          # the live run's files are left as they are
    finally:
        proc.kill()
        proc.wait(timeout=60)
    assert (run / OWNER).exists() and trained_elsewhere(run) is None     # killed: nobody to wait for
    step = load_checkpoint(run).meta["step"]
    events = []
    summary = Trainer(None, {"max_steps": step + 2}, events.append, resume=str(run)).run()
    assert summary is not None and summary["steps"] == step + 2 and summary["status"] == "finished"
    assert not (run / OWNER).exists()                        # the run ended: its trainer let go of it


def test_a_reused_process_id_is_not_the_trainer(tmp_path):
    """A killed trainer's id taken by a later process (in a container every start may get the same one)."""
    run = tmp_path / "run"
    run.mkdir()
    parent = os.getppid()
    began = process_started(parent)
    (run / OWNER).write_text(json.dumps({"pid": parent, "started": began}), encoding="utf-8")
    assert trained_elsewhere(run) == parent
    (run / OWNER).write_text(json.dumps({"pid": parent, "started": began - 3600}), encoding="utf-8")
    assert trained_elsewhere(run) is None
    (run / OWNER).write_text(json.dumps({"pid": os.getpid(), "started": STARTED}), encoding="utf-8")
    assert trained_elsewhere(run) is None                    # this process: its window knows its own run
    for cut in ('{"pid": 12', "", "[]", '{"pid": "x"}'):    # cut short by a kill, or spoilt
        (run / OWNER).write_text(cut, encoding="utf-8")
        assert trained_elsewhere(run) is None
