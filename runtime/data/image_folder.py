"""Your own images: one subfolder per class, read with torchvision's ImageFolder.

    my_pictures/            or    my_pictures/
        cats/ a.png ...               train/ cats/ ... dogs/ ...
        dogs/ b.jpg ...               val/   cats/ ... dogs/ ...

Every image is converted to the channel count (1: grayscale, 3: RGB) and resized to ``size``
when that data setting is given, else to the size the network's Input expects when the images
are at least that large (images smaller than the Input are never enlarged silently: the set then
reports their own size, and the graph-and-data check offers to set the Input to it or to resize
them), then returned as a float32 [C, H, W] tensor in [0, 1] with an int64 label. Without
``train/`` and ``val/`` the images are split by a seeded, stratified draw, ``val_fraction`` of
each class going to validation. The per-channel mean and std used to normalise them are computed
on the training split when the set is loaded.
"""

from __future__ import annotations

import os

from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset, Subset

from layerloom.graph.quoting import shown

from .base import DataBundle, DataError, DatasetInfo

NAME = "image-folder"
DEFAULT_SIZE = 64
STATS_SAMPLES = 2000      # at most this many training images (evenly spread) give the mean and std
# ImageNet statistics: what the description says before the folder is loaded (loading computes the
# folder's own on its training split).
RGB_MEAN, RGB_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
GRAY_MEAN, GRAY_STD = (0.449,), (0.226,)
HOW = ("pick a folder that holds one subfolder per class (for example cats/ and dogs/) "
       "with the images inside")


class ToSample:
    """PIL image -> float32 [C, H, W] in [0, 1], converted and resized (picklable for workers)."""

    def __init__(self, channels: int, size: tuple[int, int]):
        self.mode = "L" if channels == 1 else "RGB"
        self.size = size

    def __call__(self, image) -> torch.Tensor:
        from PIL import Image

        try:
            image = image.convert(self.mode)
        except ValueError:          # a mode read_image does not know, that Pillow cannot convert
            raise _not_convertible(getattr(image, "filename", None), f"{image.mode} mode") from None
        height, width = self.size
        if image.size != (width, height):
            image = image.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(image, dtype=np.uint8)
        if array.ndim == 2:
            array = array[:, :, None]
        return torch.from_numpy(array.copy()).permute(2, 0, 1).to(torch.float32).div_(255.0)


SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
# Pillow converts L*a*b* colours to RGB (as its colour-management module does, to sRGB) but not straight
# to grayscale, so a LAB image goes to RGB first. Modes it converts to neither are named in the message.
UNCONVERTIBLE = {"La": "grey levels with premultiplied transparency (La mode)"}


