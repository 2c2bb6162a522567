"""A run whose training data stops being readable says what happened and how to go on: a data-loading worker
killed (most often for lack of memory) or a file that disappeared while training, the checkpoint that is kept,
and the command that resumes the run (which then works, once the cause is gone)."""
import os
import signal

import pytest
import torch

from layerloom.runtime.data import DataBundle
from layerloom.runtime.trainer import Trainer

from .test_run_data_classes import pictures, tiny_net
from .trainer_helpers import Recorder, mnist_small, small_net


class KillsItsWorker(torch.utils.data.Dataset):
    """Training digits read one by one, as from disk (so worker processes read them). In a worker, once `flag`
    exists, reading a sample kills that process the way the system's out-of-memory killer does (SIGKILL)."""

    def __init__(self, split, flag):
        self.split, self.flag = split, str(flag)

    def __len__(self):
        return len(self.split)

    def __getitem__(self, i):
        if torch.utils.data.get_worker_info() is not None and os.path.exists(self.flag):
            os.kill(os.getpid(), signal.SIGKILL)
        return self.split[i]


def after_first_checkpoint(rec, action):
    def callback(event):
        rec(event)
        if event["type"] == "checkpoint" and event["epoch"] == 1:
            action()
    return callback


def test_a_killed_worker_says_memory_what_is_kept_and_how_to_resume(tmp_path):
    flag = tmp_path / "kill"
    small = mnist_small(128, 64)
    bundle = DataBundle(small.info, KillsItsWorker(small.train, flag), small.val)
    rec = Recorder()
    t = Trainer(small_net(dropout=False), {"epochs": 3, "batch_size": 32, "threads": 1}, after_first_checkpoint(
        rec, flag.touch), runs_base=tmp_path / "runs", data=bundle)
    t.loader_workers = 1
    assert t.run() is None
    message = rec.of("failed")[0]["message"]
    assert "reading the training data failed: a data-loading worker process " in message, message
    killed = "was killed (signal: Killed), most often by the system when memory runs out"    # torch's SIGCHLD handler
    ended = "ended unexpectedly, most often because the system killed it when memory ran out"   # its check of workers
    assert (killed in message or ended in message) and "LAYERLOOM_LOADER_WORKERS=0" in message
    assert f"the last checkpoint ({rec.of('checkpoint')[-1]['path'].split('/')[-1]}) is kept" in message
    assert f"resume with layerloom train --resume {t.run_dir}" in message
    assert "Check the data set settings" not in message and "\n" not in message


@pytest.mark.parametrize("workers", [0, 1])
def test_a_file_deleted_while_training_says_to_put_it_back_and_resume(tmp_path, workers):
    folder = pictures(tmp_path / "pictures")
    kept = {p: p.read_bytes() for p in (folder / "c").iterdir()}

    def delete():
        for p in kept:
            p.unlink()

    rec = Recorder()
    config = {"dataset": "image-folder", "dataset_options": {"path": str(folder)}, "epochs": 3, "batch_size": 4,
              "threads": 1}
    t = Trainer(tiny_net(), config, after_first_checkpoint(rec, delete), runs_base=tmp_path / "runs")
    t.loader_workers = workers
    assert t.run() is None
    message = rec.of("failed")[0]["message"]
    assert "reading the training data failed: the file " in message and "disappeared while training" in message
    assert str(folder / "c") in message and "is kept" in message, message
    assert f"Put it back and resume with layerloom train --resume {t.run_dir}" in message
    assert "remove or replace it" not in message and "Check the data set settings" not in message
    for p, data in kept.items():                             # put back: the run goes on where it stopped
        p.write_bytes(data)
    rec = Recorder()
    resumed = Trainer(None, {}, rec, resume=t.run_dir)
    resumed.loader_workers = workers
    assert resumed.run()["status"] == "finished" and rec.of("started")[0]["start_step"] > 0
