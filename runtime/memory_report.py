"""The training-memory estimate for a run's settings, in the words the app shows, and whether it fits.

    est = settings_estimate(doc, {"batch_size": 64, "optimizer": "adam", "device": "auto"})
    headline(est)   # "Training memory at batch 64 with Adam on CPU: 4.6 MiB (weights 0.2 MiB, ...)"; GiB from a GiB
    check = fit_check(est)   # FitCheck(free_bytes, fits, largest_batch, warning)

The figures are `runtime/memory.py`'s (the same estimate `layerloom summary --batch-size N --json`
reports as `training_memory`); this module only chooses the arguments from the training settings,
words the result and compares it with the memory free on the device now.
"""
from __future__ import annotations

from dataclasses import dataclass

from .memory import CATEGORY_KEYS, MIB, MemoryEstimate, estimate_training_memory
from .config import MAX_BATCH
from .epoch_plan import run_batch
from .memory_fit import available_bytes, largest_batch

GIB = 1024 * MIB
OPTIMIZER_NAMES = {"adam": "Adam", "adamw": "AdamW", "sgd": "SGD with momentum", "sgd-nomomentum": "SGD"}
DEVICE_NAMES = {"cpu": "CPU", "cuda": "CUDA", "mps": "MPS"}


def size_text(n: int) -> str:
    """A byte count as people read it: MiB below a GiB, GiB from there ("240,704.0 MiB" is "235.06 GiB")."""
    return f"{n / GIB:,.2f} GiB" if n >= GIB else f"{n / MIB:,.1f} MiB"


def resolve_device(name: str) -> str:
    """The device a run with `device: name` trains on ("auto": CUDA, then MPS, then the CPU)."""
    from .devices import resolve
    return resolve(name)


def estimate_arguments(config: dict, train_size: int | None = None) -> tuple[int, str, str]:
    """(batch size, optimizer, device) of the estimate for training settings `config` (a TrainConfig
    dict; missing keys take TrainConfig's defaults). `train_size`: the training set's size when known; the
    batch is then the one the run trains with (a batch size above it is capped, as the trainer does)."""
    from .config import TrainConfig

    cfg = TrainConfig.from_dict({k: v for k, v in config.items() if k in TrainConfig().to_dict()})
    optimizer = cfg.optimizer
    if optimizer == "sgd" and not cfg.momentum:
        optimizer = "sgd-nomomentum"
    return run_batch(cfg.batch_size, train_size), optimizer, resolve_device(cfg.device)


def settings_estimate(doc, config: dict, analysis=None, data: dict | None = None,
                      train_size: int | None = None) -> MemoryEstimate:
    """The estimate for training `doc` with settings `config` on a training set of `train_size` samples (None:
    not known; the configured batch is used) (raises MemoryEstimateError or ConfigError)."""
    batch, optimizer, device = estimate_arguments(config, train_size)
    return estimate_training_memory(doc, batch, optimizer, device, analysis=analysis, data=data,
                                    loss=config.get("loss", "cross_entropy"))


def device_name(device: str) -> str:
    kind, _, index = str(device).partition(":")
    return DEVICE_NAMES.get(kind, kind) + (f" {index}" if index else "")


def headline(est: MemoryEstimate, breakdown: bool = True) -> str:
    """One line: the peak and what it is made of (the parts add up to the peak; `breakdown=False`: the peak only)."""
    c = est.categories
    parts = [("weights", c.get("parameters", 0) + c.get("buffers", 0)), ("gradients", c.get("gradients", 0)),
             ("optimizer state", c.get("optimizer_state", 0)), ("activations", c.get("activations", 0)),
             ("temporaries", c.get("temporaries", 0)), ("inputs", c.get("inputs", 0))]
    words = ", ".join(f"{name} {size_text(n)}" for name, n in parts if n)
    line = (f"Training memory at batch {est.batch_size} with {OPTIMIZER_NAMES.get(est.optimizer, est.optimizer)} "
            f"on {device_name(est.device)}: {size_text(est.peak_bytes)}" + (f" ({words})" if breakdown else ""))
    if est.overheads:
        line += f"; {size_text(est.device_bytes)} with the CUDA context and a reserve"
    if est.method != "memtracker":
        line += " (estimated analytically: activations are approximate)"
    return line


@dataclass
class FitCheck:
    free_bytes: int | None          # free on the device now (None: not known)
    fits: bool                      # True also when nothing is known
    largest_batch: int | None = None
    warning: str = ""               # a sentence for the readiness check when it does not fit


def fit_check(est: MemoryEstimate, doc=None, analysis=None, free: int | None = None) -> FitCheck:
    """Whether the estimate fits in the memory free on its device now (`free` overrides the measurement:
    CPU: the system's available memory; CUDA: `torch.cuda.mem_get_info`). When it does not and `doc` is
    given, the largest batch that fits is searched for (a few more estimates)."""
    free = available_bytes(est.device) if free is None else free
    if free is None or est.device_bytes <= free:
        return FitCheck(free, True)
    best = None
    if doc is not None:
        best = largest_batch(doc, est.optimizer, est.device, budget=free, analysis=analysis)
    advice = (f"lower the batch size to {best:,} or less" if best else
              "not even a batch of one fits: make the network smaller")
    warning = (f"Training memory at batch {est.batch_size} (about {size_text(est.device_bytes)}) is more than the "
               f"{size_text(free)} free on the {device_name(est.device)} now: {advice}, or free some memory.")
    return FitCheck(free, False, best, warning)


def memory_lines(est: MemoryEstimate, fits: int | None = None, asked: bool = False) -> list[str]:
    """The estimate in words, for the summary table and the readiness check. `fits`: the largest batch that fits
    (largest_batch); `asked`: it was asked for, so a None says why there is none."""
    parts = ", ".join(f"{k.replace('_', ' ')} {size_text(est.categories.get(k, 0))}" for k in CATEGORY_KEYS
                      if est.categories.get(k, 0))
    lines = [f"Training memory (batch {est.batch_size}, {est.optimizer}, {est.device}): "
             f"peak {size_text(est.peak_bytes)} ({parts})"]
    if est.overheads:
        lines.append(f"  on the device with CUDA context and reserve: {size_text(est.device_bytes)}")
    if fits is not None:
        cap = " (the largest a run takes: more would fit)" if fits >= MAX_BATCH else ""
        lines.append(f"  largest batch that fits in the memory available now: {fits:,}{cap}")
    elif asked:
        free = available_bytes(est.device)
        lines.append("  largest batch that fits: none known, " + (
            f"this machine has no {device_name(est.device)} device to ask how much memory is free" if free is None else
            f"not even a batch of 1 fits in the {size_text(free)} free on the {device_name(est.device)} now"))
    if est.method != "memtracker":
        lines.append("  (estimated analytically: activations are approximate)")
    return lines