def read_image(path) -> "Image.Image":
    """The image at `path`, decoded, with 16-bit grey levels scaled to 8 bits (Pillow's own conversion
    clips them: every level above 255 became white); a file Pillow cannot read, or one larger than
    Pillow reads safely, is a DataError naming it (picklable for workers)."""
    from PIL import Image, UnidentifiedImageError

    try:
        image = Image.open(path)
        image.load()
    except Image.DecompressionBombError:
        raise _too_large(path) from None
    except UnidentifiedImageError:
        raise DataError(f"The file {_q(path)} is not an image Pillow can read (empty, damaged or another kind "
                        "of file): remove or replace it.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise DataError(f"The image {_q(path)} cannot be read ({_q(exc)}): remove or replace it.") from None
    if image.mode in UNCONVERTIBLE:
        raise _not_convertible(path, UNCONVERTIBLE[image.mode])
    if image.mode == "LAB":
        image = image.convert("RGB")
    elif image.mode in SIXTEEN_BIT:
        levels = np.asarray(image, dtype=np.float64) / 257.0
        image = Image.fromarray(np.rint(levels).astype(np.uint8), mode="L")
    elif image.mode in ("F", "I"):
        image = _from_32_bits(path, image)
    return image


def _not_convertible(path, what: str) -> DataError:
    which = f"The image {_q(path)}" if path else "An image"
    return DataError(f"{which} holds {what}, which Layerloom cannot turn into RGB or grayscale: save it as an RGB "
                     "image and choose it again.")


def _from_32_bits(path, image) -> "Image.Image":
    """A 32-bit grey image as 8-bit grey: floating-point levels are read from 0 (black) to 1 (white),
    as image libraries write them, and whole-number levels must lie in 0..255, because nothing in the
    file says what their white is. Pillow's own conversion clips both: a float image in 0..1 became
    black. Levels outside those ranges are a DataError that says what to do, not a silent guess."""
    from PIL import Image

    levels = np.asarray(image, dtype=np.float64)
    low, high = (float(levels.min()), float(levels.max())) if levels.size else (0.0, 0.0)
    if image.mode == "F":
        if not (np.isfinite(levels).all() and 0.0 <= low and high <= 1.0):
            raise DataError(f"The image {_q(path)} holds floating-point levels from {low:.4g} to {high:.4g}; "
                            "Layerloom reads them from 0 (black) to 1 (white): rescale it to that range, or save "
                            "it as an 8- or 16-bit image.")
        levels = levels * 255.0
    elif not (0 <= low and high <= 255):
        raise DataError(f"The image {_q(path)} holds 32-bit levels from {low:,.0f} to {high:,.0f}, and its white "
                        "is not written in it: save it as an 8- or 16-bit image.")
    return Image.fromarray(np.rint(levels).astype(np.uint8), mode="L")


def _q(value) -> str:
    """A path, folder name or error text from disk, escaped for a one-line message (a class folder
    may be called "\x1b[2Jcats", a file name may hold a newline)."""
    return shown(str(value), 300)


def _too_large(path) -> DataError:
    from PIL import Image
    return DataError(f"The image {_q(path)} has more pixels than Pillow reads safely (at most "
                     f"{2 * Image.MAX_IMAGE_PIXELS:,}): shrink or remove it.")


def label_as_int64(target: int) -> torch.Tensor:
    return torch.tensor(target, dtype=torch.int64)


def _image_folder_class():
    from torchvision.datasets import ImageFolder

    class FixedClassesFolder(ImageFolder):
        """An ImageFolder whose class list is given (so train/ and val/ agree on indices)."""

        def __init__(self, root, classes, **kwargs):
            self._classes = list(classes)
            super().__init__(root, **kwargs)

        def find_classes(self, directory):
            return self._classes, {c: i for i, c in enumerate(self._classes)}

        @staticmethod
        def make_dataset(directory, class_to_idx, extensions=None, is_valid_file=None, allow_empty=False):
            return image_files(directory, class_to_idx, tuple(extensions or _image_extensions()), allow_empty)

    return FixedClassesFolder


def image_files(directory, class_to_idx: dict, extensions: tuple[str, ...], allow_empty: bool = False):
    """(path, class index) of every image under each class folder, as torchvision lists them, except
    that symlinked folders are not entered (a link loop would never end) and only regular files
    count (a FIFO named like an image would block the reader)."""
    instances, empty = [], []
    for target_class in sorted(class_to_idx):
        found = False
        for root, _, names in sorted(os.walk(os.path.join(directory, target_class))):
            for name in sorted(names):
                path = os.path.join(root, name)
                if name.lower().endswith(extensions) and os.path.isfile(path):
                    instances.append((path, class_to_idx[target_class]))
                    found = True
        if not found:
            empty.append(target_class)
    if empty and not allow_empty:
        raise FileNotFoundError(f"Found no valid file for the classes {', '.join(empty)}. "
                                f"Supported extensions are: {', '.join(extensions)}")
    return instances


def _image_extensions() -> tuple[str, ...]:
    from torchvision.datasets.folder import IMG_EXTENSIONS
    return IMG_EXTENSIONS


def _folder(path) -> Path:
    if path is None or str(path).strip() == "":
        raise DataError(f"No image folder is chosen: {HOW}.")
    folder = Path(path).expanduser()
    if not folder.exists():
        raise DataError(f"The image folder {_q(folder)} does not exist: {HOW}.")
    if not folder.is_dir():
        raise DataError(f"{_q(folder)} is a file, not a folder: {HOW}.")
    return folder


def _split_folders(folder: Path) -> tuple[Path, Path | None]:
    """(training folder, validation folder or None when the split is drawn at random)."""
    if (folder / "train").is_dir() and (folder / "val").is_dir():
        return folder / "train", folder / "val"
    return folder, None


def _class_folders(folder: Path) -> list[str]:
    classes = sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"The folder {_q(folder)} has no class subfolders: {HOW}.")
    if len(classes) < 2:
        raise DataError(
            f"The folder {_q(folder)} has only one class subfolder ({_q(classes[0])}/): a classifier "
            "needs at least two, so add a subfolder of images for each other class."
        )
    return classes


