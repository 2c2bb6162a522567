"""A program's own tensors used directly, and a LayerNorm over channels written out, as blocks (.pt2 route).

torch.export records a module's tensor (`self.layer_scale`) as one more input of the calls that use it,
and ConvNeXt's LayerNorm2d as the three calls it makes. Two patterns become the blocks the torch.fx route
gives the same model:

    aten.mul(layer_scale, x)   (C×1×1 times N×C×H×W)                      → LayerScale (its `weight`)
    permute(x, [0, 2, 3, 1]) → layer_norm(·, [C]) → permute(·, [0, 3, 1, 2]) → LayerNorm2d

Any other use of a tensor of the program stops the import in words: no block holds a bare parameter.
"""
from __future__ import annotations

from .fx_import import _NeedsOpaque, _parent

TO_CHANNELS_LAST, TO_CHANNELS_FIRST = [0, 2, 3, 1], [0, 3, 1, 2]


def program_tensors(builder, node) -> list:
    """The arguments of `node` that are tensors of the program (weights, buffers, constants)."""
    return [a for a in node.args if getattr(a, "op", "") == "placeholder" and a.name in builder.fqn]


def tensor_call(builder, node) -> None:
    """Map a call that takes a tensor of the program directly (see the module docstring), or raise."""
    found = program_tensors(builder, node)
    args = list(node.args)
    if builder.name_of(node) == "mul" and len(args) == 2 and len(found) == 1 and not node.kwargs:
        weight = found[0]
        other = args[1] if args[0] is weight else args[0]
        shape, image = builder.info[weight][1], builder.info.get(other, ("", ()))[1]
        if other in builder.out_of and len(shape) == 3 and tuple(shape[1:]) == (1, 1) and len(image) == 4 and \
                image[1] == shape[0]:
            fqn, tensor = builder.owned_weight(node, weight, "layer scale")
            bid = builder.add(node, "LayerScale", {}, [other], fqn, _parent(fqn))
            builder.state[f"{bid}.weight"] = tensor.detach().clone()
            builder.out_of[node] = bid
            return
    fqn = builder.fqn[found[0].name]
    owner, _, name = fqn.rpartition(".")
    raise _NeedsOpaque(owner, f"it uses its own tensor {name!r} directly in {node.target} (no block holds a bare "
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
