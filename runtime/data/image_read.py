"""One picture from disk, as the image-folder set and `layerloom explain --image` read it.

Pillow decodes it; then it is turned upright by its EXIF orientation (phone photos are stored sideways
with a tag that says how to turn them, and viewers follow the tag), 16- and 32-bit grey levels are scaled
to 8 bits, and ``ToSample`` converts it to 1 or 3 channels and resizes it. A picture with more than
``PIL.Image.MAX_IMAGE_PIXELS`` pixels (89,478,485 unless changed: about 9,459 × 9,459) is refused with a
message that names it, whether Pillow would only have warned of a decompression bomb (up to twice that)
or refused it itself: reading a picture turns that warning into an error for the whole process
(`refuse_bomb_warnings`). Every failure is a DataError that names the file and says what to do.
"""
from __future__ import annotations

import warnings

from contextlib import contextmanager

import numpy as np
import torch

from layerloom.graph.quoting import shown

from .base import DataError

ORIENTATION = 0x0112           # the EXIF tag; 5 to 8 turn the picture a quarter, so width and height swap
SIXTEEN_BIT = ("I;16", "I;16L", "I;16B", "I;16N")
# Pillow converts L*a*b* colours to RGB (as its colour-management module does, to sRGB) but not straight
# to grayscale, so a LAB image goes to RGB first. Modes it converts to neither are named in the message.
UNCONVERTIBLE = {"La": "grey levels with premultiplied transparency (La mode)"}


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


def quoted(value) -> str:
    """A path, folder name or error text from disk, escaped for a one-line message (a class folder
    may be called "\x1b[2Jcats", a file name may hold a newline)."""
    return shown(str(value), 300)


def _too_large(path) -> DataError:
    from PIL import Image
    return DataError(f"The image {quoted(path)} has more pixels than Pillow reads safely (at most "
                     f"{Image.MAX_IMAGE_PIXELS:,}): shrink or remove it.")


def _not_convertible(path, what: str) -> DataError:
    which = f"The image {quoted(path)}" if path else "An image"
    return DataError(f"{which} holds {what}, which Layerloom cannot turn into RGB or grayscale: save it as an RGB "
                     "image and choose it again.")


def _unreadable(path, exc: BaseException) -> DataError:
    if isinstance(exc, PermissionError):
        return DataError(f"The image {quoted(path)} cannot be read (permission denied): make it readable or move it "
                         "out of the folder.")
    return DataError(f"The image {quoted(path)} cannot be read ({quoted(exc)}): remove or replace it.")


def refuse_bomb_warnings() -> None:
    """Make Pillow's DecompressionBombWarning an error, process-wide, as Pillow's documentation suggests for
    pictures from untrusted places: it would otherwise print a raw warning on the terminal and decode a
    picture of up to twice the limit. A filter put first once, not `warnings.catch_warnings` around every
    read, which would swap the process's filter list from several threads at once and, by resetting the
    warning registries, print every once-only warning again for each picture read."""
    from PIL import Image

    first = warnings.filters[0] if warnings.filters else None
    if not (first and first[0] == "error" and first[2] is Image.DecompressionBombWarning and first[1] is None):
        warnings.filterwarnings("error", category=Image.DecompressionBombWarning)


def _check_pixels(path, image) -> None:
    """Refuse a picture over the limit before decoding it (what the filter above makes Pillow do, kept
    here too for a filter list another thread has swapped for a moment)."""
    from PIL import Image

    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and image.size[0] * image.size[1] > limit:
        raise _too_large(path)


@contextmanager
def _reading(path):
    """Pillow's errors while opening or decoding `path` as DataErrors that name it. Above MAX_IMAGE_PIXELS
    Pillow only warns, up to twice that: here the warning refuses the picture as the error does, so one
    documented limit holds."""
    from PIL import Image, UnidentifiedImageError

    refuse_bomb_warnings()
    try:
        yield
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _too_large(path) from None
    except UnidentifiedImageError:
        raise DataError(f"The file {quoted(path)} is not an image Pillow can read (empty, damaged or another kind "
                        "of file): remove or replace it.") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise _unreadable(path, exc) from None


def _orientation(image, decoded: bool = True) -> int:
    """The EXIF orientation (1: upright as stored). Metadata that cannot be parsed counts as upright: the
    pixels are still good. A PNG may keep its EXIF after the pixels, where reading it decodes the whole
    picture: before decoding (`decoded` False) one without EXIF in its header counts as upright."""
    try:
        if not decoded and image.format == "PNG" and "exif" not in image.info:
            return 1
        return int(image.getexif().get(ORIENTATION, 1) or 1)
    except Exception:               # noqa: BLE001 (any parser error in damaged metadata: keep it as stored)
        return 1


def image_size(path) -> tuple[int, int]:
    """(height, width) of the picture at `path` as read_image gives it (EXIF orientation applied), from its
    header only: Pillow opens files lazily, so this is cheap for any size."""
    from PIL import Image

    with _reading(path):
        with Image.open(path) as image:
            _check_pixels(path, image)
            width, height = image.size
            turned = _orientation(image, decoded=False) in (5, 6, 7, 8)
    return (width, height) if turned else (height, width)


def read_image(path) -> "Image.Image":
    """The image at `path`, decoded and upright (EXIF orientation), with 16-bit grey levels scaled to 8 bits
    (Pillow's own conversion clips them: every level above 255 became white); a file Pillow cannot read,
    or one larger than Pillow reads safely, is a DataError naming it (picklable for workers)."""
    from PIL import Image, ImageOps

    with _reading(path):
        image = Image.open(path)
        _check_pixels(path, image)
        image.load()
        if _orientation(image) != 1:
            image = ImageOps.exif_transpose(image)
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
            raise DataError(f"The image {quoted(path)} holds floating-point levels from {low:.4g} to {high:.4g}; "
                            "Layerloom reads them from 0 (black) to 1 (white): rescale it to that range, or save "
                            "it as an 8- or 16-bit image.")
        levels = levels * 255.0
    elif not (0 <= low and high <= 255):
        raise DataError(f"The image {quoted(path)} holds 32-bit levels from {low:,.0f} to {high:,.0f}, and its white "
                        "is not written in it: save it as an 8- or 16-bit image.")
    return Image.fromarray(np.rint(levels).astype(np.uint8), mode="L")
