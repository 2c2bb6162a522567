"""ONNX Gather on axis 0: a lookup in a table of rows (an Embedding), or a pick of samples of the batch.

    Gather(W, ids)   W a constant V×D table, ids token ids       → Embedding(V, D)
    Gather(W, ids)   W a constant of V rows of any other shape    → Embedding(V, prod(row)), then Reshape
                     (to the ids' sample shape and the row's: from the file, else from the blocks before it)
    Gather(x, k)     x a tensor of the network: picks samples of the batch → refused, saying so

Picking samples by position is what no block does (each handles one sample, and a graph runs on any batch
size, where sample k may not exist); a table of integers has no Embedding (its rows are learned
floating-point weights) and an Opaque block computes on floating-point values. Both are refused in words
that say what to change.
"""
from __future__ import annotations

import math

import numpy as np

from .onnx_opaque import opaque_operator
from .report import ImportFailure

BATCH_PICK = ("the Gather {name}: Gather on axis 0 of a tensor of the network picks samples of the batch by their "
              "position (x[i]); a graph's blocks handle each sample on its own and run on any batch size, so no "
              "block does this: pick within each sample (x[:, i]), or leave the pick out of the model and make it "
              "on its results, then export again")
INT_TABLE = ("the Gather {name}: Gather on axis 0 looks rows up in a table of {dtype} values; an Embedding block's "
             "rows are floating-point weights: store the table as float32 (or look the values up outside the "
             "model), then export again")


UNKNOWN_IDS = ("the Gather {name}: Gather on axis 0 looks rows of {row} up in a table, which becomes an Embedding "
               "then a Reshape that puts each row back in shape; the Reshape needs the shape of the ids ({ids}) after "
               "the batch, which neither the file nor the blocks before it give (sizes the file leaves open, or an "
               "operator before it that Layerloom cannot run): export the model with fixed sizes after the batch "
               "(only the batch dynamic), then import again")


def _sample_shape(builder, name: str) -> list | None:
    """The shape after the batch of the network's tensor `name`: from the file's shapes, else from analysing the
    blocks built so far (a Reshape to a size computed in the file has no shape there); None when neither knows."""
    sample = (builder.shapes.get(name) or [None])[1:]
    if sample and None not in sample:
        return list(sample)
    from ..analysis import analyze
    block = analyze(builder.doc).blocks.get(builder.produced.get(name))
    shape = getattr(block, "output_shape", None)
    return list(shape) if shape is not None and all(isinstance(d, int) for d in shape) else None


def gather_axis(builder, node, a) -> int:
    """The axis a Gather takes along, counted from the front (its table's rank read from the file or the constant)."""
    axis, rank = int(a.get("axis", 0)), len(builder.shapes.get(node.input[0]) or [])
    if axis < 0 and builder.fold_value(node.input[0]) is not None and node.input[0] not in builder.produced:
        rank = np.ndim(builder.fold_value(node.input[0]))
    return axis % rank if axis < 0 and rank else axis


def gather_rows(builder, node, attrs: dict) -> None:
    """Map a Gather on axis 0 (see the module docstring); raises ImportFailure as opaque_operator does."""
    table_name, ids = node.input[0], node.input[1]
    table = None if table_name in builder.produced else builder.fold_value(table_name)
    if table is None:
        raise ImportFailure(BATCH_PICK.format(name=node.name))
    table = np.asarray(table)
    if table.dtype.kind != "f":
        raise ImportFailure(INT_TABLE.format(name=node.name, dtype=table.dtype))
    if ids not in builder.produced or table.ndim < 1 or table.shape[0] < 1:
        return opaque_operator(builder, node, attrs)
    row = tuple(int(d) for d in table.shape[1:])
    width = math.prod(row)
    weights = {"weight": table.reshape(table.shape[0], width)}
    params = {"num_embeddings": int(table.shape[0]), "embedding_dim": width}
    if table.ndim == 2:
        builder.add(node, "Embedding", params, [ids], builder.base(node, table_name), node.output[0], weights)
        return
    sample = _sample_shape(builder, ids)          # the ids' sample shape puts the rows back in shape
    if sample is None:
        raise ImportFailure(UNKNOWN_IDS.format(name=node.name, row="×".join(map(str, row)), ids=ids))
    if not [*sample, *row]:
        return opaque_operator(builder, node, attrs)
    mid = node.output[0] + "#rows"
    builder.add(node, "Embedding", params, [ids], builder.base(node, table_name), mid, weights)
    builder.add(node, "Reshape", {"shape": [*sample, *row]}, [mid], builder.base(node) + "_rows", node.output[0])
