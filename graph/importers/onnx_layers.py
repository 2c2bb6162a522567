"""ONNX operators of newer opsets that are torch layers: Gelu (opset 20) and LayerNormalization (opset 17).

    Gelu(x, approximate)                       → GELU(approximate)
    LayerNormalization(x, scale, bias, axis)   → LayerNorm(scale's shape, epsilon), its weight and bias

A LayerNormalization whose axis reaches the batch, or whose scale does not cover every dimension from the
axis on, has no block and runs as an Opaque block through onnxruntime, saying why.
"""
from __future__ import annotations

import numpy as np

from .onnx_opaque import opaque_operator

OPERATORS = ("Gelu", "LayerNormalization")


def _text(value, default: str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value) if value is not None else default


def map_layer(builder, node, a) -> None:
    """Map one of OPERATORS to its block (see the module docstring)."""
    x = node.input[0]
    if node.op_type == "Gelu":
        approximate = _text(a.get("approximate"), "none")
        if approximate not in ("none", "tanh"):
            return opaque_operator(builder, node, a, why=f"no block computes Gelu with approximate={approximate!r}")
        builder.add(node, "GELU", {"approximate": approximate}, [x], builder.base(node), node.output[0])
        return
    scale = np.asarray(builder.const(node.input[1]))
    bias = node.input[2] if len(node.input) > 2 and node.input[2] else None
    axis, rank = int(a.get("axis", -1)), len(builder.shapes.get(x) or [])
    covered = -axis if axis < 0 else (rank - axis if rank else None)
    if covered != scale.ndim or (rank and axis % rank == 0) or len(node.output) != 1:
        why = (f"no block computes a LayerNormalization over axis {axis} with a scale of shape {list(scale.shape)} "
               "(a LayerNorm normalises each sample over its last dimensions, which its weight covers)")
        return opaque_operator(builder, node, a, why=why)
    params = {"normalized_shape": [int(d) for d in scale.shape], "eps": float(a.get("epsilon", 1e-5)),
              "elementwise_affine": True, "bias": bias is not None}
    tensors = {"weight": scale, **({"bias": np.asarray(builder.const(bias))} if bias else {})}
    builder.add(node, "LayerNorm", params, [x], builder.base(node, node.input[1]), node.output[0], tensors)
