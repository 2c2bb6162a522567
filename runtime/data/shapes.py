"""Shapes: a procedural set of coloured geometric figures, generated in a moment, no download.

Ten classes (circle, square, triangle, cross, ring, star, crescent, ellipse, semicircle, hourglass),
as many as the image presets' outputs (torchvision's architectures with 10 classes), each drawn at a random position, size,
rotation and colour on a noisy, shaded background; half of the images are dark-on-light. The
figures are computed for whole batches at once from polar/rotated pixel coordinates, so 5,000
images of 64×64 take a fraction of a second. The same seed gives identical tensors; training and
validation come from separate random streams.
"""

from __future__ import annotations

import hashlib
import math

import torch

from .base import DataBundle, DataError, DatasetInfo, InMemorySplit
from .options import side_count, size_option, whole_option

NAME = "shapes"
CLASSES = ("circle", "square", "triangle", "cross", "ring", "star", "crescent", "ellipse", "semicircle",
           "hourglass")
DEFAULT_SIZE, DEFAULT_CHANNELS = 32, 3
DEFAULT_TRAIN, DEFAULT_VAL = 4000, 1000
MAX_COUNT = 10_000_000     # images per split; the memory check below bounds the product with the size
MIN_SIZE, MAX_SIZE = 8, 1024
CHUNK_PIXELS = 1 << 22          # pixels per generated chunk: bounds the temporaries to ~16 MB
NOISE_STD = 0.06
# Measured on 20,000 generated images (they barely depend on size or seed).
MEAN, STD = 0.501, 0.334


def resolve_geometry(input_shape=None, size=None, channels=None, what: str = NAME) -> tuple[int, int, int]:
    """(channels, height, width) that will be generated: the Input's shape when it is an image. `what`
    names the set in errors. The options are checked even when the Input decides, so that a value that is
    no size or channel count is refused the same way with or without a graph."""
    sides = size_option({"size": size})
    count = None if channels is None else side_count(channels)
    if channels is not None and count is None:
        raise DataError(f"{what} can be drawn with 1 (grayscale) or 3 (RGB) channels, not {channels!r:.40}: "
                        "set channels to 1 or 3.")
    if input_shape is not None and len(input_shape) == 3 and int(input_shape[0]) in (1, 3):
        c, h, w = (int(s) for s in input_shape)
    else:
        c = DEFAULT_CHANNELS if count is None else count
        h, w = sides or (DEFAULT_SIZE, DEFAULT_SIZE)
    if c not in (1, 3):
        raise DataError(f"{what} can be drawn with 1 (grayscale) or 3 (RGB) channels, not {c}: "
                        "set channels to 1 or 3.")
    if not (MIN_SIZE <= h <= MAX_SIZE and MIN_SIZE <= w <= MAX_SIZE):
        raise DataError(f"{what} cannot be drawn at {h}×{w}: use a side between {MIN_SIZE} and "
                        f"{MAX_SIZE} pixels.")
    return c, h, w


def generated_info(name: str, title: str, classes: tuple[str, ...], subject: str, shape: tuple[int, int, int],
                   train_count, val_count, mean: float, std: float) -> DatasetInfo:
    """The description of a set drawn by `generate` (this one, or runtime/data/figures.py)."""
    train_count, val_count = counts(train_count, val_count)
    return DatasetInfo(
        name=name,
        title=f"{title} ({len(classes)} classes, generated)",     # at the Input's size: no size in a list
        description=(
            f"{subject} (" + ", ".join(classes) + ") at random positions, "
            f"sizes, rotations and colours on a noisy background: {train_count:,} for training "
            f"and {val_count:,} for validation, generated on the spot at the Input's size."
        ),
        sample_shape=shape, input_dtype="float32",
        num_classes=len(classes), class_names=classes,
        mean=(mean,) * shape[0], std=(std,) * shape[0], needs_download=False, drawn=True,
    )


def info(*, input_shape=None, size=None, channels=None, train_count=DEFAULT_TRAIN,
         val_count=DEFAULT_VAL, **_ignored) -> DatasetInfo:
    return generated_info(NAME, "Shapes", CLASSES, "Coloured geometric figures",
                          resolve_geometry(input_shape, size, channels), train_count, val_count, MEAN, STD)


