"""A program's own tensors used directly, and a LayerNorm over channels written out, as blocks (.pt2 route).

torch.export records a module's tensor (`self.layer_scale`) as one more input of the calls that use it,
and ConvNeXt's LayerNorm2d as the three calls it makes. Two patterns become the blocks the torch.fx route
gives the same model:

    aten.mul(layer_scale, x)   (C×1×1 times N×C×H×W)                      → LayerScale (its `weight`)
    aten.cat([class_token.expand(N, -1, -1), x], 1)                        → ClassToken (its `token`)
    aten.add(x, pos_embedding)  (N×S×D plus 1×S×D)                           → PositionEmbedding (its `embedding`)
    permute(x, [0, 2, 3, 1]) → layer_norm(·, [C]) → permute(·, [0, 3, 1, 2]) → LayerNorm2d

Any other use of a tensor of the program stops the import in words: no block holds a bare parameter.
"""
from __future__ import annotations

from .fx_import import _NeedsOpaque, _parent

TO_CHANNELS_LAST, TO_CHANNELS_FIRST = [0, 2, 3, 1], [0, 3, 1, 2]


def program_tensors(builder, node) -> list:
    """The arguments of `node` (also within a list, as cat's) that are tensors of the program (weights, buffers,
    constants), or a class token expanded over the batch."""
    args = [a for arg in node.args for a in (arg if isinstance(arg, (list, tuple)) else [arg])]
    tokens = builder.expanded_tokens
    return [a for a in args if (getattr(a, "op", "") == "placeholder" and a.name in builder.fqn) or a in tokens]


def _learned(builder, node, kind: str, key: str, weight, source) -> None:
    """A block of `kind` on `source` whose tensor `key` is the program's tensor `weight` (a placeholder)."""
    fqn, tensor = builder.owned_weight(node, weight, key)
    bid = builder.add(node, kind, {}, [source], fqn, _parent(fqn))
    builder.state[f"{bid}.{key}"] = tensor.detach().clone()
    builder.out_of[node] = bid


def tensor_call(builder, node) -> None:
    """Map a call that takes a tensor of the program directly (see the module docstring), or raise."""
    found = program_tensors(builder, node)
    args, name = list(node.args), builder.name_of(node)
    tokens = builder.expanded_tokens
    weight = found[0]
    other = next((a for a in args if a is not weight), None) if len(args) == 2 else None
    shape = builder.info.get(weight, ("", ()))[1]
    seen = builder.info.get(other, ("", ()))[1] if other is not None else ()
    if len(found) == 1 and not node.kwargs and other in builder.out_of:
        if name == "mul" and len(shape) == 3 and tuple(shape[1:]) == (1, 1) and len(seen) == 4 and \
                seen[1] == shape[0]:
            return _learned(builder, node, "LayerScale", "weight", weight, other)
        if name == "add" and len(shape) == 3 and shape[0] == 1 and len(seen) == 3 and \
                tuple(shape[1:]) == tuple(seen[1:]):
            return _learned(builder, node, "PositionEmbedding", "embedding", weight, other)
    if name == "expand" and weight not in tokens and len(shape) == 3 and tuple(shape[:2]) == (1, 1) and \
            len(args) == 2 and list(args[1])[1:] == [-1, -1]:
        tokens[node] = weight                     # the token over the batch: the cat that uses it is the block
        builder.report_nodes.append({"node": node.name, "op": str(node.target), "block": None, "kind": None})
        return
    pieces = args[0] if args and isinstance(args[0], (list, tuple)) else ()
    if name == "cat" and len(pieces) == 2 and pieces[0] in tokens and pieces[1] in builder.out_of and \
            (args[1] if len(args) > 1 else 0) == 1 and len(builder.info[pieces[1]][1]) == 3:
        return _learned(builder, node, "ClassToken", "token", tokens[pieces[0]], pieces[1])
    weight = tokens.get(weight, weight)
    fqn = builder.fqn[weight.name]
    owner, _, attr = fqn.rpartition(".")
    raise _NeedsOpaque(owner, f"it uses its own tensor {attr!r} directly in {node.target} (no block holds a bare "
                              "parameter)")


def _only_user(node):
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _dims(node) -> list | None:
    dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dims")
    return list(dims) if isinstance(dims, (list, tuple)) else None


def norm_over_channels(builder, graph) -> dict:
    """{node: role} for each permute → layer_norm → permute that normalises the channels of an N×C×H×W
    tensor: "in" (the first permute, passed over), "norm" (becomes the LayerNorm2d block), "out" (its result)."""
    roles: dict = {}
    for first in graph.nodes:
        if first.op != "call_function" or builder.name_of(first) != "permute" or _dims(first) != TO_CHANNELS_LAST:
            continue
        shape = builder.info.get(first, ("", ()))[1]
        norm = _only_user(first)
        if len(shape) != 4 or norm is None or builder.name_of(norm) != "layer_norm" or norm.args[0] is not first:
            continue
        normalized = norm.args[1] if len(norm.args) > 1 else norm.kwargs.get("normalized_shape")
        last = _only_user(norm)
        if list(normalized or ()) != [shape[3]] or last is None or builder.name_of(last) != "permute" or \
                last.args[0] is not norm or _dims(last) != TO_CHANNELS_FIRST:
            continue
        roles.update({first: "in", norm: "norm", last: "out"})
    return roles


def norm_step(builder, node, entry, role: str, read) -> None:
    """One step of a LayerNorm over channels found by norm_over_channels."""
    if role == "norm":
        builder.layer_call(node, entry, (read, 0, {"weight": 2, "bias": 3}))
        return
    if node.args[0] not in builder.out_of:
        raise _NeedsOpaque(_parent(str(node.target)), "an input that is not a tensor of the network")
    builder.out_of[node] = builder.out_of[node.args[0]]
    builder.report_nodes.append({"node": node.name, "op": str(node.target), "block": builder.out_of[node],
                                 "kind": None})
