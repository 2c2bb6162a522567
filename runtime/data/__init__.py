"""Data sets for training: what each one gives (DatasetInfo) and how to load it (DataBundle).

    >>> import torch
    >>> from layerloom.runtime.data import load_dataset
    >>> bundle = load_dataset("mnist-sample")
    >>> x, y = bundle.train.batch(torch.arange(64))     # float32 [64, 1, 28, 28] in [0, 1]

Registered sets: mnist-sample (shipped, offline), mnist, fashion-mnist, kmnist, cifar10, cifar100
(downloaded once into ``data_root()``), shapes (generated) and image-folder (your own images).
More can be added with ``register(info_factory, loader, options=...)``.
"""

from .base import DataBundle, DataError, DatasetInfo, InMemorySplit, SequenceSplit
from .paths import data_root
from .registry import dataset_info, list_datasets, load_dataset, register, unregister
from .transforms import build_transforms

__all__ = [
    "DataBundle",
    "DataError",
    "DatasetInfo",
    "InMemorySplit",
    "SequenceSplit",
    "build_transforms",
    "data_root",
    "dataset_info",
    "list_datasets",
    "load_dataset",
    "register",
    "unregister",
]
