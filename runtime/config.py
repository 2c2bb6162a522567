"""Training configuration: defaults, the graph file's `training` section, and overrides.

`TrainConfig.from_sources(graph.training, overrides)` validates every value and raises ConfigError
with a sentence that names the setting and what it accepts.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import Any

OPTIMIZERS = ("sgd", "adam", "adamw")
SCHEDULES = ("none", "step", "cosine", "onecycle")
LOSSES = ("cross_entropy", "mse")
DEVICES = ("auto", "cpu", "cuda", "mps")


class ConfigError(ValueError):
    """A training setting that cannot be used; the message says which and what fits."""


MAX_BATCH = 65_536        # the largest batch a run takes (and so the largest one worth estimating)

# what validate() accepts for each number: (lowest, highest, whole numbers only); editors take their bounds from here
NUMBERS = {"lr": (1e-8, 10.0, False), "momentum": (0.0, 0.999, False), "weight_decay": (0.0, 1.0, False),
           "step_size": (0, 10_000, True), "gamma": (1e-4, 1.0, False), "batch_size": (1, MAX_BATCH, True),
           "epochs": (1, 100_000, True), "max_steps": (0, 10**9, True), "grad_clip": (0.0, 1e6, False),
           "seed": (0, 2**31 - 1, True), "threads": (0, 256, True), "temperature": (0.05, 100.0, False),
           "alpha": (0.0, 1.0, False)}


def _figure(x: float) -> str:
    """A bound or a value as people read it: whole numbers in full (2,147,483,647, not 2.14748e+09)."""
    return f"{int(x):,}" if float(x).is_integer() and abs(x) < 1e15 else f"{x:g}"


@dataclass
class TrainConfig:
    dataset: str = "mnist-sample"
    dataset_options: dict = field(default_factory=dict)
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9          # SGD only
    weight_decay: float = 0.0
    schedule: str = "none"
    step_size: int = 0             # "step" schedule: epochs between decays (0: a third of the run)
    gamma: float = 0.1             # "step" schedule: decay factor
    batch_size: int = 64
    epochs: int = 5
    max_steps: int = 0             # stop after this many steps in total (0: no limit)
    loss: str = "cross_entropy"
    grad_clip: float = 0.0         # max gradient norm (0: off)
    seed: int = 0
    device: str = "auto"
    amp: bool = False              # mixed precision, used on CUDA only
    augment: dict = field(default_factory=dict)
    normalize: bool = True
    threads: int = 0               # torch intra-op threads (0: Layerloom's measured choice)
    init_from: str = ""            # start from these weights: a run, checkpoint, .safetensors/.pt, torchvision:NAME
    teacher: str = ""              # distil from this trained run (see distillation.py); "" for none. A run
    #                                stores it absolute (distillation.teacher_path), so it is found from any folder
    temperature: float = 4.0       # distillation: softens teacher and student outputs
    alpha: float = 0.9             # distillation: weight of the teacher's term (1 - alpha: the ordinary loss)

    @classmethod
    def from_sources(cls, *sources: dict | None) -> "TrainConfig":
        """Later sources override earlier ones; None values in a source are ignored. A source that
        names another data set without giving its options starts from that set's defaults (the
        earlier options belong to the earlier set)."""
        merged: dict[str, Any] = {}
        for src in sources:
            if not src:
                continue
            if not isinstance(src, dict):
                raise ConfigError("training settings must be a JSON object")
            values = {k: v for k, v in src.items() if v is not None}
            if values.get("dataset", merged.get("dataset")) != merged.get("dataset", values.get("dataset")) \
                    and "dataset_options" not in values:
                merged.pop("dataset_options", None)
            merged.update(values)
        return cls.from_dict(merged)

    @classmethod
    def from_dict(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown training setting {', '.join(unknown)}; the settings are "
                              f"{', '.join(sorted(known))}")
        cfg = cls(**{k: v for k, v in data.items()})
        cfg.validate()
        return cfg

    def to_dict(self) -> dict:
        return asdict(self)

    def validate(self) -> None:
        def number(name):
            low, high, integer = NUMBERS[name]
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
                raise ConfigError(f"{name} must be a number, not {v!r}")
            if integer and int(v) != v:
                raise ConfigError(f"{name} must be a whole number, not {v!r}")
            if not low <= v <= high:
                raise ConfigError(f"{name} must be between {_figure(low)} and {_figure(high)}; got {_figure(v)}")
            setattr(self, name, int(v) if integer else float(v))

        def choice(name, options):
            v = getattr(self, name)
            if isinstance(v, str):
                v = v.lower().replace("-", "_") if name == "loss" else v.lower().replace("-", "").replace("_", "")
                setattr(self, name, v)
            if v not in options:
                raise ConfigError(f"{name} must be one of {', '.join(options)}; got {v!r}")

        if not isinstance(self.dataset, str) or not self.dataset:
            raise ConfigError("dataset must be the name of a data set, e.g. \"mnist-sample\"")
        for name in ("dataset_options", "augment"):
            if not isinstance(getattr(self, name), dict):
                raise ConfigError(f"{name} must be an object of settings")
        choice("optimizer", OPTIMIZERS)
        choice("schedule", SCHEDULES)
        choice("loss", LOSSES)
        choice("device", DEVICES)
        for name in ("lr", "momentum", "weight_decay", "step_size", "gamma", "batch_size", "epochs", "max_steps",
                     "grad_clip", "seed", "threads"):
            number(name)
        if not isinstance(self.init_from, str) or len(self.init_from) > 1000:
            raise ConfigError("init_from must name a run folder, a checkpoint, a .safetensors or .pt file, or "
                              "torchvision:NAME")
        if not isinstance(self.teacher, str) or len(self.teacher) > 1000:
            raise ConfigError("teacher must name a trained run folder or checkpoint folder")
        number("temperature")
        number("alpha")
        for name in ("amp", "normalize"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(f"{name} must be true or false")
