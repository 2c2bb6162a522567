"""Your own images: one subfolder per class, read with torchvision's ImageFolder.

    my_pictures/            or    my_pictures/
        cats/ a.png ...               train/ cats/ ... dogs/ ...
        dogs/ b.jpg ...               val/   cats/ ... dogs/ ...

(folder_layout.py tells the layouts apart: val/ may be called valid/ or validation/, and train/ with
test/ and no validation folder validates on test/, which the description says.) Every image is read
upright (image_read.py), converted to the channel count (1: grayscale, 3: RGB) and resized to ``size``
when that data setting is given, else to the size the network's Input expects when the images are at
least that large (images smaller than the Input are never enlarged silently: the set then reports the
smallest sides found among up to 64 pictures spread over the classes, read from their headers, and the
graph-and-data check offers to set the Input to it or to resize them), then returned as a float32
[C, H, W] tensor in [0, 1] with an int64 label. Without a validation folder the images are split by a
seeded, stratified draw, ``val_fraction`` of each class going to validation. The per-channel mean and
std used to normalise them are computed on the training split when the set is loaded.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.data import Dataset, Subset

from .base import DataBundle, DataError, DatasetInfo
from .folder_layout import (HOW, class_folders, image_extensions as _image_extensions, image_files, sampled_sizes,
                            size_note, split_folders, subfolders, unreadable_folder)
from .image_read import ToSample, quoted as _q, read_image
from .options import fraction_option, path_option, size_option

NAME = "image-folder"
DEFAULT_SIZE = 64
STATS_SAMPLES = 2000      # at most this many training images (evenly spread) give the mean and std
# ImageNet statistics: what the description says before the folder is loaded (loading computes the
# folder's own on its training split).
RGB_MEAN, RGB_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GRAY_MEAN, GRAY_STD = (0.449,), (0.226,)


def label_as_int64(target: int) -> torch.Tensor:
    return torch.tensor(target, dtype=torch.int64)


def _image_folder_class():
    from torchvision.datasets import ImageFolder

    class FixedClassesFolder(ImageFolder):
        """An ImageFolder whose class list is given (so train/ and val/ agree on indices); the macOS
        resource forks it left out are in `skipped`."""

        def __init__(self, root, classes, **kwargs):
            self._classes = list(classes)
            self.skipped: list[str] = []
            super().__init__(root, **kwargs)

        def find_classes(self, directory):
            return self._classes, {c: i for i, c in enumerate(self._classes)}

        def make_dataset(self, directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
            return image_files(directory, class_to_idx, tuple(extensions or _image_extensions()), allow_empty,
                               skipped=self.skipped)

    return FixedClassesFolder


def _folder(path) -> Path:
    path = path_option({"path": path})
    if path is None or str(path).strip() == "":
        raise DataError(f"No image folder is chosen: {HOW}.")
    folder = Path(path).expanduser()
    try:
        exists, is_dir = folder.exists(), folder.is_dir()
    except OSError as exc:          # a name too long to look up, say
        raise DataError(f"The image folder {_q(folder)} cannot be looked up ({_q(exc.strerror or exc)}): "
                        f"{HOW}.") from None
    if not exists:
        raise DataError(f"The image folder {_q(folder)} does not exist: {HOW}.")
    if not is_dir:
        raise DataError(f"{_q(folder)} is a file, not a folder: {HOW}.")
    return folder


def _channels(input_shape, channels) -> int:
    ch = 3 if channels is None else _channel_count(channels)
    if ch is None:
        raise DataError(f"channels={channels!r:.40} is not supported: use 1 (grayscale) or 3 (RGB).")
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] in (1, 3):
        return int(input_shape[0])
    return ch


def _channel_count(value) -> int | None:
    """1 or 3 from the ``channels`` option (a number, or text such as "3" from --data-option), else None."""
    if isinstance(value, str):
        value = value.strip()
        value = int(value) if value in ("1", "3") else None
    if isinstance(value, float) and value in (1.0, 3.0):
        value = int(value)
    return value if type(value) is int and value in (1, 3) else None


def _requested_size(input_shape, size) -> tuple[int, int] | None:
    """(height, width) from the ``size`` option, else the Input's shape; None to follow the images."""
    sides = size_option({"size": size})
    if sides is not None:
        h, w = sides
        if not (1 <= h <= 4096 and 1 <= w <= 4096):
            raise DataError(f"size={size!r:.40} is not an image size: give one side (28) or [height, width] "
                            "([28, 28]), each 1 to 4096 pixels.")
        return h, w
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] in (1, 3):
        return int(input_shape[1]), int(input_shape[2])
    return None


def info(*, path=None, input_shape=None, size=None, channels=None, val_fraction=0.2, **_ignored) -> DatasetInfo:
    """Without ``path`` a placeholder (no classes yet); with it, the folder's classes and shape. The size
    follows the smallest sides among a sample of the pictures (read from their headers), so that none is
    enlarged unless the ``size`` option asks for it; the notes say when sizes differ or a split folder
    was chosen."""
    title = "Image folder (your own images)"
    description = ("Images you provide, one subfolder per class; they are converted and "
                   "resized to what the network's Input expects.")
    fraction_option({"val_fraction": val_fraction}, "val_fraction", 0.2)    # checked before any work
    ch, hw = _channels(input_shape, channels), _requested_size(input_shape, size)
    notes: tuple[str, ...] = ()
    if path is None:
        classes = ()
        hw = hw or (DEFAULT_SIZE, DEFAULT_SIZE)
    else:
        folder = _folder(path)
        layout = split_folders(folder)
        classes = tuple(class_folders(layout.train))
        sizes, files = sampled_sizes(layout.train, list(classes))
        native = (min(h for h, _ in sizes), min(w for _, w in sizes))
        if hw is None or (size is None and (native[0] < hw[0] or native[1] < hw[1])):
            hw = native       # never enlarge silently: a resize is the `size` data setting
        sized = size_note(sizes, files, folder, hw, size is not None)
        notes = layout.notes + ((sized,) if sized else ())
        title = f"Image folder: {folder.name} ({len(classes)} classes)"
    shape = (ch, *hw)
    gray = shape[0] == 1
    return DatasetInfo(
        name=NAME, title=title, description=" ".join((description, *notes)), sample_shape=shape,
        input_dtype="float32", num_classes=len(classes), class_names=classes,
        mean=GRAY_MEAN if gray else RGB_MEAN, std=GRAY_STD if gray else RGB_STD,
        needs_download=False, placeholder_statistics=True, notes=notes,
    )


