"""In-place calls whose change another part of the model reads: those cannot become blocks.

Blocks never change their inputs, so `y = conv(x); z = relu_(y); out = y + z` imported as blocks
would add the convolution's output to its ReLU, where the model adds the ReLU to itself. An in-place
call is a block only when nothing reads the tensor it changes (or a view of that tensor) after it;
otherwise `in_place_problem` says why, and the module that makes the call stays whole.
"""
from __future__ import annotations

import operator

from torch import fx

_OPERATORS = {operator.iadd, operator.isub, operator.imul, operator.itruediv, operator.ifloordiv, operator.ipow,
              operator.iand, operator.ior, operator.ixor, operator.imod}
# calls whose result shares its input's memory: a change to one is a change to the other
_VIEWS = {"view", "view_as", "reshape", "flatten", "unflatten", "permute", "transpose", "t", "contiguous", "detach",
          "getitem", "expand", "expand_as", "squeeze", "unsqueeze", "narrow", "select", "chunk", "split", "unbind",
          "as_strided", "movedim", "swapaxes", "swapdims"}


def _name(node: fx.Node) -> str:
    if node.op == "call_method":
        return str(node.target)
    if node.target is operator.getitem:
        return "getitem"
    return getattr(node.target, "__name__", str(node.target))


def _is_in_place(node: fx.Node, module) -> bool:
    if node.op == "call_module":
        return getattr(module, "inplace", False) is True and "Dropout" not in type(module).__name__
    if node.kwargs.get("inplace") is True:
        return "dropout" not in _name(node)      # dropout in evaluation changes nothing
    if node.op == "call_function" and node.target in _OPERATORS:
        return True
    name = _name(node)
    return node.op in ("call_function", "call_method") and name.endswith("_") and not name.startswith("_")


def _aliases(node: fx.Node) -> set[fx.Node]:
    """`node` and every node that shares its memory through views, up to the base and down again."""
    base = node
    while base.op in ("call_function", "call_method") and _name(base) in _VIEWS and base.args and \
            isinstance(base.args[0], fx.Node):
        base = base.args[0]
    found, todo = set(), [base]
    while todo:
        n = todo.pop()
        if n in found:
            continue
        found.add(n)
        todo += [u for u in n.users if u.op in ("call_function", "call_method") and _name(u) in _VIEWS
                 and u.args and u.args[0] is n]
    return found


def in_place_problem(node: fx.Node, module, order: dict) -> str | None:
    """Why an in-place call cannot be a block (its change is read afterwards), or None."""
    if node.op not in ("call_module", "call_function", "call_method") or not _is_in_place(node, module):
        return None
    changed = node.args[0] if node.args else None
    if not isinstance(changed, fx.Node):
        return None
    group = _aliases(changed)
    for alias in group:
        for user in alias.users:
            if user is not node and user not in group and order.get(user, -1) > order[node]:
                what = f"module {node.target}" if node.op == "call_module" else _name(node)
                return f"its in-place {what} changes a tensor that is read again afterwards (by {user.name})"
    return None
