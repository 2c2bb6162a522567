"""ONNX pooling and BatchNormalization as blocks, chosen by the kernel's and the input's rank.

    MaxPool, a kernel of 1 or 2 dims                          → MaxPool1d / MaxPool2d
    AveragePool, a 2-d kernel                                 → AvgPool2d
    AveragePool, a 1-d kernel (N×C×L)                         → Reshape C×1×L → AvgPool2d (1×k) → Reshape C×L'
    GlobalAveragePool / GlobalMaxPool of N×C×H×W              → AdaptiveAvgPool2d(1) / AdaptiveMaxPool2d(1)
    GlobalAveragePool / GlobalMaxPool of N×C×… of another rank → Reshape C×1×(…) → that pool → Reshape C×1×…×1
    BatchNormalization of N×C, N×C×L / N×C×H×W                → BatchNorm1d / BatchNorm2d
    BatchNormalization of N×C×D×H×W (or more dims)            → Reshape C×(D·H·W) → BatchNorm1d → Reshape back

The Reshapes around a block are exact, in training as in evaluation: pooling 1×k windows of C×1×L is
pooling k-windows of C×L, and a channel's batch statistics over D, H and W are those over their product.
A pool over 3 or more dims (or one whose input's shape the file does not give) has no block: it runs as
an Opaque block through onnxruntime, saying so.
"""
from __future__ import annotations

import math

from .onnx_opaque import opaque_operator
from .report import ImportFailure


def one_value(v):
    v = list(v)
    return v[0] if len(set(v)) == 1 else v


def symmetric_pads(pads, n) -> list:
    pads = list(pads or [0] * (2 * n))
    if pads[:n] != pads[n:]:
        raise ImportFailure(f"asymmetric padding {pads} has no block")
    return pads[:n]


def _sample(builder, name: str) -> list | None:
    """One sample's shape of a value (without the batch), or None where the file does not give all of it."""
    shape = builder.shape_of(name)
    return list(shape[1:]) if shape and None not in shape[1:] else None


def _wrapped(builder, node, kind, params, x, base, inner: list, outer: list, tensors=None) -> None:
    """Reshape x to `inner`, apply `kind`, reshape its result to `outer`: one ONNX operator, three blocks."""
    out, bid = node.output[0], builder.new_id(base)      # the block's own id first: its Reshapes are named after it
    builder.add(node, "Reshape", {"shape": inner}, [x], bid + "_in", out + "#in")
    bid = builder.add(node, kind, params, [out + "#in"], bid, out + "#block", tensors)
    builder.add(node, "Reshape", {"shape": outer}, [out + "#block"], bid + "_out", out)


def pool_fits(node, a) -> bool:
    """Whether a MaxPool or AveragePool can be a pool block: no SAME padding, no dilated average, and no
    indices asked for (map_pool still sends a pool over 3 or more dims to onnxruntime)."""
    return a.get("auto_pad", b"NOTSET") in (b"NOTSET", b"VALID") and len(node.output) == 1 and \
        (node.op_type == "MaxPool" or set(a.get("dilations", [1])) == {1})


def map_pool(builder, node, a) -> None:
    """A MaxPool or AveragePool (pool_fits), or a GlobalAveragePool or GlobalMaxPool, as blocks."""
    op, x = node.op_type, node.input[0]
    if op in ("GlobalAveragePool", "GlobalMaxPool"):
        return _global_pool(builder, node, a)
    k = list(a["kernel_shape"])
    n = len(k)
    if n not in (1, 2):
        return opaque_operator(builder, node, a, why=f"no block computes a {op} over {n} dimensions")
    params = {"kernel_size": one_value(k), "stride": one_value(a.get("strides", [1] * n)),
              "padding": one_value(symmetric_pads(a.get("pads"), n)), "ceil_mode": bool(a.get("ceil_mode", 0))}
    if op == "MaxPool":
        params["dilation"] = one_value(a.get("dilations", [1] * n))
        return builder.add(node, f"MaxPool{n}d", params, [x], builder.base(node), node.output[0])
    params["count_include_pad"] = bool(a.get("count_include_pad", 0))
    if n == 2:
        return builder.add(node, "AvgPool2d", params, [x], builder.base(node), node.output[0])
    sample = _sample(builder, x)        # no AvgPool1d block: AvgPool2d over a 1×L image of each channel
    if sample is None or len(sample) != 2:
        return opaque_operator(builder, node, a, why=f"no block computes an {op} with a 1-d kernel of an input "
                                                     "whose shape the file does not give as N×C×L")
    params = {**params, "kernel_size": [1, k[0]], "stride": [1, one_value(a.get("strides", [1]))],
              "padding": [0, params["padding"]]}
    _wrapped(builder, node, "AvgPool2d", params, x, builder.base(node), [sample[0], 1, sample[1]], [sample[0], -1])


def _global_pool(builder, node, a) -> None:
    op, x = node.op_type, node.input[0]
    kind = "AdaptiveAvgPool2d" if op == "GlobalAveragePool" else "AdaptiveMaxPool2d"
    sample = _sample(builder, x)
    if sample is not None and len(sample) == 3:
        return builder.add(node, kind, {"output_size": 1}, [x], builder.base(node), node.output[0])
    if sample is None or len(sample) < 2:
        return opaque_operator(builder, node, a, why=f"no block computes a {op} of an input whose shape the file "
                                                     "does not give (N×C and at least one more dimension)")
    channels = sample[0]
    _wrapped(builder, node, kind, {"output_size": 1}, x, builder.base(node),
             [channels, 1, math.prod(sample[1:])], [channels] + [1] * (len(sample) - 1))


def map_batch_norm(builder, node, a) -> None:
    """A BatchNormalization (inference form: one result) as a BatchNorm block, by the input's rank."""
    x = node.input[0]
    scale, bias, mean, var = (builder.const(i) for i in node.input[1:5])
    params = {"num_features": scale.shape[0], "eps": float(a.get("epsilon", 1e-5)),
              "momentum": round(1.0 - float(a.get("momentum", 0.9)), 6)}
    tensors = {"weight": scale, "bias": bias, "running_mean": mean, "running_var": var}
    base = builder.base(node, node.input[1])
    rank = len(builder.shapes.get(x) or [0, 0, 0, 0])
    if rank in (2, 3, 4):
        return builder.add(node, "BatchNorm2d" if rank == 4 else "BatchNorm1d", params, [x], base, node.output[0],
                           tensors)
    sample = _sample(builder, x)
    if sample is None or len(sample) < 4:
        return opaque_operator(builder, node, a, why="no block computes a BatchNormalization of an input of "
                                                     f"rank {rank}")
    _wrapped(builder, node, "BatchNorm1d", params, x, base, [sample[0], -1], sample, tensors)
