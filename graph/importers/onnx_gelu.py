"""GELU written out in elementary ONNX operators, as torch exports it before opset 20, found and mapped to one
GELU block.

    erf    Div(x, √2) → Erf → Add(·, 1) → TAIL                                  gives GELU(approximate="none")
    tanh   Pow(x, 3) or Mul(x, Mul(x, x)) → Mul(·, 0.044715) → Add(x, ·) → Mul(·, √(2/π)) → Tanh
           → Add(·, 1) → TAIL                                                 gives GELU(approximate="tanh")
    TAIL   Mul(x, ·) → Mul(·, 0.5)   (the TorchScript exporter)   or   Mul(·, 0.5) → Mul(x, ·)   (the dynamo one)

A match is strict, so that a formula which only looks like GELU keeps its meaning: each constant is one number
within 1e-6 of the formula's (relatively) and has no more dimensions than x (broadcasting would add some), the
operands of Add and Mul may come in either order, every branch reads the same x, and every value between the
first operator and the last feeds only the next one and is no output of the graph. Anything else maps operator
by operator as before.
"""
from __future__ import annotations

import math

import numpy as np

from .fx_import import ImportFailure
from .onnx_file import constant_value

_TOLERANCE = 1e-6
_CUBIC = 0.044715
_SQRT_2_OVER_PI = math.sqrt(2 / math.pi)


def _constant(builder, name: str):
    """The value of a constant, also one a Constant node later in the file gives; None for anything else."""
    value = builder.fold_value(name)
    producer = builder.producer.get(name)
    if value is None and producer is not None and producer.op_type == "Constant":
        try:
            value = constant_value(producer)
        except ImportFailure:            # the Constant itself says what is wrong with it when it is reached
            return None
    return value


def _is(builder, name: str, number: float, x: str) -> bool:
    """`name` is the constant `number` (within _TOLERANCE, relatively) and broadcasting it over x keeps x's shape."""
    value = _constant(builder, name)
    if value is None or np.size(value) != 1 or np.asarray(value).dtype.kind not in "fiu":
        return False
    if np.ndim(value) > len(builder.shapes.get(x) or []):      # a 1×1×1 constant would make a 2-d x 3-d
        return False
    return abs(float(np.ravel(value)[0]) - number) <= _TOLERANCE * abs(number)


def _other(node, value: str):
    """The input of a two-input operator besides `value`, which it reads once; None otherwise."""
    if len(node.input) != 2 or list(node.input).count(value) != 1:
        return None
    return node.input[1] if node.input[0] == value else node.input[0]


def _next(builder, node, op: str, test):
    """The one operator that reads `node`'s result, when it is an `op` with one result that passes `test(other
    input)`; None where the result is read by anything else, twice, or is an output of the graph."""
    value = node.output[0]
    users = builder.consumers.get(value, [])
    if len(users) != 1 or value in builder.graph_outputs or users[0].op_type != op or len(users[0].output) != 1:
        return None
    other = _other(users[0], value) if len(users[0].input) == 2 else None
    if len(users[0].input) == 2 and (other is None or not test(other)):
        return None
    return users[0]


def _chain(builder, node, steps: tuple) -> list | None:
    """The operators after `node` that follow `steps` ((op, test of the other input or None), ...), or None."""
    found = [node]
    for op, test in steps:
        step = _next(builder, found[-1], op, test or (lambda other: False))
        if step is None:
            return None
        found.append(step)
    return found[1:]


def _cube(builder, node) -> tuple[str, list] | None:
    """(x, the operators giving x³) where `node` starts them: Pow(x, 3), or Mul(x, x) then Mul(x, ·)."""
    if node.op_type == "Pow" and len(node.input) == 2 and len(node.output) == 1 and \
            _is(builder, node.input[1], 3.0, node.input[0]):
        return node.input[0], [node]
    if node.op_type == "Mul" and len(node.input) == 2 and node.input[0] == node.input[1] and len(node.output) == 1:
        x = node.input[0]
        then = _chain(builder, node, (("Mul", lambda other: other == x),))
        return (x, [node, *then]) if then else None
    return None


def gelu_steps(builder, node) -> tuple[str, list] | None:
    """(approximate, every operator of a written-out GELU, `node` first) where `node` starts one; None otherwise."""
    if node.op_type == "Div" and len(node.input) == 2 and len(node.output) == 1:
        x, approximate, head = node.input[0], "none", [node]
        if not _is(builder, node.input[1], math.sqrt(2), x):
            return None
        middle = (("Erf", None), ("Add", lambda other: _is(builder, other, 1.0, x)))
    else:
        cube = _cube(builder, node)
        if cube is None:
            return None
        (x, head), approximate = cube, "tanh"
        middle = (("Mul", lambda other: _is(builder, other, _CUBIC, x)), ("Add", lambda other: other == x),
                  ("Mul", lambda other: _is(builder, other, _SQRT_2_OVER_PI, x)), ("Tanh", None),
                  ("Add", lambda other: _is(builder, other, 1.0, x)))
    if x not in builder.produced:
        return None
    then = _chain(builder, head[-1], middle)
    if then is None:
        return None
    by_x, by_half = ("Mul", lambda other: other == x), ("Mul", lambda other: _is(builder, other, 0.5, x))
    tail = _chain(builder, then[-1], (by_x, by_half)) or _chain(builder, then[-1], (by_half, by_x))
    return (approximate, [*head, *then, *tail]) if tail else None


def map_gelu(builder, approximate: str, steps: list) -> None:
    """One GELU block for `steps` (from gelu_steps); the operators after the first are not mapped again."""
    first, last = steps[0], steps[-1]
    bid = builder.add(first, "GELU", {"approximate": approximate}, [first.input[0]], builder.base(first),
                      last.output[0])
    for step in steps[1:]:
        builder.skip.add(step.output[0])
        builder.nodes.append({"node": step.name, "op": step.op_type, "block": bid, "kind": None})