def _stream_seed(seed: int, split: str, stream: str = NAME) -> int:
    digest = hashlib.sha256(f"layerloom/{stream}/{split}/{int(seed)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


# -- the figures: each maps rotated unit coordinates (u, v), radius rho, angle phi to a mask ---

def _regular_polygon(rho, phi, sides: int, radius: float = 1.0):
    sector = 2 * math.pi / sides
    local = torch.remainder(phi, sector) - sector / 2
    return rho * torch.cos(local) <= radius * math.cos(math.pi / sides)


def _star(u, v, rho, phi, points: int = 5, inner: float = 0.45):
    sector = 2 * math.pi / points
    a = torch.remainder(phi, sector)
    a = torch.minimum(a, sector - a)                # fold into [0, sector/2]: tip at 0
    px, py = rho * torch.cos(a), rho * torch.sin(a)
    ix, iy = inner * math.cos(sector / 2), inner * math.sin(sector / 2)
    # inside when on the centre's side of the edge from the tip (1, 0) to the notch (ix, iy)
    ex, ey = ix - 1.0, iy
    return ex * py - ey * (px - 1.0) <= 0.0


def _mask(kind: int, u, v):
    rho = torch.sqrt(u * u + v * v)
    phi = torch.atan2(v, u)
    name = CLASSES[kind]
    if name == "circle":
        return rho <= 0.9
    if name == "square":
        return torch.maximum(u.abs(), v.abs()) <= 0.72
    if name == "triangle":
        return _regular_polygon(rho, phi, 3, 1.05)
    if name == "cross":
        arm, bar = 1.0, 0.27
        return ((u.abs() <= bar) & (v.abs() <= arm)) | ((v.abs() <= bar) & (u.abs() <= arm))
    if name == "ring":
        return (rho <= 1.0) & (rho >= 0.58)
    if name == "star":
        return _star(u, v, rho, phi)
    if name == "crescent":        # a disc with an offset disc cut out of it
        return (rho <= 0.95) & ((u - 0.42) ** 2 + v * v > 0.72 ** 2)
    if name == "ellipse":
        return (u / 0.95) ** 2 + (v / 0.48) ** 2 <= 1.0
    if name == "semicircle":
        return (rho <= 0.95) & (v >= -0.3)
    if name == "hourglass":       # two triangles meeting at their tips
        return (u.abs() <= v.abs() * 0.9) & (v.abs() <= 0.85)
    raise AssertionError(name)


def generate(count: int, *, channels: int = DEFAULT_CHANNELS, size=DEFAULT_SIZE,
             seed: int = 0, figures=None) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images (uint8 [N, C, H, W]) and their labels (int64 [N]), deterministic in seed.
    ``figures``, when given, replaces the ten classes: one function per class that maps rotated
    unit coordinates (u, v) to a mask, drawn in the same style (runtime/data/figures.py)."""
    h, w = (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))
    g = torch.Generator().manual_seed(int(seed))
    k = len(CLASSES) if figures is None else len(figures)
    labels = (torch.arange(count) % k)[torch.randperm(count, generator=g)]

    def rand(*shape):
        return torch.rand(*shape, generator=g)

    side = min(h, w)
    radius = side * (0.20 + 0.17 * rand(count))                     # circumradius in pixels
    cx = radius + rand(count) * (w - 2 * radius)
    cy = radius + rand(count) * (h - 2 * radius)
    theta = rand(count) * (2 * math.pi)
    fg = 0.55 + 0.45 * rand(count, channels)
    bg = 0.35 * rand(count, channels)
    dark_on_light = rand(count) < 0.5
    fg[dark_on_light], bg[dark_on_light] = 1 - fg[dark_on_light], 1 - bg[dark_on_light]
    shade = (rand(count, 2) - 0.5) * 0.3                             # background gradient

    ys = (torch.arange(h, dtype=torch.float32) + 0.5).view(1, h, 1)
    xs = (torch.arange(w, dtype=torch.float32) + 0.5).view(1, 1, w)
    out = torch.empty(count, channels, h, w, dtype=torch.uint8)
    chunk = max(1, CHUNK_PIXELS // (h * w * channels))
    for start in range(0, count, chunk):
        sl = slice(start, min(count, start + chunk))
        n = sl.stop - sl.start
        r = radius[sl].view(n, 1, 1)
        dx, dy = xs - cx[sl].view(n, 1, 1), ys - cy[sl].view(n, 1, 1)
        cos, sin = torch.cos(theta[sl]).view(n, 1, 1), torch.sin(theta[sl]).view(n, 1, 1)
        u, v = (dx * cos + dy * sin) / r, (dy * cos - dx * sin) / r
        mask = torch.zeros(n, h, w, dtype=torch.bool)
        lab = labels[sl]
        for kind in range(k):
            sel = torch.nonzero(lab == kind).flatten()
            if len(sel):
                mask[sel] = (_mask(kind, u[sel], v[sel]) if figures is None
                             else figures[kind](u[sel], v[sel]))
        gx = (xs / w - 0.5) * shade[sl, 0].view(n, 1, 1)
        gy = (ys / h - 0.5) * shade[sl, 1].view(n, 1, 1)
        background = bg[sl].view(n, channels, 1, 1) + (gx + gy).unsqueeze(1)
        m = mask.unsqueeze(1).to(torch.float32)
        image = background + (fg[sl].view(n, channels, 1, 1) - background) * m
        image += NOISE_STD * torch.randn(n, channels, h, w, generator=g)
        out[sl] = image.clamp_(0, 1).mul_(255).round_().to(torch.uint8)
    return out, labels.to(torch.int64)


def counts(train_count, val_count) -> tuple[int, int]:
    """The two splits' sizes, checked: whole numbers of images ("200" as a graph file may hold it)."""
    given = {"train_count": train_count, "val_count": val_count}
    return (whole_option(given, "train_count", DEFAULT_TRAIN, 1, MAX_COUNT),
            whole_option(given, "val_count", DEFAULT_VAL, 1, MAX_COUNT))


def load_generated(info: DatasetInfo, draw, seed: int, train_count, val_count) -> DataBundle:
    """Draw a generated set's two splits with `draw` (`generate`, or figures' `generate_figures`), each
    from a random stream of its own named after the set and the split."""
    c, h, w = info.sample_shape
    n_train, n_val = counts(train_count, val_count)
    if (n_train + n_val) * c * h * w > 4 * 1024 ** 3:    # both splits are held in memory
        raise DataError(f"{n_train:,} training and {n_val:,} validation {info.name} images of {c}×{h}×{w} would "
                        "take over 4 GB of memory: lower train_count, val_count or the image size.")
    x_tr, y_tr = draw(n_train, channels=c, size=(h, w), seed=_stream_seed(seed, "train", info.name))
    x_va, y_va = draw(n_val, channels=c, size=(h, w), seed=_stream_seed(seed, "val", info.name))
    return DataBundle(info=info, train=InMemorySplit(x_tr, y_tr), val=InMemorySplit(x_va, y_va))


def load(info: DatasetInfo, *, seed: int = 0, train_count=DEFAULT_TRAIN,
         val_count=DEFAULT_VAL, **_ignored) -> DataBundle:
    return load_generated(info, generate, seed, train_count, val_count)
