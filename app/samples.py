"""Samples of a loaded data set as the views show them: uint8 images or decoded texts (Qt-free)."""
from __future__ import annotations

import numpy as np
import torch

from layerloom.runtime.data import DataBundle

from .panels.feature_maps import decode_tokens


def as_uint8(x: torch.Tensor) -> np.ndarray:
    """Stored samples (uint8 pixels, floats in [0, 1]) as uint8 arrays for display."""
    if x.dtype == torch.uint8:
        return x.cpu().numpy()
    return (x.float().clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()


def is_text(bundle: DataBundle) -> bool:
    return bundle.info.input_dtype.startswith("int")


def pick(bundle: DataBundle, split, indices) -> tuple[list | None, list[str] | None]:
    """(images, None) for image sets, (None, texts) for token sets."""
    indices = [int(i) for i in indices]
    if not indices:
        return [], None
    if is_text(bundle):
        vocab = bundle.info.vocabulary
        return None, [decode_tokens(split[i][0], vocab) if vocab else " ".join(map(str, split[i][0].tolist()[:30]))
                      for i in indices]
    if hasattr(split, "images"):
        images = as_uint8(split.images[torch.as_tensor(indices)])
    else:                      # a set read from files (an image folder): decode just these
        images = as_uint8(torch.stack([split[i][0] for i in indices]))
    return list(images), None


def split_labels(split) -> torch.Tensor:
    """Every label of a split: in-memory splits hold them; folders (or subsets of one) list them."""
    if hasattr(split, "labels"):
        return split.labels
    if hasattr(split, "indices") and hasattr(split.dataset, "targets"):
        return torch.as_tensor([split.dataset.targets[i] for i in split.indices])
    return torch.as_tensor(split.targets)


def examples(bundle: DataBundle, max_classes: int = 12, texts: int = 3):
    """One training example per class (the first of each, up to `max_classes`), or a few texts; with captions."""
    labels = split_labels(bundle.train)
    names = bundle.info.class_names
    if is_text(bundle):
        idx = list(range(min(texts, len(bundle.train))))
    else:
        idx = []
        for c in range(min(bundle.info.num_classes, max_classes)):
            hits = (labels == c).nonzero()
            if len(hits):
                idx.append(int(hits[0]))
    images, decoded = pick(bundle, bundle.train, idx)
    captions = [names[int(labels[i])] if int(labels[i]) < len(names) else str(int(labels[i])) for i in idx]
    return images, decoded, captions


def validation_samples(bundle: DataBundle, n: int = 32):
    """The first `n` validation samples: the ones every epoch_end reports predictions for."""
    return pick(bundle, bundle.val, range(min(n, len(bundle.val))))