def _make(folder: Path, classes: tuple[str, ...], shape, allow_empty: bool) -> Dataset:
    cls = _image_folder_class()
    try:
        return cls(str(folder), classes, transform=ToSample(shape[0], tuple(shape[1:])),
                   target_transform=label_as_int64, loader=read_image, allow_empty=allow_empty)
    except OSError as exc:
        if exc.filename is not None:            # os.walk met a folder it cannot read
            raise unreadable_folder(exc) from None
        raise DataError(
            f"Some class subfolders of {_q(folder)} hold no images ({_q(exc)}): add images to them "
            "or remove those subfolders."
        ) from None


def _stratified_split(targets: list[int], val_fraction: float,
                      seed: int) -> tuple[list[int], list[int]]:
    generator = torch.Generator().manual_seed(seed)
    labels = torch.tensor(targets, dtype=torch.int64)
    train_idx, val_idx, largest = [], [], []
    for c in torch.unique(labels).tolist():
        members = torch.nonzero(labels == c).flatten()
        members = members[torch.randperm(len(members), generator=generator)].tolist()
        n_val = int(round(len(members) * val_fraction))
        n_val = min(n_val, len(members) - 1)   # every class keeps one training image
        val_idx += members[:n_val]
        train_idx += members[n_val:]
        largest = members if len(members) > len(largest) else largest
    if not val_idx and len(largest) >= 2:      # a small folder still gets one validation image
        val_idx.append(largest[0])
        train_idx.remove(largest[0])
    if not val_idx:
        raise DataError(
            f"Too few images to set {val_fraction:.0%} aside for validation: add images, raise "
            "val_fraction, or make train/ and val/ subfolders."
        )
    return sorted(train_idx), sorted(val_idx)


def load(info: DatasetInfo, *, path=None, seed: int = 0, val_fraction=0.2, **_ignored) -> DataBundle:
    folder = _folder(path)
    fraction = fraction_option({"val_fraction": val_fraction}, "val_fraction", 0.2)
    layout = split_folders(folder)
    train_dir, val_dir = layout.train, layout.val
    classes, shape = info.class_names, info.sample_shape
    train = _make(train_dir, classes, shape, allow_empty=False)
    skipped = list(train.skipped)
    if val_dir is not None:
        val = validation_folder(train_dir, val_dir, classes, shape)
        skipped += val.skipped
        return DataBundle(info=_with_statistics(_with_skipped(info, skipped), train), train=train, val=val)
    train_idx, val_idx = _stratified_split(train.targets, fraction, seed)
    train_split = Subset(train, train_idx)
    return DataBundle(info=_with_statistics(_with_skipped(info, skipped), train_split), train=train_split,
                      val=Subset(train, val_idx))


def validation_folder(train_dir: Path, val_dir: Path, classes, shape):
    """The pictures of the validation folder `val_dir`, read for the classes of `train_dir`; refused when it has
    class folders train/ lacks, or no pictures at all. (An exported project's reader holds this source.)"""
    extra = [name for name in subfolders(val_dir) if name not in classes]
    if extra:
        raise DataError(
            f"{_q(val_dir)} has class folders that {_q(train_dir)} lacks ({_q(', '.join(extra))}): "
            f"give {_q(train_dir.name)}/ and {_q(val_dir.name)}/ the same class subfolders."
        )
    val = _make(val_dir, classes, shape, allow_empty=True)
    if len(val) == 0:
        raise DataError(f"{_q(val_dir)} holds no images: put validation images in its class subfolders.")
    return val


def _with_skipped(info: DatasetInfo, skipped: list[str]) -> DatasetInfo:
    """The description with the count of macOS resource forks (._name.png) left out, when there are any."""
    if not skipped:
        return info
    n = len(skipped)
    what = "1 macOS resource file (._name beside a picture, not an image) was" if n == 1 else \
        f"{n:,} macOS resource files (._name beside a picture, not images) were"
    note = f"{what} skipped."
    return replace(info, notes=(*info.notes, note), description=f"{info.description} {note}")


def channel_statistics(split: Dataset, limit: int = STATS_SAMPLES) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a split's pixels (in [0, 1]), over at most ``limit`` images
    spread evenly across it."""
    n = len(split)
    picks = range(n) if n <= limit else (i * n // limit for i in range(limit))
    total = total_sq = None
    count = 0
    for i in picks:
        x = split[i][0].to(torch.float64).flatten(1)
        s, sq = x.sum(1), (x * x).sum(1)
        total, total_sq = (s, sq) if total is None else (total + s, total_sq + sq)
        count += x.shape[1]
    mean = total / count
    std = (total_sq / count - mean * mean).clamp_min(0).sqrt().clamp_min(1e-3)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _with_statistics(info: DatasetInfo, train: Dataset) -> DatasetInfo:
    mean, std = channel_statistics(train)
    return replace(info, mean=mean, std=std, placeholder_statistics=False)