def _first_image(folder: Path, classes: list[str]) -> Path:
    extensions = _image_extensions()
    for cls in classes:
        for file in sorted((folder / cls).rglob("*")):
            if file.is_file() and file.suffix.lower() in extensions:
                return file
    raise DataError(
        f"The class subfolders of {_q(folder)} hold no images ({', '.join(extensions)}): "
        "put the pictures of each class in its subfolder."
    )


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
    if size is not None:
        try:
            h, w = (size, size) if isinstance(size, int) else tuple(size)
            h, w = int(h), int(w)
        except (TypeError, ValueError):
            h = w = 0
        if not (1 <= h <= 4096 and 1 <= w <= 4096):
            raise DataError(f"size={size!r} is not an image size: give one side (28) or [height, width] "
                            "([28, 28]), each 1 to 4096 pixels.")
        return h, w
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] in (1, 3):
        return int(input_shape[1]), int(input_shape[2])
    return None


def _first_image_size(folder: Path, classes: list[str]) -> tuple[int, int]:
    from PIL import Image

    first = _first_image(folder, classes)
    try:
        with Image.open(first) as image:
            w, h = image.size
    except Image.DecompressionBombError:
        raise _too_large(first) from None
    except OSError as exc:
        raise DataError(
            f"The image {_q(first)} cannot be opened ({_q(exc)}): remove or replace it."
        ) from exc
    return h, w


def info(*, path=None, input_shape=None, size=None, channels=None, **_ignored) -> DatasetInfo:
    """Without ``path`` a placeholder (no classes yet); with it, the folder's classes and shape."""
    title = "Image folder (your own images)"
    description = ("Images you provide, one subfolder per class; they are converted and "
                   "resized to what the network's Input expects.")
    ch, hw = _channels(input_shape, channels), _requested_size(input_shape, size)
    if path is None:
        classes = ()
        hw = hw or (DEFAULT_SIZE, DEFAULT_SIZE)
    else:
        folder = _folder(path)
        train_dir, _ = _split_folders(folder)
        classes = tuple(_class_folders(train_dir))
        native = _first_image_size(train_dir, list(classes))
        if hw is None or (size is None and (native[0] < hw[0] or native[1] < hw[1])):
            hw = native       # never enlarge silently: a resize is the `size` data setting
        title = f"Image folder: {folder.name} ({len(classes)} classes)"
    shape = (ch, *hw)
    gray = shape[0] == 1
    return DatasetInfo(
        name=NAME, title=title, description=description, sample_shape=shape,
        input_dtype="float32", num_classes=len(classes), class_names=classes,
        mean=GRAY_MEAN if gray else RGB_MEAN, std=GRAY_STD if gray else RGB_STD,
        needs_download=False, placeholder_statistics=True,
    )


def _make(folder: Path, classes: tuple[str, ...], shape, allow_empty: bool) -> Dataset:
    cls = _image_folder_class()
    try:
        return cls(str(folder), classes, transform=ToSample(shape[0], tuple(shape[1:])),
                   target_transform=label_as_int64, loader=read_image, allow_empty=allow_empty)
    except FileNotFoundError as exc:
        raise DataError(
            f"Some class subfolders of {_q(folder)} hold no images ({_q(exc)}): add images to them "
            "or remove those subfolders."
        ) from exc


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


def load(info: DatasetInfo, *, path=None, seed: int = 0, val_fraction: float = 0.2,
         **_ignored) -> DataBundle:
    folder = _folder(path)
    if not 0.0 < float(val_fraction) < 1.0:
        raise DataError(f"val_fraction={val_fraction} must be between 0 and 1, for example 0.2.")
    train_dir, val_dir = _split_folders(folder)
    classes, shape = info.class_names, info.sample_shape
    train = _make(train_dir, classes, shape, allow_empty=False)
    if val_dir is not None:
        extra = sorted(p.name for p in val_dir.iterdir()
                       if p.is_dir() and not p.name.startswith(".") and p.name not in classes)
        if extra:
            raise DataError(
                f"{_q(val_dir)} has class folders that {_q(train_dir)} lacks ({_q(', '.join(extra))}): "
                "give train/ and val/ the same class subfolders."
            )
        val = _make(val_dir, classes, shape, allow_empty=True)
        if len(val) == 0:
            raise DataError(f"{_q(val_dir)} holds no images: put validation images in its class "
                            "subfolders.")
        return DataBundle(info=_with_statistics(info, train), train=train, val=val)
    train_idx, val_idx = _stratified_split(train.targets, float(val_fraction), seed)
    train_split = Subset(train, train_idx)
    return DataBundle(info=_with_statistics(info, train_split), train=train_split, val=Subset(train, val_idx))


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
