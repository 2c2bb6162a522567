"""Does a data set fit a graph? Plain-words mismatches between samples, Input and outputs."""

from __future__ import annotations

import math

from .base import DatasetInfo, format_shape


def _as_list(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(int(s)) for s in shape) + "]"


def effective_sample_shape(info: DatasetInfo, resize=None) -> tuple[int, ...]:
    """The shape a sample has after the data settings' Resize (when one is set)."""
    shape = tuple(int(s) for s in info.sample_shape)
    if resize and len(shape) == 3:
        hw = (int(resize),) * 2 if isinstance(resize, int) else tuple(int(s) for s in resize)
        return (shape[0], *hw)
    return shape


def _shape_message(info: DatasetInfo, input_shape: tuple[int, ...], sample: tuple[int, ...]) -> str:
    wanted, given = format_shape(input_shape), format_shape(sample)
    head = f"Input expects {wanted} but {info.name} gives {given}"
    is_image = len(sample) == 3
    if len(input_shape) == 1 and math.prod(input_shape) == math.prod(sample) and len(sample) > 1:
        return (f"{head}: set the Input shape to {_as_list(sample)} and put a Flatten right "
                "after the Input")
    if is_image and len(input_shape) == 3 and input_shape[0] == sample[0]:
        return (f"{head}: set the Input shape to {_as_list(sample)} or add a Resize to "
                f"{input_shape[1]}×{input_shape[2]} in the data settings")
    if is_image and len(input_shape) == 3:
        kind = {1: "grayscale", 3: "RGB"}.get(sample[0], f"{sample[0]}-channel")
        return (f"{head} ({kind} images have {sample[0]} channel{'s' if sample[0] != 1 else ''}): "
                f"set the Input shape to {_as_list(sample)}")
    return f"{head}: set the Input shape to {_as_list(sample)}"


def check_compatibility(info: DatasetInfo, input_shape: tuple[int, ...] | None,
                        num_outputs: int | None, *, resize=None) -> list[str]:
    """Mismatch messages between ``info`` and a graph; an empty list when they fit.

    ``input_shape`` is the graph Input's shape without the batch dimension; ``num_outputs`` is
    the size of the graph's last output (None when unknown); ``resize`` is the (height, width)
    of the data settings' Resize, if any.
    """
    problems = []
    if input_shape is not None and info.variable_length:
        if len(input_shape) != len(info.sample_shape):
            problems.append(f"{info.name} gives sequences of token ids (one dimension, any length) but the "
                            f"Input expects {format_shape(tuple(input_shape))}: set the Input shape to "
                            f"{_as_list(info.sample_shape)} (the length is a nominal one for the shapes shown)")
    elif input_shape is not None:
        wanted = tuple(int(s) for s in input_shape)
        sample = effective_sample_shape(info, resize)
        if wanted != sample:
            problems.append(_shape_message(info, wanted, sample))
    if num_outputs is not None and info.num_classes > 0 and int(num_outputs) != info.num_classes:
        noun = "output" if int(num_outputs) == 1 else "outputs"
        problems.append(
            f"The graph ends in {int(num_outputs)} {noun} but {info.name} has "
            f"{info.num_classes} classes: set the last Linear's out_features to {info.num_classes}"
        )
    return problems
