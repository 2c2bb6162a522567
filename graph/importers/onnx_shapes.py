"""Sizes an ONNX file states indirectly: the sample shape of a file Layerloom exported with its sequence
length left free, and the padding a Conv's auto_pad asks for.
"""
from __future__ import annotations

import json


def fix_free_sizes(model) -> tuple | None:
    """A file Layerloom exported with a sequence length left free (the "steps" axis) names its sample shape
    in its metadata (`input_shape`): the input takes that shape, and shapes are inferred again from it, so the
    mapping sees every size. Returns (the free dims, the shape) where it did, else None; other files keep
    their shapes (a free size after the batch is refused with what to do)."""
    inputs = [i for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    meta = {p.key: p.value for p in model.metadata_props}
    if len(inputs) != 1 or "input_shape" not in meta:
        return None
    dims = inputs[0].type.tensor_type.shape.dim
    try:
        sample = json.loads(meta["input_shape"])
    except ValueError:
        return None
    free = [i for i, d in enumerate(dims) if i and not d.HasField("dim_value")]
    if not free or not isinstance(sample, list) or len(sample) != len(dims) - 1 or not all(
            isinstance(v, int) and not isinstance(v, bool) and 0 < v <= 2**31 for v in sample) or any(
            d.HasField("dim_value") and d.dim_value != sample[i - 1] for i, d in enumerate(dims) if i):
        return None
    for i in free:
        dims[i].dim_value = sample[i - 1]
    del model.graph.value_info[:]
    for out in model.graph.output:             # their free sizes follow from the input's, inferred again
        out.type.tensor_type.ClearField("shape")
    return ", ".join(map(str, free)), "×".join(map(str, sample))


def conv_pads(a: dict, kernel) -> list | None:
    """A Conv's padding per spatial dimension (the same on both sides), from `pads` or `auto_pad`; None where
    one side gets more than the other, which a Conv block cannot do."""
    auto = a.get("auto_pad", b"NOTSET")
    auto = auto.decode() if isinstance(auto, bytes) else str(auto)
    n = len(kernel)
    if auto == "NOTSET":
        pads = list(a.get("pads") or [0] * (2 * n))
        return pads[:n] if pads[:n] == pads[n:] else None
    if auto == "VALID":
        return [0] * n
    dilations = list(a.get("dilations") or [1] * n)
    total = [d * (k - 1) for d, k in zip(dilations, kernel)]
    if auto not in ("SAME_UPPER", "SAME_LOWER") or set(a.get("strides") or [1]) != {1} or any(t % 2 for t in total):
        return None
    return [t // 2 for t in total]
