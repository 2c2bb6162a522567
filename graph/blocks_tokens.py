"""Block kinds of vision transformers: a learned class token, learned position embeddings, and taking
one step of a sequence (ViT reads its prediction from the class token's step, `x[:, 0]`).

The two learned kinds are small torch modules of Layerloom's own (graph/token_modules.py, imported
when first built), so the compiled graph and the generated code hold their weights like any layer's.
"""
from __future__ import annotations

from .lazy_torch import ModuleRef
from .blocks import DIMS_RULE, BlockKind, _auto_text, _features_from, register
from .params import AUTO, Param
from .problems import count, fix_auto
from .rules import RuleError


def _sequence(name: str, shapes) -> None:
    if len(shapes[0]) != 2:
        raise RuleError(f"{name} needs a sequence of vectors (T×E per sample), but receives "
                        + ("×".join(map(str, shapes[0])) or "a scalar")
                        + ". Reshape and Permute an image's patches into T×E first.", "rank")


def _class_check(shapes, p) -> None:
    _sequence("ClassToken", shapes)
    if p["embed_dim"] != shapes[0][1]:
        raise RuleError(f"ClassToken holds a vector of length {p['embed_dim']} but the input's steps have "
                        f"{count(shapes[0][1], 'feature')} (input {shapes[0][0]}×{shapes[0][1]}): set embed_dim to "
                        f"{shapes[0][1]} or to \"auto\".", "features", fix_auto("embed_dim"))


def _position_from(name: str, shape):
    if not shape:
        return AUTO
    return shape[0] if name == "length" else shape[-1]


def _position_check(shapes, p) -> None:
    _sequence("PositionEmbedding", shapes)
    if tuple(shapes[0]) != (p["length"], p["embed_dim"]):
        held = f"{count(p['length'], 'position')} of {count(p['embed_dim'], 'value')} each"
        raise RuleError(f"PositionEmbedding holds {held} (length×embed_dim {p['length']}×{p['embed_dim']}) but "
                        f"receives {shapes[0][0]}×{shapes[0][1]}: set length and embed_dim to \"auto\" (or to "
                        f"{shapes[0][0]} and {shapes[0][1]}).", "shape")


def _select(call, inputs, p):
    return inputs[0].select(p["dim"], p["index"])


def sample_dim_size(name: str, shape, dim: int) -> int:
    """The size of dimension `dim` (torch's numbering on the batched tensor) of a sample of `shape`; raises
    RuleError where dim is the batch or outside the sample."""
    rank = len(shape)
    if dim == 0 or not -rank <= (dim - 1 if dim > 0 else dim) < rank:
        raise RuleError(f"{name}'s dim {dim} is not a dimension of a {'×'.join(map(str, shape))} sample "
                        + DIMS_RULE, "dim")
    return shape[dim - 1 if dim > 0 else dim]


def _select_check(shapes, p) -> None:
    shape, dim, index = shapes[0], p["dim"], p["index"]
    size = sample_dim_size("Select", shape, dim)
    if not -size <= index < size:
        where = ("0 (or −1)" if size == 1
                 else f"a value between 0 and {size - 1} (or between −1 and −{size} from the end)")
        raise RuleError(f"Select's index {index} is outside dim {dim} of a sample of shape "
                        f"{'×'.join(map(str, shape))}, "
                        f"which has {size} position{'' if size == 1 else 's'}: set index to {where}.", "index")


register(BlockKind(
    "ClassToken", "Attention",
    "Puts one learned vector in front of each sequence (ViT's class token); a classifier later reads the "
    "prediction from that step.",
    params=(Param("embed_dim", "int", AUTO, "length of each vector (the input's last dimension)", min=1,
                  max=1_000_000, auto=True),),
    formula="y = [c; x₀; x₁; …]   (T×E → (T+1)×E, c learned)",
    module=ModuleRef("layerloom.graph.token_modules", "ClassToken"), auto_from=_features_from,
    label=lambda p: f"+1 × {_auto_text(p['embed_dim'])}",
    check=_class_check, id_prefix="cls",
    code=lambda p: ("from layerloom.graph.token_modules import ClassToken", f"ClassToken({p['embed_dim']!r})"),
))

register(BlockKind(
    "PositionEmbedding", "Attention",
    "Adds a learned vector to each position of a sequence, so attention can tell the positions apart "
    "(ViT's position embedding).",
    params=(Param("length", "int", AUTO, "positions in the sequence (T)", min=1, max=1_000_000, auto=True),
            Param("embed_dim", "int", AUTO, "length of each vector (E)", min=1, max=1_000_000, auto=True)),
    formula="y[t] = x[t] + P[t]   (P learned, T×E)",
    module=ModuleRef("layerloom.graph.token_modules", "PositionEmbedding"), auto_from=_position_from,
    check=_position_check, id_prefix="pos",
    label=lambda p: f"{_auto_text(p['length'])}×{_auto_text(p['embed_dim'])}",
    code=lambda p: ("from layerloom.graph.token_modules import PositionEmbedding",
                    f"PositionEmbedding({p['length']!r}, {p['embed_dim']!r})"),
))

register(BlockKind(
    "Select", "Shape",
    "Keeps one position of a dimension and drops that dimension, e.g. the class token's step of a T×E "
    "sequence (x[:, 0]) gives E.",
    params=(Param("dim", "int", 1, "the dimension to pick from " + DIMS_RULE, min=-8, max=8),
            Param("index", "int", 0, "which position (−1: the last)", min=-1_000_000, max=1_000_000)),
    formula="y = x[:, …, index, …]   (the dimension dim is removed)",
    forward=_select, check=_select_check, input_dtype="any",
    label=lambda p: f"dim {p['dim']} [{p['index']}]",
))
