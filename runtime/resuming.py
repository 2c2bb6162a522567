"""Where a resumed run picks up: its checkpoint's state restored, and the checks that it can go on.

A checkpoint records the position in the epoch (`step_in_epoch`) along the epoch's order, which is
drawn from the saved generator over the training set's size and cut into batches of the run's batch.
So it records that size (`num_train`) and batch (`batch`) too: a set with images added or removed since
would put the position elsewhere (or past the end), and such a resume is refused before it trains. So is
one over a data set whose classes changed since (`class_names`: a class folder added, removed or renamed).
"""
from __future__ import annotations

import torch

from layerloom.graph import rng

from .config import NUMBERS, TrainConfig
from .evaluation import classes_problem

LR_RANGE = NUMBERS["lr"][:2]       # what TrainConfig accepts for lr


class ResumeRefused(Exception):
    """The run cannot go on from its checkpoint; the message says why and what to do. The run's files are left
    as they are (it can be resumed once the cause is gone)."""


def position_problem(meta: dict, num_train: int, batch: int, steps_per_epoch: int) -> str | None:
    """Why the checkpoint's position in the epoch does not fit the training set now, or None."""
    what = "start a new run (it can start from this run's weights: Initialise Weights From… or --init-from)"
    saved = meta.get("num_train")
    if isinstance(saved, int) and saved != num_train:
        return (f"the training set has {num_train:,} samples now and had {saved:,} when the run stopped (samples were "
                f"{'added' if num_train > saved else 'removed'}), so its epochs would not go on where they stopped: "
                f"put the data set back as it was to resume, or {what}")
    saved_batch = meta.get("batch")
    if isinstance(saved_batch, int) and saved_batch != batch:
        return (f"the run trained with batches of {saved_batch:,} and would go on with batches of {batch:,}, so its "
                f"epochs would not go on where they stopped: resume it with its own batch size, or {what}")
    if meta.get("step_in_epoch", 0) > steps_per_epoch:       # (== : stopped during the epoch's validation)
        return (f"the run stopped at step {meta['step_in_epoch'] + 1:,} of an epoch, and an epoch of the training set "
                f"now has {steps_per_epoch:,} steps (its data set changed since): put the data set back as it was to "
                f"resume, or {what}")
    return None


def classes_refusal(meta: dict, info) -> str | None:
    """Why the run cannot go on over the data set `info` describes because its classes changed since the run
    trained (its checkpoint's `class_names`), or None. Sets without class names pass."""
    changed = classes_problem(meta.get("class_names"), info.class_names, info.name)
    if changed is None:
        return None
    return (f"{changed}, so the run would go on learning other classes than it started with: put the data set back "
            "as it was to resume, or train a new run on it")


def configured_lr(optimizer, schedule: str) -> float:
    """The run's learning-rate setting as the optimizer holds it now: the rate itself without a schedule, the rate a
    schedule starts from (one-cycle: its peak). A rate changed while paused scales these (optimization.change_lr)."""
    group = optimizer.param_groups[0]
    key = {"none": "lr", "onecycle": "max_lr"}.get(schedule, "initial_lr")
    value = float(group.get(key, group["lr"]))
    return min(max(value, LR_RANGE[0]), LR_RANGE[1])


def restore(trainer, resume, optimizer, scheduler, scaler, gen) -> tuple[int, int, int]:
    """Load the checkpoint's weights and states into the run; returns (step, epoch, step in the epoch). The
    config's lr becomes the one the optimizer trains with (a rate changed while paused, before the run stopped)."""
    trainer.model.load_state_dict({k: v.to(trainer.device) for k, v in resume.weights.items()})
    st = resume.state
    optimizer.load_state_dict(st["optimizer"])
    if scheduler is not None and st.get("scheduler"):
        scheduler.load_state_dict(st["scheduler"])
    if st.get("scaler"):
        scaler.load_state_dict(st["scaler"])
    gen.set_state(st["epoch_generator"])
    trainer._stream = rng.Stream(state=st["rng"])
    if trainer.device.type == "cuda" and st.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(st["cuda_rng"])
    cfg: TrainConfig = trainer.config
    cfg.lr = configured_lr(optimizer, cfg.schedule)
    return resume.meta["step"], resume.meta["epoch"], resume.meta["step_in_epoch"]
