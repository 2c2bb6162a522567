"""Augmentation and normalisation, as torchvision.transforms.v2 pipelines on float tensors.

The pipeline takes one sample [C, H, W] or a batch [B, C, H, W] of floats in [0, 1]. A single
sample goes through torchvision's v2 transforms. On a batch the random steps are drawn per
sample (each image gets its own crop, flip, angle and jitter) by the vectorised equivalents in
``batch_augment`` (v2 would draw one set for the whole batch, and a loop over samples costs far
more than a small network's step); resizing and normalisation run on the whole batch at once.

Normalisation alone is ``Normalize`` below, the same arithmetic as v2's (subtract, then divide):
importing torchvision costs about 1.4 s, which every `layerloom train` process (each sweep trial)
would pay for two lines of arithmetic. torchvision is imported only for resizing and augmentation.

Augment keys (0 / False switches a step off):
    random_crop   int    pad by this many pixels, then crop back to size at a random place
    hflip         bool   mirror left-right half of the time
    rotation      float  rotate by a random angle in [-degrees, +degrees]
    color_jitter  float  strength of random brightness/contrast (and saturation/hue for RGB)
"""

from __future__ import annotations

from typing import Callable

import torch

from .base import DataError, DatasetInfo

AUGMENT_KEYS = ("random_crop", "hflip", "rotation", "color_jitter")


class Normalize(torch.nn.Module):
    """(x - mean) / std per channel on [..., C, H, W] floats, computed as torchvision's v2.Normalize
    computes it (x.sub(mean).div_(std)), so results are bit for bit the same."""

    def __init__(self, mean: list, std: list):
        super().__init__()
        self.mean, self.std = list(mean), list(std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not all(self.std):
            raise ValueError("std evaluated to zero, leading to division by zero.")
        mean = torch.as_tensor(self.mean, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        std = torch.as_tensor(self.std, dtype=x.dtype, device=x.device).view(-1, 1, 1)
        return x.sub(mean).div_(std)


class Steps(torch.nn.Module):
    """Transforms applied one after another to a tensor (what v2.Compose does for one input)."""

    def __init__(self, steps: list):
        super().__init__()
        self.steps = torch.nn.ModuleList(steps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for step in self.steps:
            x = step(x)
        return x


class BatchTransform(torch.nn.Module):
    """``before`` and ``after`` run as they are; the random steps run per sample.

    ``random`` (a v2 pipeline) serves single samples, ``batch_random`` (a BatchAugment with the
    same settings) serves batches.
    """

    def __init__(self, before: list, random: list, after: list, sample_ndim: int,
                 batch_random: torch.nn.Module | None = None):
        super().__init__()
        self.before = Steps(before) if before else None
        self.random = Steps(random) if random else None
        self.batch_random = batch_random
        self.after = Steps(after) if after else None
        self.sample_ndim = sample_ndim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.before is not None:
            x = self.before(x)
        if self.random is not None:
            if x.dim() == self.sample_ndim + 1 and self.batch_random is not None:
                x = self.batch_random(x)
            elif x.dim() == self.sample_ndim + 1:
                x = torch.stack([self.random(sample) for sample in x])
            else:
                x = self.random(x)
        if self.after is not None:
            x = self.after(x)
        return x


def _number(augment: dict, key: str, kind: type, low: float, high: float, hint: str):
    value = augment[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            (kind is int and int(value) != value) or not low <= value <= high:
        raise DataError(f"Augmentation {key}={value!r} is out of range: {hint}.")
    return kind(value)


def parse_augment(augment: dict | None) -> dict:
    """The augmentation settings as Layerloom reads them, checked: {key: value} with each key one of AUGMENT_KEYS
    and each value of its type and in its range (a whole number of pixels, true or false, degrees, a strength).
    Raises DataError naming the setting and what to give instead. Training and an exported project's config
    read them through this one function, so both take exactly the same settings."""
    augment = dict(augment or {})
    unknown = sorted(set(augment) - set(AUGMENT_KEYS))
    if unknown:
        raise DataError(f"Unknown augmentation {', '.join(unknown)}: use "
                        f"{', '.join(AUGMENT_KEYS)}.")
    parsed = {}
    if "random_crop" in augment:
        parsed["random_crop"] = _number(augment, "random_crop", int, 0, 256,
                                        "give the padding in whole pixels, 0 to switch it off")
    if "hflip" in augment:
        if not isinstance(augment["hflip"], bool):
            raise DataError(f"Augmentation hflip={augment['hflip']!r} must be true or false.")
        parsed["hflip"] = augment["hflip"]
    if "rotation" in augment:
        parsed["rotation"] = _number(augment, "rotation", float, 0, 180,
                                     "give the largest angle in degrees, 0 to 180")
    if "color_jitter" in augment:
        parsed["color_jitter"] = _number(augment, "color_jitter", float, 0, 1,
                                         "give a strength between 0 and 1, for example 0.3")
    return parsed


def build_transforms(info: DatasetInfo, *, augment: dict | None = None, normalize: bool = True,
                     train: bool = True,
                     resize: tuple[int, int] | None = None) -> Callable | None:
    """The pipeline for one split, or None when there is nothing to do.

    Training applies ``resize``, then the augmentation, then normalisation with ``info.mean``
    and ``info.std``; validation applies only ``resize`` and normalisation.
    """
    steps = parse_augment(augment)
    is_image = info.input_dtype.startswith("float") and len(info.sample_shape) == 3
    if not is_image:
        if any(steps.values()) or resize:
            raise DataError(f"{info.name} does not hold images, so it cannot be augmented or "
                            "resized: switch those data settings off.")
        return None
    channels, height, width = info.sample_shape
    before = []
    if resize or (train and any(steps.values())):
        from torchvision.transforms import v2
    if resize:
        height, width = (int(resize), int(resize)) if isinstance(resize, int) else \
            (int(resize[0]), int(resize[1]))
        if (height, width) != tuple(info.sample_shape[1:]):
            before.append(v2.Resize((height, width), antialias=True))
    random = []
    if train:
        if steps.get("random_crop"):
            random.append(v2.RandomCrop((height, width), padding=steps["random_crop"]))
        if steps.get("hflip"):
            random.append(v2.RandomHorizontalFlip())
        if steps.get("rotation"):
            random.append(v2.RandomRotation(steps["rotation"]))
        if steps.get("color_jitter"):
            s = steps["color_jitter"]
            colour = {"saturation": s, "hue": min(0.5, s / 4)} if channels == 3 else {}
            random.append(v2.ColorJitter(brightness=s, contrast=s, **colour))
    after = []
    if normalize:
        if len(info.mean) != channels or len(info.std) != channels:
            raise DataError(f"{info.name} gives {channels} channels but its statistics are for "
                            f"{len(info.mean)}: switch normalisation off.")
        after.append(Normalize(info.mean, info.std))
    if not (before or random or after):
        return None
    batch_random = None
    if random:
        from .batch_augment import BatchAugment
        batch_random = BatchAugment(**{k: v for k, v in steps.items() if k in AUGMENT_KEYS})
    return BatchTransform(before, random, after, sample_ndim=3, batch_random=batch_random)
