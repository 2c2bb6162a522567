"""Tensors a module uses directly, and picking one step: the vision-transformer patterns as blocks.

A module's own tensor (a `get_attr` in the traced graph) has no block of its own; three uses of one are
blocks of graph/blocks_tokens.py:

    torch.cat([self.class_token.expand(n, -1, -1), x], dim=1)   → ClassToken   (its `token`)
    x + self.pos_embedding                                      → PositionEmbedding (its `embedding`)
    self.layer_scale * x   (C×1×1 times N×C×H×W)                → LayerScale (its `weight`; ConvNeXt's)

and `x[:, 0]` (one position of one dimension) is a Select. Any other use of a module's tensor makes
that module one Opaque block, as before.
"""
from __future__ import annotations

import torch
from torch import fx


def _flat(values):
    for v in values:
        if isinstance(v, (list, tuple)):
            yield from _flat(v)
        elif isinstance(v, dict):
            yield from _flat(v.values())
        else:
            yield v


def uses_tensor_attribute(builder, node) -> bool:
    return any(isinstance(a, fx.Node) and (a in builder.attrs or a in builder.expanded)
               for a in _flat([node.args, node.kwargs]))


def bare_tensor(builder, attr_node):
    """Raise: the module that owns this tensor must stay whole."""
    from .fx_import import _NeedsOpaque, _parent
    name = builder.attrs.get(attr_node) or builder.expanded.get(attr_node)
    raise _NeedsOpaque(_parent(name), f"it uses its own tensor {name.rpartition('.')[2]!r} directly "
                                      "(no block holds a bare parameter)")


def _tensor(builder, name: str) -> torch.Tensor:
    owner, _, attr = name.rpartition(".")
    module = builder.model.get_submodule(owner) if owner else builder.model
    return getattr(module, attr).detach().clone()


def _claim(builder, attr_node, name: str) -> None:
    """A tensor becomes one block's weights once; a second use would silently copy it."""
    if name in builder.claimed:
        bare_tensor(builder, attr_node)
    builder.claimed.add(name)


def _learned(builder, node, kind: str, key: str, attr_node, tensor_name: str, source) -> None:
    """A block of `kind` on `source` whose weight `key` is the module's tensor `tensor_name`."""
    from .fx_import import _parent
    _claim(builder, attr_node, tensor_name)
    bid = builder.add(node, kind, {}, [source], tensor_name, _parent(tensor_name))
    builder.state[f"{bid}.{key}"] = _tensor(builder, tensor_name)
    builder.out_of[node] = bid


def token_call(builder, node, name: str) -> None:
    """Map a call that uses a module's tensor (see the module docstring), or raise _NeedsOpaque."""
    from .fx_import import _op_text
    if not hasattr(builder, "claimed"):
        builder.claimed = set()
    args = list(node.args)
    if name == "expand" and args and args[0] in builder.attrs:
        shape = builder.info[args[0]][1]
        if len(shape) == 3 and shape[:2] == (1, 1) and all(a == -1 for a in args[2:]) and len(args) == 4:
            builder.expanded[node] = builder.attrs[args[0]]
            builder.report_nodes.append({"node": node.name, "op": _op_text(node), "block": None, "kind": None})
            return
    if name in ("cat", "concat") and args and isinstance(args[0], (list, tuple)) and len(args[0]) == 2:
        first, rest = args[0]
        dim = args[1] if len(args) > 1 else node.kwargs.get("dim", 0)
        if first in builder.expanded and rest in builder.out_of and dim == 1 and \
                len(builder.info[rest][1]) == 3:
            return _learned(builder, node, "ClassToken", "token", first, builder.expanded[first], rest)
    if name == "add" and len(args) == 2 and not node.kwargs:
        attr = next((a for a in args if a in builder.attrs), None)
        other = next((a for a in args if a is not attr), None)
        if attr is not None and other in builder.out_of:
            shape, seq = builder.info[attr][1], builder.info[other][1]
            if len(shape) == 3 and shape[0] == 1 and len(seq) == 3 and tuple(shape[1:]) == tuple(seq[1:]):
                return _learned(builder, node, "PositionEmbedding", "embedding", attr, builder.attrs[attr], other)
    if name == "mul" and len(args) == 2 and not node.kwargs:      # ConvNeXt's `self.layer_scale * x`
        attr = next((a for a in args if a in builder.attrs), None)
        other = next((a for a in args if a is not attr), None)
        if attr is not None and other in builder.out_of:
            shape, image = builder.info[attr][1], builder.info[other][1]
            if len(shape) == 3 and shape[1:] == (1, 1) and len(image) == 4 and image[1] == shape[0]:
                return _learned(builder, node, "LayerScale", "weight", attr, builder.attrs[attr], other)
    bare_tensor(builder, next(a for a in _flat([node.args, node.kwargs])
                              if isinstance(a, fx.Node) and (a in builder.attrs or a in builder.expanded)))


def select_of(index) -> tuple[int, int] | None:
    """(dim, index) of `x[:, 0]`-style indexing: full slices and one whole number after the batch."""
    if not isinstance(index, tuple):
        return None
    full = slice(None, None, None)
    picks = [(d, i) for d, i in enumerate(index) if i != full]
    if len(picks) != 1 or picks[0][0] == 0 or not isinstance(picks[0][1], int) or isinstance(picks[0][1], bool):
        return None
    return picks[0]
