"""Data-set options read from the data settings or `--data-option KEY=VALUE` (numbers, sizes, paths, column
names): each is checked against its type and range and named in the message when it does not fit, instead of a
bare Python error ("invalid literal for int()", "unhashable type") or a value that silently empties the data
(max_length=0)."""
from __future__ import annotations

import math
import os

from .base import DataError


def _number(value):
    """A number written as text ("200", as a hand-written graph file may hold it) read as a number."""
    if isinstance(value, str):
        try:
            return float(value) if any(c in value.lower() for c in ".en") else int(value)
        except ValueError:
            return value
    return value


def whole_option(options: dict, name: str, default: int, low: int, high: int) -> int:
    value = _number(options.get(name, default))
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise DataError(f"{name}={value!r:.40} does not fit: give a whole number from {low:,} to {high:,} "
                        f"(default {default:,}).")
    return value


def fraction_option(options: dict, name: str, default: float) -> float:
    value = _number(options.get(name, default))
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not 0.0 < value < 1.0):
        raise DataError(f"{name}={value!r:.40} does not fit: give a fraction between 0 and 1, such as {default}.")
    return float(value)


def number_option(options: dict, name: str, default: float, low: float, high: float) -> float:
    value = _number(options.get(name, default))
    if (isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
            or not low <= value <= high):
        raise DataError(f"{name}={value!r:.40} does not fit: give a number from {low} to {high} (default {default}).")
    return float(value)


def path_option(options: dict, name: str = "path"):
    """The file or folder option as given (text or a path), None when it is not set; any other value (a
    number, a list: `--data-option path=[1]`) is named with what to give."""
    value = options.get(name)
    if value is None or isinstance(value, os.PathLike):
        return value
    if not isinstance(value, str) or "\0" in value:
        raise DataError(f"{name}={value!r:.40} does not fit: give the path of a file or folder as text, or "
                        "choose it in the data settings.")
    return value


def text_option(options: dict, name: str, default: str) -> str:
    """A name such as a CSV column: text, or a whole number (`--data-option label_column=2020` reads as JSON)
    taken as its digits."""
    value = options.get(name, default)
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise DataError(f"{name}={value!r:.40} does not fit: give a column name from the file's header line, "
                        f"such as {default!r}.")
    return value


def side_count(value):
    """A whole number of pixels or channels from a number or its text ("12", 12.0), else None."""
    value = _number(value)
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        value = int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def size_option(options: dict, name: str = "size") -> tuple[int, int] | None:
    """(height, width) from one side (28, "28") or [height, width] ([28, 28]); None when not set. The range
    is the data set's to check (with its own limits); a value that is no size at all is named here (a text
    "12" was once read as 1×2, [8, 8, 8] and "abc" ended in a traceback)."""
    value = options.get(name)
    if value is None:
        return None
    sides = [value] * 2 if not isinstance(value, (list, tuple)) else list(value)
    if len(sides) == 2:
        h, w = (side_count(s) for s in sides)
        if h is not None and w is not None:
            return h, w
    raise DataError(f"{name}={value!r:.40} does not fit: give one side in pixels (28) or [height, width] "
                    "([28, 28]).")

