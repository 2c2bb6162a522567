"""A run's own data for judging a changed model: the validation split and calibration samples.

Quantized exports, pruning and the latency report compare a model before and after on the same
samples the run was validated on, transformed exactly as the trainer transformed them (its
normalisation, no augmentation).

    data = evaluation_data(run_config, input_shape=(1, 28, 28))
    acc = data.accuracy(lambda x: model(x))
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .batches import gather
from .data import DataError, build_transforms, load_dataset
from .data.base import format_shape


@dataclass
class EvaluationData:
    dataset: str
    train: object                 # the training split (calibration reads from it)
    val_x: torch.Tensor           # the whole validation split, transformed
    val_y: torch.Tensor
    transform: object             # the validation transform (normalisation), or None
    seed: int = 0
    split_size: int = 0           # samples in the whole validation split (val_x may hold fewer: max_val)

    def read(self, split, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return read_batch(split, idx, self.transform)

    def calibration(self, n: int = 256) -> torch.Tensor:
        """`n` training samples (a seeded random choice), transformed like validation samples."""
        g = torch.Generator().manual_seed(self.seed)
        idx = torch.randperm(len(self.train), generator=g)[:n]
        return self.read(self.train, idx)[0]

    def predictions(self, forward, batch_size: int = 128) -> torch.Tensor:
        """Top-1 class of every validation sample under `forward(x) -> logits`."""
        out = []
        with torch.no_grad():
            for start in range(0, len(self.val_y), batch_size):
                logits = forward(self.val_x[start:start + batch_size])
                out.append(torch.as_tensor(logits).argmax(dim=1))
        return torch.cat(out)

    def accuracy(self, forward, batch_size: int = 128) -> float:
        return float((self.predictions(forward, batch_size) == self.val_y).double().mean())


def read_batch(split, idx: torch.Tensor, transform) -> tuple[torch.Tensor, torch.Tensor]:
    x, y = gather(split, idx)
    if transform is not None:
        x = transform(x)
    return x, y


def evaluation_data(config: dict, input_shape: tuple[int, ...], dataset: str | None = None,
                    max_val: int | None = None, bundle=None) -> EvaluationData:
    """Load the data set a run trained on (raises DataError with a sentence if it cannot), or use
    `bundle`, a DataBundle already loaded. `max_val` caps the validation samples: a seeded random choice
    of that many (kept in split order), so a split stored class by class is still sampled evenly."""
    name = config.get("dataset") or dataset
    seed = int(config.get("seed", 0) or 0)
    if bundle is None:
        if not name:
            raise DataError("the graph names no data set: set one in its training settings")
        bundle = load_dataset(name, input_shape=tuple(input_shape), seed=seed,
                              **(config.get("dataset_options") or {}))
    transform = build_transforms(bundle.info, augment=None, normalize=config.get("normalize", True), train=False)
    idx = torch.arange(len(bundle.val))
    if max_val is not None and max_val < len(idx):
        idx = torch.randperm(len(idx), generator=torch.Generator().manual_seed(seed))[:max_val].sort().values
    with torch.no_grad():
        x, y = read_batch(bundle.val, idx, transform)
    if x.dtype.is_floating_point and tuple(x.shape[1:]) != tuple(input_shape):
        raise DataError(f"{bundle.info.name} gives samples of shape {format_shape(x.shape[1:])}, but the model "
                        f"takes {format_shape(input_shape)}: choose a data set that fits the Input block")
    return EvaluationData(bundle.info.name, bundle.train, x, y, transform, seed, len(bundle.val))
