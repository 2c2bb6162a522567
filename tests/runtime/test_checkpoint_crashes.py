"""Kill -9 inside checkpointing, corrupt checkpoints and pointers: a resumed run has exactly one
metrics row per epoch, leftovers are cleaned, and every refusal says what is wrong."""
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from layerloom.runtime.checkpoints import CheckpointError, latest_checkpoint, load_checkpoint
from layerloom.runtime.export.source import ExportError, load_source
from layerloom.runtime.runs import read_metrics
from layerloom.runtime.trainer import Trainer

from .trainer_helpers import mnist_small, small_net, weights_equal

ROOT = Path(__file__).resolve().parents[2]
CFG = {"epochs": 3, "batch_size": 128}

# Training runs that each die (os._exit, like kill -9: nothing is flushed or cleaned) at one step of the
# second epoch's commit. One child process imports torch and Layerloom once, then forks a process for each
# run: every run starts in a process where nothing has trained yet, and dies there.
CHILDREN = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {root!r})
    import torch._dynamo                 # imported at an optimizer's first step: once here, not in every run
    import layerloom.runtime.checkpoints as checkpoints
    import layerloom.runtime.trainer as trainer
    from tests.runtime.trainer_helpers import mnist_small, small_net

    def die_at(where):
        if where == "metrics":
            original = trainer.append_metrics
            def append_then_die(run_dir, row):
                original(run_dir, row)
                if row["epoch"] == 2:
                    os._exit(9)
            trainer.append_metrics = append_then_die
        else:
            seen = []
            def step(name):
                seen.append(name)
                if name == where and seen.count(name) == 2:
                    os._exit(9)
            checkpoints._commit_step = step

    codes = {{}}
    for where, out in zip(sys.argv[1::2], sys.argv[2::2]):
        pid = os.fork()
        if pid == 0:
            die_at(where)
            trainer.Trainer(small_net(), {cfg!r}, None, runs_base=out, data=mnist_small(512, 128)).run()
            os._exit(0)
        codes[where] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    print(json.dumps(codes))
