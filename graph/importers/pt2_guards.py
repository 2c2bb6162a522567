"""Two kinds of text in a .pt2 program that torch turns into Python: guards and call targets.

torch.export keeps `guards_code`, conditions on the input's sizes such as
`(L['x'].size()[1] // 2) != 1`, and when the program becomes a module (`program.module()`) torch
pastes each into Python source that it runs with `exec`. A call's target ("torch.ops.aten.relu.default")
is looked up attribute by attribute from torch, `operator` or `math`, so "torch.serialization.os.system"
would name a function of the standard library. Layerloom reads a .pt2 only when

  - each guard is arithmetic and comparisons on the input's sizes (L['name'].size()[i], .stride()[i]),
    numbers, and the shape functions torch writes (Max, Min, floor, ...), checked on its syntax tree;
  - each target is an operator of torch.ops, `operator` or `math`, without private names.
"""
from __future__ import annotations

import ast
import re

GUARD_CHARS = 10_000
GUARD_FUNCTIONS = {"Max", "Min", "Abs", "floor", "ceiling", "FloorDiv", "Mod", "CleanDiv", "CeilDiv", "sym_max",
                   "sym_min", "sym_float", "sym_int", "int", "float", "max", "min", "abs"}
SIZE_METHODS = {"size", "stride", "storage_offset", "dim", "numel"}
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
TARGET = re.compile(r"torch\.ops\.[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*){1,2}|(_operator|math)\.[a-z][a-z_]*")
_OPS = (ast.Expression, ast.BoolOp, ast.And, ast.Or, ast.BinOp, ast.Add, ast.Sub, ast.Mult, ast.Div, ast.FloorDiv,
        ast.Mod, ast.Pow, ast.UnaryOp, ast.USub, ast.UAdd, ast.Not, ast.Compare, ast.Eq, ast.NotEq, ast.Lt, ast.LtE,
        ast.Gt, ast.GtE, ast.Load)


def plain_target(text: str) -> bool:
    return bool(TARGET.fullmatch(text)) and "__" not in text


def plain_guard(text: str) -> bool:
    """Whether `text` is a guard of sizes only (see the module docstring); parsing never runs it."""
    if not isinstance(text, str) or len(text) > GUARD_CHARS or not text.isascii() or not text.isprintable():
        return False
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    try:
        return _plain(tree)
    except RecursionError:
        return False


def _plain(node) -> bool:
    if isinstance(node, ast.Constant):
        return type(node.value) in (int, float, bool)
    if isinstance(node, ast.Subscript):            # L['x'], or L['x'].size()[1]
        index = node.slice
        if isinstance(node.value, ast.Name) and node.value.id == "L":
            return isinstance(index, ast.Constant) and isinstance(index.value, str) \
                and bool(NAME.fullmatch(index.value))
        return isinstance(index, ast.Constant) and type(index.value) is int and _sizes(node.value)
    if isinstance(node, ast.Call):
        if node.keywords:
            return False
        if _sizes(node):
            return True
        func = node.func
        named = isinstance(func, ast.Name) and func.id in GUARD_FUNCTIONS or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "math"
            and func.attr in {"floor", "ceil", "trunc"})
        return named and all(_plain(a) for a in node.args)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):     # a power of a power grows without bound:
        nested = any(isinstance(n, ast.BinOp) and isinstance(n.op, ast.Pow) for n in ast.walk(node.left))
        return not nested and _plain(node.left) and isinstance(node.right, ast.Constant) \
            and type(node.right.value) is int and 0 <= node.right.value <= 64     # (((9**64)**64)**64)**64 hangs
    if not isinstance(node, _OPS):
        return False
    return all(_plain(child) for child in ast.iter_child_nodes(node))


def _sizes(node) -> bool:
    """L['x'].size() (or .stride(), ...) with no arguments, or L['x'].size(1)."""
    return (isinstance(node, ast.Call) and not node.keywords and isinstance(node.func, ast.Attribute)
            and node.func.attr in SIZE_METHODS and isinstance(node.func.value, ast.Subscript)
            and isinstance(node.func.value.value, ast.Name) and node.func.value.value.id == "L"
            and _plain(node.func.value)
            and all(isinstance(a, ast.Constant) and type(a.value) is int for a in node.args))
