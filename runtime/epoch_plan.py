"""How a run walks through its training set: the batch it really uses and the steps of an epoch.

The trainer, the memory estimate and the memory check share these, so the estimate is made at the
batch the run trains with (a batch size larger than the training set is capped at the set's size).
"""
from __future__ import annotations

import math


def run_batch(batch_size: int, num_train: int | None) -> int:
    """The batch a run with `batch_size` trains with on `num_train` training samples (None: not known yet)."""
    return min(batch_size, num_train) if num_train else batch_size


def epoch_steps(num_train: int, batch: int) -> int:
    """Steps in one epoch of `num_train` samples at `batch`: the last batch is the rest, never a batch of one
    (that one sample joins the batch before it)."""
    return num_train // batch if num_train % batch == 1 else math.ceil(num_train / batch)
