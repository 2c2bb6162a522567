"""ONNX's Slice of one dimension and Split become Narrow blocks: a ShuffleNet's `x.chunk(2, dim=1)` imports as
blocks that train, whichever exporter wrote it.

    Slice(x, starts=[s], ends=[e], axes=[k])    → Narrow(dim k, start, length)  (TorchScript's chunk)
    Split(x, axis=k, num_outputs=n or split)    → one Narrow per result           (the dynamo exporter's chunk)

A Slice's bounds are clamped as ONNX clamps them (negative ones count from the end, ends past the size stop at
it). Only a step of 1, one dimension after the batch, constant bounds and a size that shape inference or analysis
knows map so; any other Slice stays an Opaque block run by onnxruntime, and any other Split is refused as before.
"""
from __future__ import annotations

import math

import numpy as np


def _axis_and_size(builder, x: str, axis: int) -> tuple[int, int] | None:
    """(the axis counted from the front, the size of x along it) for an axis after the batch, else None."""
    shape = builder.shape_of(x) or []
    if not shape or not -len(shape) <= axis < len(shape) or axis % len(shape) == 0:
        return None
    axis %= len(shape)
    return (axis, shape[axis]) if shape[axis] else None


def _values(builder, node, index: int, a: dict, name: str):
    """A Slice's constant input `index` (opset 10 on), or its attribute `name` (before), as whole numbers; None
    where it is absent (an empty list) or not a constant (False)."""
    if builder.opset < 10:
        return list(a[name]) if name in a else None
    if len(node.input) <= index or not node.input[index]:
        return None
    value = builder.fold_value(node.input[index])
    return False if value is None else [int(v) for v in np.ravel(value)]


def narrow_of_slice(builder, node, a: dict) -> dict | None:
    """The Narrow block's settings for a Slice, or None (see the module docstring)."""
    starts, ends = _values(builder, node, 1, a, "starts"), _values(builder, node, 2, a, "ends")
    axes, steps = _values(builder, node, 3, a, "axes"), _values(builder, node, 4, a, "steps")
    if not starts or not ends or axes is False or steps is False or len(starts) != 1 or len(ends) != 1 or \
            (axes is not None and len(axes) != 1) or (steps is not None and steps != [1]):
        return None
    found = _axis_and_size(builder, node.input[0], axes[0] if axes else 0)
    if found is None:
        return None
    axis, size = found
    start, end = (min(max(v + size if v < 0 else v, 0), size) for v in (starts[0], ends[0]))
    return {"dim": axis, "start": start, "length": end - start} if end > start else None


def split_sizes(builder, node, a: dict) -> tuple[int, list[int]] | None:
    """(the axis, the size of each result) of a Split along one dimension after the batch, or None."""
    found = _axis_and_size(builder, node.input[0], int(a.get("axis", 0)))
    if found is None:
        return None
    axis, size = found
    if len(node.input) > 1 and node.input[1]:
        value = builder.fold_value(node.input[1])
        sizes = None if value is None else [int(v) for v in np.ravel(value)]
    elif "split" in a:
        sizes = [int(v) for v in a["split"]]
    elif "num_outputs" in a:       # opset 18: equal parts of ⌈size / n⌉, the last one smaller where they do not fit
        n = int(a["num_outputs"])
        part = math.ceil(size / n) if n > 0 else 0
        sizes = [part] * (n - 1) + [size - part * (n - 1)]
    else:
        n = len(node.output)
        sizes = [size // n] * n if size % n == 0 else None
    if sizes is None or len(sizes) != len(node.output) or sum(sizes) != size or min(sizes) < 1:
        return None
    return axis, sizes


def map_split(builder, node, a: dict) -> None:
    """A Narrow block for each result of a Split that the network reads."""
    axis, sizes = split_sizes(builder, node, a)
    start = 0
    for i, (out, length) in enumerate(zip(node.output, sizes)):
        if out and (builder.consumers.get(out) or out in builder.graph_outputs):
            builder.add(node, "Narrow", {"dim": axis, "start": start, "length": length}, [node.input[0]],
                        f"{builder.base(node)}_part{i}", out)
        start += length
