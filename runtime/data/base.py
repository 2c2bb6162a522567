"""The shared vocabulary of the data layer: errors, data-set descriptions and in-memory splits."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.utils.data import Dataset


class DataError(Exception):
    """A data set could not be described or loaded.

    The message is a sentence a person can act on: what is wrong, then what to do about it.
    """


@dataclass(frozen=True)
class DatasetInfo:
    """What a data set gives a network, known before (and without) loading it."""

    name: str                        # registry key, e.g. "mnist-sample"
    title: str                       # "MNIST sample (5,000 digits, offline)"
    description: str
    sample_shape: tuple[int, ...]    # one sample, without the batch dimension, e.g. (1, 28, 28)
    input_dtype: str                 # "float32" for images, "int64" for token ids
    num_classes: int
    class_names: tuple[str, ...]
    mean: tuple[float, ...]          # per channel, of the pixels scaled to [0, 1]
    std: tuple[float, ...]
    needs_download: bool             # True when the files come from the internet
    vocab_size: int = 0              # token-id sets: ids run from 0 to vocab_size - 1
    variable_length: bool = False    # sequences of any length (sample_shape gives a nominal one)
    vocabulary: tuple[str, ...] = () # token-id sets: the token of each id
    drawn: bool = False              # generated at whatever size the Input asks (shapes, figures), never resized
    placeholder_statistics: bool = False  # mean/std stand in until loading measures them on the training split
    notes: tuple[str, ...] = ()      # what a person should know about how their files are read (also in description)

    def data_context(self) -> dict:
        """The facts a graph's data-driven "auto" parameters follow."""
        ctx = {"num_classes": self.num_classes}
        if self.vocab_size:
            ctx["vocab_size"] = self.vocab_size
        return ctx


class InMemorySplit(Dataset):
    """One split (train or validation) held as two tensors.

    ``x`` is uint8 (pixels 0..255, scaled to [0, 1] on the way out), a floating tensor (returned
    as float32 unchanged) or an integer tensor of token ids (returned as int64 unchanged).
    ``y`` holds one int64 class label per sample.

    ``batch(idx)`` gathers many samples by indexing, which is much faster than a DataLoader for
    sets that live in memory and need no per-sample work.
    """

    def __init__(self, x: torch.Tensor, y: torch.Tensor):
        if x.shape[0] != y.shape[0]:
            raise ValueError(f"{x.shape[0]} samples but {y.shape[0]} labels")
        if x.dtype == torch.uint8 or x.is_floating_point():
            self._x = x if x.dtype == torch.uint8 else x.to(torch.float32)
        else:
            self._x = x.to(torch.int64)
        self._y = y.to(torch.int64)

    @property
    def images(self) -> torch.Tensor:
        """The stored samples, as kept (uint8, float32 or int64)."""
        return self._x

    @property
    def labels(self) -> torch.Tensor:
        """The int64 labels, one per sample."""
        return self._y

    @property
    def sample_shape(self) -> tuple[int, ...]:
        return tuple(self._x.shape[1:])

    def __len__(self) -> int:
        return self._x.shape[0]

    def _convert(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.uint8:
            return x.to(torch.float32).div_(255.0)
        return x

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self._convert(self._x[i]), self._y[i]

    def batch(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Samples ``idx`` (a LongTensor) as (float32 [B, ...] in [0, 1], int64 [B])."""
        return self._convert(self._x[idx]), self._y[idx]

    def to(self, device: torch.device | str) -> "InMemorySplit":
        """A copy that lives on ``device`` (e.g. to batch on the GPU without host copies)."""
        return InMemorySplit(self._x.to(device), self._y.to(device))

    def class_counts(self, num_classes: int) -> torch.Tensor:
        """How many samples of each class this split holds."""
        return torch.bincount(self._y.cpu(), minlength=num_classes)

    def __repr__(self) -> str:
        shape = "×".join(str(s) for s in self.sample_shape)
        return f"InMemorySplit({len(self)} samples of {shape}, {self._x.dtype})"


class SequenceSplit(InMemorySplit):
    """Token-id sequences of different lengths, left-padded with 0 into one [N, T_max] tensor.

    ``batch(idx)`` trims the padding to the batch's longest sequence. Padding sits on the left,
    so the last time step is always a real token (what a recurrent block's "last" output reads).
    """

    def __init__(self, x: torch.Tensor, lengths: torch.Tensor, y: torch.Tensor):
        super().__init__(x.to(torch.int64), y)
        self._lengths = lengths.to(torch.int64)

    @property
    def lengths(self) -> torch.Tensor:
        return self._lengths

    def __getitem__(self, i: int):
        n = int(self._lengths[i])
        return self._x[i, self._x.shape[1] - n:], self._y[i]

    def batch(self, idx: torch.Tensor):
        longest = int(self._lengths[idx].max()) if len(idx) else 0
        return self._x[idx, self._x.shape[1] - longest:], self._y[idx]

    def to(self, device) -> "SequenceSplit":
        return SequenceSplit(self._x.to(device), self._lengths.to(device), self._y.to(device))


@dataclass
class DataBundle:
    """A loaded data set: its description and its two splits."""

    info: DatasetInfo
    train: Dataset
    val: Dataset


def format_shape(shape: tuple[int, ...]) -> str:
    """(3, 32, 32) -> '3×32×32'."""
    return "×".join(str(int(s)) for s in shape)
