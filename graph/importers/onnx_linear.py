"""ONNX Gemm and MatMul as Linear blocks, an Add of a learned table as a PositionEmbedding, and the check
that no tensor of the file becomes the weights of two blocks.

    Gemm(x, B, C)                    → Linear (B transposed unless transB), C its bias when C broadcasts to
                                       one row (N, 1×N or one number); a C with a row per sample runs in onnxruntime
    MatMul(x, W) → Add(·, b)         → Linear with the bias b, when b is N or 1×…×1×N and adds no dimension
    MatMul(x, W)                     → Linear without a bias; another constant added after it is a block of its own:
    Add(x N×T×E, P T×E or 1×T×E)     → PositionEmbedding (P its embedding, as ViT's)
    Add(x, any other constant)       → an Opaque block run by onnxruntime (onnx_opaque.py)

A block owns its weights. Two blocks that would hold the same tensor (a Linear called twice, weights tied
even through a transposed copy, or two equal tensors that the exporter merged into one: ONNX cannot tell
these apart) would hold two copies that train apart, so the import stops saying so, as the model.py and
.pt2 routes do. A tensor whose values are all one number (a fresh BatchNorm's ones and zeros, a layer
scale's 1e-6) is copied: the exporters merge such tensors in every freshly made model, and each copy
starts out the same.
"""
from __future__ import annotations

import numpy as np

from ..quoting import shown
from .onnx_opaque import opaque_operator
from .report import ImportFailure

_VIEWS = ("Transpose", "Cast", "Reshape", "Unsqueeze", "Squeeze")   # a weight read through one of these is its own


def _where(node) -> str:
    return f"the {node.op_type} {shown(node.name, 80)}" if node.name else \
        f"the {node.op_type} that gives {shown(node.output[0], 80)}"


def _source(builder, name: str) -> str:
    """The tensor of the file behind `name`: through a Transpose, Cast or reshaping of a constant."""
    seen = 0
    while name not in builder.file_tensors and seen < 8:
        node = builder.producer.get(name)
        if node is None or node.op_type not in _VIEWS or not node.input:
            break
        name, seen = node.input[0], seen + 1
    return name


def claim(builder, bid: str, node, tensors: dict, names=()) -> None:
    """Record that block `bid` (mapped from `node`) holds `tensors` ({key: array}) as its weights, read from
    the file's values `names`; raise ImportFailure where another block holds one of them already, the same
    tensor of the file or one equal to it (a Linear tied to an Embedding reads a transposed copy)."""
    for key, value in tensors.items():
        value = np.asarray(value)
        if not np.issubdtype(value.dtype, np.floating) or value.size < 2 or np.all(value == value.flat[0]):
            continue
        value = np.ascontiguousarray(value, dtype=np.float32)
        owner = builder.owners.setdefault((value.shape, value.tobytes()), (bid, node, key))
        if owner[0] == bid:
            continue
        source = next((_source(builder, n) for n in names if n and _source(builder, n) in builder.file_tensors and
                       np.size(builder.inits.get(_source(builder, n))) == value.size), None)
        held = shown(source, 60) if source else f"{owner[0]}.{owner[2]} and {bid}.{key} are equal"
        raise ImportFailure(
            f"{_where(owner[1])} and {_where(node)} use the same weights ({held}): a layer called twice, tied "
            "weights, or two equal tensors the exporter merged into one. Layerloom blocks own their weights, so "
            "they would have to become two blocks with separate copies that train apart; import the model's "
            "model.py or .pt2 instead (a shared part in a submodule of its own imports as one Opaque block), or "
            "give each call its own layer and export it again")


def _row_bias(c, n: int):
    """C as a bias of n values where it adds the same row to every sample (N, 1×N, 1, 1×1, a number), else None."""
    c = np.asarray(c)
    if c.ndim > 2 or (c.ndim == 2 and c.shape[0] != 1) or (c.ndim and c.shape[-1] not in (1, n)):
        return None
    return np.broadcast_to(c.reshape(c.shape[-1:]), (n,))


def map_gemm(builder, node, a) -> None:
    x = node.input[0]
    if float(a.get("alpha", 1.0)) != 1.0 or float(a.get("beta", 1.0)) != 1.0 or a.get("transA", 0):
        raise ImportFailure(f"{node.name}: Gemm with alpha, beta or transA has no block")
    w = builder.const(node.input[1])
    w = w if a.get("transB", 0) else w.T
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    tensors = {"weight": w}
    if bias:
        tensors["bias"] = _row_bias(builder.const(bias), w.shape[0])
        if tensors["bias"] is None:
            return opaque_operator(builder, node, a, why="no block computes a Gemm whose C of shape "
                                                         f"{list(np.shape(builder.const(bias)))} adds a different "
                                                         "row to each sample")
    builder.add(node, "Linear", {"in_features": w.shape[1], "out_features": w.shape[0], "bias": bias is not None},
                [x], builder.base(node, node.input[1]), node.output[0], tensors)


def _bias_input(builder, node, add) -> str | None:
    """The constant input of `add` (the one user of MatMul `node`) where it is a bias of the Linear."""
    if add.op_type != "Add" or len(add.input) != 2 or node.output[0] in builder.graph_outputs:
        return None
    name = next((i for i in add.input if i != node.output[0]), None)
    value = builder.fold_value(name) if name else None
    if value is None or not np.issubdtype(np.asarray(value).dtype, np.floating):
        return None
    n = builder.const(node.input[1]).shape[1]
    rank = len(builder.shapes.get(node.output[0]) or builder.shapes.get(node.input[0]) or [None, None])
    shape = np.shape(value)
    fits = len(shape) >= 1 and shape[-1] == n and all(d == 1 for d in shape[:-1]) and len(shape) <= rank
    return name if fits else None


def map_matmul(builder, node, a) -> None:
    """MatMul(x, W) with a 2-d constant W, and the Add of a bias after it where there is one."""
    w = builder.const(node.input[1]).T
    users = builder.consumers.get(node.output[0], [])
    bias = _bias_input(builder, node, users[0]) if len(users) == 1 else None
    tensors, out = {"weight": w}, node.output[0]
    if bias is not None:
        tensors["bias"] = np.asarray(builder.const(bias)).reshape(-1)
        builder.skip.add(users[0].output[0])
        out = users[0].output[0]
    bid = builder.add(node, "Linear", {"in_features": w.shape[1], "out_features": w.shape[0], "bias": bias is not None},
                      [node.input[0]], builder.base(node, node.input[1]), out, tensors)


def position_table(builder, node) -> tuple[str, str] | None:
    """(the constant, the network's tensor) of an Add of a T×E (or 1×T×E) constant to an N×T×E tensor."""
    if len(node.input) != 2:
        return None
    for table, x in (node.input, node.input[::-1]):
        value = builder.fold_value(table)
        shape = builder.shape_of(x) if x in builder.produced else None
        if value is not None and shape and len(shape) == 3 and None not in shape[1:] and \
                np.issubdtype(np.asarray(value).dtype, np.floating) and np.ndim(value) in (2, 3) and \
                tuple(np.shape(value)[-2:]) == tuple(shape[1:]) and (np.ndim(value) == 2 or np.shape(value)[0] == 1):
            return table, x
    return None


def map_position(builder, node) -> None:
    table, x = position_table(builder, node)
    value = np.asarray(builder.fold_value(table))
    length, dim = np.shape(value)[-2:]
    base = table if table in builder.file_tensors else builder.base(node)
    builder.add(node, "PositionEmbedding", {"length": int(length), "embed_dim": int(dim)}, [x], base, node.output[0],
                {"embedding": value.reshape(1, length, dim)})
