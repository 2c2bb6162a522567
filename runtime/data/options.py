"""Numeric data-set options read from the data settings or `--data-option KEY=VALUE`: each is checked
against its range and named in the message when it does not fit, instead of a bare Python error
("invalid literal for int()") or a value that silently empties the data (max_length=0)."""
from __future__ import annotations

import math

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
