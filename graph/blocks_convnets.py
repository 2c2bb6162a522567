"""Block kinds of compact and modern convolutional networks: a slice of one dimension (ShuffleNet V2 splits
its channels in two with `x.chunk(2, dim=1)`), a channel shuffle (ShuffleNet's, torch.nn.ChannelShuffle),
LayerNorm over the channels of each pixel and a learned scale per channel (ConvNeXt's block: depthwise
Conv2d, LayerNorm2d, Linear, GELU, Linear, layer scale, residual Add).

They register into the same registry as `blocks.py`; the two learned kinds are torch modules of Layerloom's
own (graph/convnet_modules.py, imported when first built), computing exactly what torchvision's do.
"""
from __future__ import annotations

from .blocks import DIMS_RULE, BlockKind, _auto_text, _channels_from, register
from .blocks_tokens import sample_dim_size
from .lazy_torch import ModuleRef, nn
from .params import AUTO, Param
from .problems import count, fix_auto
from .rules import RuleError

_MODULES = "layerloom.graph.convnet_modules"


def _narrow(call, inputs, p):
    return inputs[0].narrow(p["dim"], p["start"], p["length"])


def _narrow_check(shapes, p) -> None:
    shape, dim, start, length = shapes[0], p["dim"], p["start"], p["length"]
    size = sample_dim_size("Narrow", shape, dim)
    first = start + size if start < 0 else start
    shown = "×".join(map(str, shape))
    where = f"of dim {dim}, but that dimension of a {shown} sample has {count(size, 'position')} (0 to {size - 1})"
    if not 0 <= first < size:
        raise RuleError(f"Narrow starts at {start}, outside the positions {where}: set start between 0 and "
                        f"{size - 1} (or between −1 and −{size} from the end).", "index")
    if first + length > size:
        advice = (f"lower start or length so that start + length is at most {size}" if start >= 0 else
                  f"lower length to at most {size - first}, or start further from the end")
        raise RuleError(f"Narrow keeps {count(length, 'position')} from position {first} {where}: {advice}.",
                        "index")


def _narrow_label(p: dict) -> str:
    """`dim 1 [0:58]`, as Python slices it (`[-3:]` for the last three)."""
    end = p["start"] + p["length"]
    return f"dim {p['dim']} [{p['start']}:{'' if p['start'] < 0 and end == 0 else end}]"


def _channels_check(name: str, param: str):
    def check(shapes, p) -> None:
        channels = p[param]
        if shapes and shapes[0] and isinstance(channels, int) and channels != shapes[0][0]:
            raise RuleError(f"{name} holds {count(channels, 'channel')} but receives "
                            f"{count(shapes[0][0], 'channel')} (input {'×'.join(map(str, shapes[0]))}): set {param} "
                            f"to {shapes[0][0]} or to \"auto\".", "channels", fix_auto(param))
    return check


def _code(name: str, *params: str):
    return lambda p: (f"from {_MODULES} import {name}", f"{name}(" + ", ".join(f"{k}={p[k]!r}" for k in params) + ")")


register(BlockKind(
    "Narrow", "Shape",
    "Keeps length consecutive positions of one dimension, from start on, e.g. the first half of the channels "
    "(ShuffleNet V2 splits its channels in two and works on one half).",
    params=(Param("dim", "int", 1, "the dimension to cut " + DIMS_RULE, min=-8, max=8),
            Param("start", "int", 0, "the first position kept (−1: the last)", min=-1_000_000, max=1_000_000),
            Param("length", "int", 1, "how many positions are kept", min=1, max=1_000_000)),
    formula="y = x[:, …, start : start + length, …]   (the dimension dim shrinks to length)",
    forward=_narrow, check=_narrow_check, input_dtype="any", key_params=("dim", "start", "length"),
    label=_narrow_label,
))


def _shuffle_check(shapes, p) -> None:
    shape, groups = shapes[0], p["groups"]
    if len(shape) < 2:
        raise RuleError(f"ChannelShuffle needs channels and at least one more dimension per sample (C×L or C×H×W) "
                        f"but receives {'×'.join(map(str, shape)) or 'a scalar'}: put it after a convolution.",
                        "rank")
    if shape[0] % groups:
        fit = max(k for k in range(1, min(groups, shape[0]) + 1) if shape[0] % k == 0)
        fix = {"action": "set_param", "param": "groups", "value": fit, "label": f"Set groups to {fit}"}
        raise RuleError(f"ChannelShuffle deals {count(shape[0], 'channel')} into {groups} groups, but {shape[0]} is "
                        f"not a multiple of {groups} (input {'×'.join(map(str, shape))}): set groups to a number "
                        f"that divides {shape[0]}.", "bad_param", fix)


register(BlockKind(
    "ChannelShuffle", "Shape",
    "Interleaves the channels of its groups: with 2 groups, channels 0 1 2 | 3 4 5 become 0 3 1 4 2 5, so the "
    "next grouped convolution sees channels of every group (ShuffleNet's channel shuffle).",
    params=(Param("groups", "int", 2, "how many groups the channels are dealt from (must divide the channels)",
                  min=1, max=65536),),
    formula="y[k·g + i] = x[i·(C/g) + k]   (g groups, i < g, k < C/g)",
    module=nn.ChannelShuffle, check=_shuffle_check, id_prefix="shuffle", key_params=("groups",), input_dtype="any",
    label=lambda p: f"{p['groups']} groups",
))

register(BlockKind(
    "LayerNorm2d", "Normalization",
    "Normalises the channels of every pixel of an image (C×H×W) to mean 0 and variance 1, then scales and "
    "shifts each channel; unlike BatchNorm2d it does not depend on the batch (ConvNeXt's LayerNorm2d).",
    params=(
        Param("normalized_shape", "int", AUTO, "channels of the input", min=1, max=1_000_000, auto=True),
        Param("eps", "float", 1e-5, "added to the variance for stability (more than 0)", min=1e-12, max=1.0),
        Param("elementwise_affine", "bool", True, "learn a scale and shift per channel"),
        Param("bias", "bool", True, "learn the shift"),
    ),
    formula="y[c, i, j] = (x[c, i, j] − E_c[x[·, i, j]]) / √(Var_c[x[·, i, j]] + eps) · γ[c] + β[c]",
    module=ModuleRef(_MODULES, "LayerNorm2d"), auto_from=_channels_from, id_prefix="ln",
    check=_channels_check("LayerNorm2d", "normalized_shape"), expected_rank=(3, "C×H×W"),
    label=lambda p: _auto_text(p["normalized_shape"]),
    code=_code("LayerNorm2d", "normalized_shape", "eps", "elementwise_affine", "bias"),
))

register(BlockKind(
    "LayerScale", "Normalization",
    "Multiplies each channel by a learned factor that starts small (init_value), so a residual branch begins "
    "almost switched off and grows in as it trains (ConvNeXt's layer scale).",
    params=(
        Param("num_channels", "int", AUTO, "channels of the input", min=1, max=1_000_000, auto=True),
        Param("init_value", "float", 1e-6, "the factor every channel starts from", min=0.0, max=1000.0),
    ),
    formula="y[c, i, j] = γ[c] · x[c, i, j]   (γ learned, starting at init_value)",
    module=ModuleRef(_MODULES, "LayerScale"), auto_from=_channels_from, id_prefix="scale",
    check=_channels_check("LayerScale", "num_channels"), expected_rank=(3, "C×H×W"),
    label=lambda p: f"{_auto_text(p['num_channels'])} channels", reads_channels="num_channels", channelwise=True,
    code=_code("LayerScale", "num_channels", "init_value"),
))
