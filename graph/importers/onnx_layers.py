"""ONNX operators that are torch layers: Gelu (opset 20), LayerNormalization (opset 17), Dropout and a layer scale.

    Gelu(x, approximate)                       → GELU(approximate)
    Dropout(x, ratio)                          → Dropout(p=ratio): nothing at evaluation, as in the file
    LayerNormalization(x, scale, bias, axis)   → LayerNorm(scale's shape, epsilon), its weight and bias
    Mul(constant C×1×1, x N×C×H×W)             → LayerScale, the constant its weight (ConvNeXt's layer scale)

(GELU written out in elementary operators, as torch exports it before opset 20, is onnx_gelu.py's.)

A LayerNormalization whose axis reaches the batch, or whose scale does not cover every dimension from the
axis on, has no block and runs as an Opaque block through onnxruntime, saying why.
"""
from __future__ import annotations

import numpy as np

from .onnx_opaque import opaque_operator

OPERATORS = ("Gelu", "LayerNormalization", "Dropout")


def _text(value, default: str) -> str:
    return value.decode() if isinstance(value, bytes) else str(value) if value is not None else default


def layer_scale(builder, node) -> tuple[str, str] | None:
    """(the constant, the network's tensor) of a Mul that scales each channel of an image by a constant C×1×1."""
    if len(node.input) != 2:
        return None
    for weight, x in (node.input, node.input[::-1]):
        value, shape = builder.fold_value(weight), builder.shapes.get(x) or []
        if value is not None and x in builder.produced and np.ndim(value) == 3 and \
                tuple(np.shape(value)[1:]) == (1, 1) and len(shape) == 4 and shape[1] == np.shape(value)[0]:
            return weight, x
    return None


def map_layer(builder, node, a) -> None:
    """Map one of OPERATORS, or a layer scale, to its block (see the module docstring)."""
    x = node.input[0]
    if node.op_type == "Mul":
        weight, x = layer_scale(builder, node)
        base = weight if weight in builder.inits and "." in weight else builder.base(node)   # features.1.0.layer_scale
        builder.add(node, "LayerScale", {}, [x], base, node.output[0],
                    {"weight": np.asarray(builder.fold_value(weight), dtype=np.float32)})
        return
    if node.op_type == "Dropout":
        return _dropout(builder, node, a)
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


def _dropout(builder, node, a) -> None:
    """A Dropout block with the file's ratio: the `ratio` attribute before opset 12, the `ratio` input (when
    a constant) from 12 on, 0.5 where neither is given. A Dropout whose mask the network reads, or whose
    ratio it computes, has no block."""
    x = node.input[0]
    ratio = a.get("ratio", 0.5) if builder.opset < 12 else 0.5
    if builder.opset >= 12 and len(node.input) > 1 and node.input[1]:
        value = builder.fold_value(node.input[1])
        if value is None or np.size(value) != 1:
            return opaque_operator(builder, node, a, why="no block computes a Dropout whose ratio the network "
                                                         "computes from its input")
        ratio = np.ravel(value)[0]
    mask = node.output[1] if len(node.output) > 1 else ""
    if mask and (builder.consumers.get(mask) or mask in builder.graph_outputs):
        return opaque_operator(builder, node, a, why="no block gives a Dropout's mask")
    ratio = float(ratio)
    if not 0.0 <= ratio <= 1.0:
        return opaque_operator(builder, node, a, why=f"no block computes a Dropout of ratio {ratio:g} (a Dropout "
                                                     "block drops with a probability from 0 to 1)")
    builder.add(node, "Dropout", {"p": ratio}, [x], builder.base(node), node.output[0])
