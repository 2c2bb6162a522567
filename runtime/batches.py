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

import os
import re

import torch

from .threads import available_cores

MAX_WORKERS = 8


def loader_workers(cores: int | None = None) -> int:
    """Worker processes for a set read from disk: none on one core (they would only compete with
    training), else one core is left to the training steps (at most MAX_WORKERS).
    LAYERLOOM_LOADER_WORKERS fixes the number."""
    fixed = os.environ.get("LAYERLOOM_LOADER_WORKERS", "").strip()
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
    """A sample could not be read; the message is one sentence, without a worker's traceback."""


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
                raise DataReadError(_sentence(exc)) from None
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
                raise DataReadError(_sentence(exc)) from None
            yield x, y
    finally:
        del iterator                          # an epoch left early (stop, max_steps) ends its workers