""").format(root=str(ROOT), cfg=CFG)
KILL_POINTS = ["metrics", "written", "replacing", "renamed", "pointed", "pruned"]


@pytest.fixture(scope="module")
def killed(tmp_path_factory):
    """For each kill point: the exit code of the run that died there, its runs folder, and the child's stderr."""
    base = tmp_path_factory.mktemp("killed")
    args = [a for where in KILL_POINTS for a in (where, str(base / where))]
    proc = subprocess.run([sys.executable, "-c", CHILDREN, *args], capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    codes = json.loads(proc.stdout.strip().splitlines()[-1])
    return {where: (codes[where], base / where, proc.stderr) for where in KILL_POINTS}


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
    t = Trainer(small_net(), CFG, None, runs_base=tmp_path_factory.mktemp("straight"), data=mnist_small(512, 128))
    t.run()
    return t


@pytest.mark.parametrize("where", KILL_POINTS)
def test_a_run_killed_while_committing_resumes_with_one_row_per_epoch(killed, where, straight):
    code, runs, stderr = killed[where]
    assert code == 9, stderr[-2000:]
    (run_dir,) = [p for p in runs.iterdir() if p.is_dir()]
    resumed = Trainer(None, None, None, resume=run_dir, data=mnist_small(512, 128))
    resumed.run()
    assert resumed.summary["status"] == "finished"
    assert [r["epoch"] for r in read_metrics(run_dir)] == [1, 2, 3]
    leftovers = [p.name for p in (run_dir / "checkpoints").iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
    # and the result is the uninterrupted run's, bit for bit
    assert weights_equal(dict(straight.model.state_dict()), dict(resumed.model.state_dict()))


def _one_epoch(tmp_path):
    t = Trainer(small_net(), {"epochs": 2, "batch_size": 128}, None, runs_base=tmp_path, data=mnist_small(256, 64))
    t.run()
    return t.run_dir


def test_latest_json_that_leaves_the_run_is_refused(tmp_path):
    run_dir = _one_epoch(tmp_path / "runs")
    ckpts = run_dir / "checkpoints"
    newest = latest_checkpoint(run_dir)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    for f in newest.iterdir():
        (elsewhere / f.name).write_bytes(f.read_bytes())
    for pointer in ("../../../elsewhere", str(elsewhere), "..", ".", ""):
        (ckpts / "latest.json").write_text(json.dumps({"checkpoint": pointer}))
        assert latest_checkpoint(run_dir) == newest, pointer


@pytest.mark.parametrize("garbage", ["", "{", "[]", '{"checkpoint": 7}', '{"checkpoint": "epoch-9999-step-0000001"}',
                                     "[" * 100_000, '{"checkpoint": "' + "x" * 100_000 + '"}', b"\xff\xfe{"])
def test_garbage_latest_json_falls_back_to_the_newest_complete_checkpoint(tmp_path, garbage):
    run_dir = _one_epoch(tmp_path)
    newest = latest_checkpoint(run_dir)
    pointer = run_dir / "checkpoints" / "latest.json"
    pointer.write_bytes(garbage) if isinstance(garbage, bytes) else pointer.write_text(garbage)
    (run_dir / "checkpoints" / "epoch-9999-step-9999999").mkdir()          # incomplete: not chosen
    assert latest_checkpoint(run_dir) == newest
    assert load_checkpoint(run_dir).meta["epoch"] == 2


def test_corrupt_checkpoints_say_so(tmp_path):
    run_dir = _one_epoch(tmp_path)
    ckpt = latest_checkpoint(run_dir)
    weights = ckpt / "model.safetensors"
    good = weights.read_bytes()
    weights.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(run_dir)
    with pytest.raises(Exception):     # the reference reader refuses it too
        load_file(str(weights))
    weights.write_bytes(good)
    meta = ckpt / "meta.json"
    for bad in ("[]", json.dumps({"epoch": 2}), "{"):
        meta.write_text(bad)
        with pytest.raises(ExportError, match="corrupt"):
            load_source(run_dir)


def test_pruning_old_checkpoints_leaves_other_folders_alone(tmp_path):
    from layerloom.runtime.checkpoints import save_checkpoint
    ckpts = tmp_path / "checkpoints"
    (ckpts / "notes").mkdir(parents=True)
    (ckpts / "notes" / "todo.txt").write_text("keep me")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "data.bin").write_bytes(b"1")
    os.symlink(elsewhere, ckpts / "epoch-0000-step-0000000")      # named like one, but a link
    for step in range(1, 5):
        save_checkpoint(ckpts, f"epoch-{step:04d}-step-{step:07d}", {"w": torch.zeros(2)}, {}, {"step": step}, keep=2)
    names = sorted(p.name for p in ckpts.iterdir())
    assert names == ["epoch-0000-step-0000000", "epoch-0003-step-0000003", "epoch-0004-step-0000004", "latest.json",
                     "notes"]
    assert (ckpts / "notes" / "todo.txt").read_text() == "keep me" and (elsewhere / "data.bin").exists()


# A run for each limit on file sizes, in a process of its own forked (as CHILDREN's) from one that imported
# torch and Layerloom once; each prints "LIMIT <limit> [summary, failure messages, run folder]".
FILE_LIMITS = textwrap.dedent("""
    import json, os, resource, signal, sys
    sys.path.insert(0, {root!r})
    import torch._dynamo                 # imported at an optimizer's first step: once here, not in every run
    from layerloom.runtime.trainer import Trainer
    from tests.runtime.trainer_helpers import mnist_small, small_net
    codes = {{}}
    for limit, base in zip(sys.argv[1::2], sys.argv[2::2]):
        pid = os.fork()
        if pid == 0:
            signal.alarm(240)            # a run that hangs ends itself (the test's timeout ends only the parent)
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)    # a write past the limit fails (EFBIG), as on a full disk
            resource.setrlimit(resource.RLIMIT_FSIZE, (int(limit), resource.getrlimit(resource.RLIMIT_FSIZE)[1]))
            events = []
            t = Trainer(small_net(), {{"epochs": 1, "batch_size": 128, "threads": 1}}, events.append,
                        runs_base=base, data=mnist_small(256, 128))
            result = [t.run(), [e.get("message") for e in events if e["type"] == "failed"], str(t.run_dir)]
            print("LIMIT", limit, json.dumps(result), flush=True)
            os._exit(0)
        codes[limit] = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    assert set(codes.values()) == {{0}}, codes         # every run's exit code, not only the first that failed
""").format(root=str(ROOT))
LIMITS = {8_000: "the file is larger than this file system or a limit allows: choose another place",  # safetensors
          40_000: "it could not be written (is the disk full, or a limit on file sizes reached?)"}   # torch.save


@pytest.fixture(scope="module")
def refused(tmp_path_factory):
    """For each limit: the line its run printed."""
    base = tmp_path_factory.mktemp("refused")
    args = [a for limit in LIMITS for a in (str(limit), str(base / str(limit) / "runs"))]
    out = subprocess.run([sys.executable, "-c", FILE_LIMITS, *args], capture_output=True, text=True, timeout=300,
                         cwd=ROOT)
    assert out.returncode == 0, out.stderr[-3000:]
    return dict(line.split(" ", 2)[1:] for line in out.stdout.splitlines() if line.startswith("LIMIT "))


@pytest.mark.parametrize("limit", LIMITS)
def test_a_checkpoint_the_disk_refuses_fails_the_run_in_words_and_leaves_no_half_written_folder(refused, limit):
    words = LIMITS[limit]
    summary, [message], run_dir = json.loads(refused[str(limit)])
    checkpoints = Path(run_dir) / "checkpoints"
    assert summary is None
    assert message.startswith("training stopped at step ") and f"cannot use {checkpoints / 'epoch-'}" in message
    assert message.endswith(words), message
    assert [p.name for p in checkpoints.iterdir()] == []          # no .tmp folder, no checkpoint
