"""Batches in the order the trainer draws them, read the fastest way each kind of data set allows.

Sets held in memory (they have `batch(idx)`) are batched by indexing: far cheaper than a DataLoader
for them. Sets that read and decode every sample from disk (an image folder) go through a torch
DataLoader whose worker processes decode the next batches while the current one trains; its batch
sampler is the trainer's own list of index batches, so the batches, their order and their contents
are exactly what reading the samples one by one in the training thread gives.

    for x, y in epoch_batches(split, [perm[0:64], perm[64:128], ...]):
        ...
"""
from __future__ import annotations

import errno
import os
import re

import torch

from layerloom.graph.quoting import shown

from .threads import available_cores

MAX_WORKERS = 8
WORKERS_VARIABLE = "LAYERLOOM_LOADER_WORKERS"      # fixes the number of worker processes (0: none)


def loader_workers(cores: int | None = None) -> int:
    """Worker processes for a set read from disk: none on one core (they would only compete with
    training), else one core is left to the training steps (at most MAX_WORKERS).
    LAYERLOOM_LOADER_WORKERS fixes the number."""
    fixed = os.environ.get(WORKERS_VARIABLE, "").strip()
    if fixed.isdigit():
        return int(fixed)
    cores = cores or available_cores()
    return 0 if cores <= 1 else max(1, min(MAX_WORKERS, cores - 1))


def reads_from_disk(split) -> bool:
    """Whether `split` gets each sample by reading it (no `batch(idx)`: not held in memory)."""
    return not hasattr(split, "batch")


def stack_samples(items) -> tuple[torch.Tensor, torch.Tensor]:
    """[(x, label), ...] -> (x stacked [B, ...], int64 labels [B])."""
    x = torch.stack([a for a, _ in items])
    y = torch.as_tensor([int(b) for _, b in items], dtype=torch.int64)
    return x, y


def gather(split, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Samples `idx` of `split`, in the training thread."""
    if hasattr(split, "batch"):
        return split.batch(idx.to(split.labels.device) if hasattr(split, "labels") else idx)
    return stack_samples([split[int(i)] for i in idx])


class DataReadError(Exception):
    """A sample could not be read; the message is one sentence, without a worker's traceback. `cause` says
    what is known of why: WORKER_KILLED (a worker process died: usually the system ran out of memory and
    killed it), FILE_GONE (a file listed when the set loaded is not there now: `path`), or None."""

    def __init__(self, text: str, cause: str | None = None, path: str | None = None):
        super().__init__(text)
        self.cause, self.path = cause, path


WORKER_KILLED, FILE_GONE = "worker killed", "file gone"


def _sentence(exc: BaseException) -> str:
    """The error as one sentence: a worker's last line without its module path ("OSError: ..."), and
    Layerloom's own DataError (already a sentence for a person) without a class name at all."""
    name, text = type(exc).__name__, str(exc).strip()
    if "Original Traceback" in text:          # re-raised from a worker: its last line names the error it raised
        text = text.splitlines()[-1].strip()
        named = re.match(r"([A-Za-z_][\w.]*): (.*)", text)
        if named:
            name, text = named.group(1).rsplit(".", 1)[-1], named.group(2)
    return text if name == "DataError" else f"{name}: {text}"


def worker_died(exc: BaseException) -> bool:
    """Whether `exc` is torch's word that a DataLoader worker process died. In the main thread torch's SIGCHLD
    handler raises it wherever the loop is (a training step, a checkpoint), not only where a batch is read."""
    return isinstance(exc, RuntimeError) and re.search(r"DataLoader worker \(pid", str(exc)) is not None


def read_error(exc: BaseException) -> DataReadError:
    """`exc`, raised while reading samples (in this thread or a worker), as a DataReadError with its cause."""
    text = _sentence(exc)
    if worker_died(exc):
        return DataReadError(text, WORKER_KILLED)
    chain, gone = exc, None
    while chain is not None and gone is None:           # read in this thread: the OSError behind the DataError
        gone = chain if isinstance(chain, FileNotFoundError) else None
        chain = chain.__cause__ or chain.__context__
    if gone is not None:
        return DataReadError(text, FILE_GONE, gone.filename and str(gone.filename))
    named = re.search(rf"\[Errno {errno.ENOENT}\][^:]*: (['\"])(.+?)\1", str(exc))   # said by a worker
    if named or f"[Errno {errno.ENOENT}]" in str(exc):
        return DataReadError(text, FILE_GONE, named.group(2) if named else None)
    return DataReadError(text)


def read_failure(exc: DataReadError, step: int, kept: str, run_dir, resumable: bool) -> str:
    """The message of a training run that stopped because reading its training data failed at `step`: what
    happened, what is left (`kept`: the last checkpoint, or that there is none; `resumable`: whether there is
    one) and how to go on."""
    resume = f"layerloom train --resume {shown(str(run_dir), 200)}"
    if exc.cause == WORKER_KILLED:
        signal = re.search(r"killed by signal: ([^.]+)", str(exc))
        how = (f"was killed (signal: {signal.group(1)}), most often by the system when memory runs out" if signal else
               "ended unexpectedly, most often because the system killed it when memory ran out")
        return (f"step {step}: reading the training data failed: a data-loading worker process {how}; {kept}. "
                "Free some memory, then "
                f"{'resume with ' + resume if resumable else 'train again'}; with {WORKERS_VARIABLE}=0 set, the "
                "training process reads the data itself (slower, but no worker processes to run out of memory).")
    if exc.cause == FILE_GONE:
        what = f"the file {shown(exc.path, 300)}" if exc.path else f"a file of the data set ({exc})"
        return (f"step {step}: reading the training data failed: {what} disappeared while training; {kept}. "
                + (f"Put it back and resume with {resume}; without it the training set has fewer samples and the "
                   f"run cannot go on where it stopped, so start a new run (--init-from {shown(str(run_dir), 200)} "
                   "starts from its weights)." if resumable else
                   "Put it back, or leave it out of the data set, and train again."))
    return f"step {step}: reading the training data failed ({exc}). Check the data set settings."


def epoch_batches(split, batches: list[torch.Tensor], workers: int | None = None):
    """(x, y) for each index batch of `batches`, in order. `workers` (default `loader_workers()`)
    worker processes read sets from disk; in-memory sets are indexed in the calling thread."""
    if not batches:
        return
    workers = loader_workers() if workers is None else workers
    if not reads_from_disk(split) or workers <= 0:
        for idx in batches:
            try:
                yield gather(split, idx)
            except Exception as exc:
                raise read_error(exc) from None
        return
    from torch.utils.data import DataLoader

    loader = DataLoader(split, batch_sampler=[idx.tolist() for idx in batches], num_workers=workers,
                        collate_fn=stack_samples, prefetch_factor=2,
                        generator=torch.Generator().manual_seed(0))   # leaves the global RNG (dropout) alone
    iterator = iter(loader)
    try:
        while True:
            try:
                x, y = next(iterator)
            except StopIteration:
                return
            except Exception as exc:
                raise read_error(exc) from None
            yield x, y
    finally:
        del iterator                          # an epoch left early (stop, max_steps) ends its workers
