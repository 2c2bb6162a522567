"""Block kinds of modern networks: the activations, normalisations, resampling, elementwise
product and attention that MobileNet, EfficientNet, ResNet variants and transformers use.

They register into the same registry as `blocks.py` (docs, formula, parameter schema, factory):
the palette, analysis, compiler and file loader treat them exactly like the original kinds.
"""
from __future__ import annotations

from .lazy_torch import nn
from .blocks import BlockKind, _auto_text, _channels_from, _features_from, _size_text, register
from . import failures
from .problems import count
from .rules import RuleError, same_rank
from .params import AUTO, Param

for _name, _doc, _formula in (
    ("ReLU6", "Like ReLU, but also caps values at 6 (MobileNet's activation).", "y = min(max(0, x), 6)"),
    ("SiLU", "The sigmoid-weighted linear unit, also called Swish (EfficientNet's activation).",
     "y = x · σ(x)"),
    ("Hardswish", "A piecewise-linear approximation of SiLU that is cheap on phones (MobileNetV3).",
     "y = x · ReLU6(x + 3) / 6"),
    ("Hardsigmoid", "A piecewise-linear approximation of Sigmoid (MobileNetV3's gates).",
     "y = ReLU6(x + 3) / 6"),
):
    register(BlockKind(_name, "Activation", _doc, formula=_formula, module=getattr(nn, _name), channelwise=True))

register(BlockKind(
    "Identity", "Shape", "Passes its input on unchanged (a placeholder where a layer was removed).",
    formula="y = x", module=nn.Identity, channelwise=True, input_dtype="any",    # token ids pass as they are
))

def _upsample_kwargs(p: dict) -> dict:
    size = p["size"]
    return {"size": tuple(size) if isinstance(size, list) else size,
            "scale_factor": None if size is not None else p["scale_factor"],
            "mode": p["mode"], "align_corners": p["align_corners"]}


def _upsample(**p) -> nn.Module:
    return nn.Upsample(**_upsample_kwargs(p))


def _upsample_check(shapes, p: dict) -> None:
    if p["size"] is None and not p["scale_factor"]:
        raise RuleError(f"Upsample needs a size or a scale_factor above 0, but has no size and scale_factor "
                        f"{p['scale_factor']}: set one of them.", "bad_param",
                        {"action": "reset_param", "param": "scale_factor"})


def _upsample_code(p: dict) -> tuple[str, str]:
    kwargs = {k: v for k, v in _upsample_kwargs(p).items() if v is not None and not (k == "mode" and v == "nearest")}
    return "", "nn.Upsample(" + ", ".join(f"{k}={v!r}" for k, v in kwargs.items()) + ")"


register(BlockKind(
    "Upsample", "Shape",
    "Enlarges an image (C×H×W) or a signal (C×L) to a given size or by a scale factor.",
    params=(
        Param("size", "size", None, "size of the result (empty: use scale_factor)", min=1, max=65536,
              optional=True),
        Param("scale_factor", "float", 2.0, "how many times larger (used when size is empty)",
              min=0.0, max=1024.0, optional=True),
        Param("mode", "choice", "nearest", "how new values are computed",
              choices=("nearest", "linear", "bilinear", "bicubic", "trilinear")),
        Param("align_corners", "bool", None, "for linear modes: align the corner pixels (empty: torch's default)",
              optional=True),
    ),
    formula="out[c, i, j] = x[c, ⌊i / scale⌋, ⌊j / scale⌋]  (nearest)",
    module=_upsample, code=_upsample_code, check=_upsample_check, channelwise=True, explain=failures.upsample,
    label=lambda p: (f"→{_size_text(p['size'])}" if p["size"] is not None else f"×{p['scale_factor']:g}")
    + ("" if p["mode"] == "nearest" else f" {p['mode']}"),
))

register(BlockKind(
    "GroupNorm", "Normalization",
    "Normalises each sample over groups of channels (independent of the batch size), then scales and shifts.",
    params=(
        Param("num_groups", "int", 32, "number of channel groups (must divide num_channels)", min=1, max=65536),
        Param("num_channels", "int", AUTO, "channels of the input", min=1, max=1_000_000, auto=True),
        Param("eps", "float", 1e-5, "added to the variance for stability (more than 0)", min=1e-12, max=1.0),
        Param("affine", "bool", True, "learn a scale and shift per channel"),
    ),
    formula="y = (x − E_group[x]) / √(Var_group[x] + eps) · γ + β",
    module=nn.GroupNorm, auto_from=_channels_from, explain=failures.group_norm,
    label=lambda p: f"{p['num_groups']} groups",
))

register(BlockKind(
    "AdaptiveMaxPool2d", "Pooling",
    "Keeps the largest value of each region, for a fixed output size whatever the input size.",
    params=(Param("output_size", "size", 1, "height/width of the result", min=1, max=4096, length=2),),
    formula="out[c, i, j] = max over rows ⌊i·H/h⌋ … ⌈(i+1)·H/h⌉ − 1 and columns ⌊j·W/w⌋ … ⌈(j+1)·W/w⌉ − 1",
    module=nn.AdaptiveMaxPool2d, label=lambda p: f"→{_size_text(p['output_size'])}",
    expected_rank=(3, "C×H×W"), channelwise=True,
))


def _mul_forward(call, inputs, params):
    out = inputs[0]
    for x in inputs[1:]:
        out = out * x
    return out


register(BlockKind(
    "Mul", "Merge",
    "Multiplies its inputs element by element (gates, squeeze-and-excitation); shapes must match or "
    "broadcast (C×1×1 against C×H×W).",
    params=(Param("num_inputs", "int", 2, "number of inputs", min=2, max=8),),
    formula="y = x₀ ⊙ x₁ ⊙ …", forward=_mul_forward, inputs="num_inputs",
    input_dtype="any", check=lambda shapes, p: same_rank("Mul", shapes), explain=failures.mul,
))


_ATTENTION_PORTS = {
    1: (("query, key, value", "T×E: attends within itself (self-attention)"),),
    2: (("query", "T×E: the sequence that asks; the output has its T steps"),
        ("key/value", "S×E: the sequence attended to, any S steps of the query's E features")),
    3: (("query", "T×E: the sequence that asks; the output has its T steps"),
        ("key", "S×E: any S steps of the query's E features"),
        ("value", "S×E: as many steps S as the key, E features")),
}


def _attention_forward(call, inputs, params):
    query = inputs[0]
    key = inputs[1] if len(inputs) > 1 else query
    value = inputs[2] if len(inputs) > 2 else key
    return call(query, key, value, need_weights=False)[0]   # torch returns (output, weights)


def _attention_check(shapes, p) -> None:
    """Three inputs: one value for each key, so the key and the value need as many steps (torch's own message
    names its internal (steps, batch, features) shapes)."""
    if len(shapes) == 3 and len(shapes[1]) == 2 and len(shapes[2]) == 2 and shapes[1][0] != shapes[2][0]:
        key, value = ("×".join(map(str, s)) for s in shapes[1:])
        raise RuleError(f"MultiheadAttention's key (input 2, {key}) has {count(shapes[1][0], 'step')} and its value "
                        f"(input 3, {value}) has {count(shapes[2][0], 'step')}: attention takes one value for each "
                        "key, so give the two inputs the same number of steps (or wire one sequence to both, with "
                        "num_inputs 2).", "attention_lengths")


register(BlockKind(
    "MultiheadAttention", "Attention",
    "Scaled dot-product attention with several heads over a T×E sequence (batch first). With one input it "
    "is self-attention; with two, the second gives keys and values; with three: query, key, value.",
    params=(
        Param("embed_dim", "int", AUTO, "features per step of the query (its last dimension)", min=1,
              max=1_000_000, auto=True),
        Param("num_heads", "int", 8, "attention heads (must divide embed_dim)", min=1, max=1024),
        Param("dropout", "float", 0.0, "dropout on the attention weights while training", min=0.0, max=1.0),
        Param("bias", "bool", True, "learned biases in the projections"),
        Param("num_inputs", "int", 1, "1: self-attention; 2: query, key=value; 3: query, key, value",
              min=1, max=3),
    ),
    formula="Attention(Q, K, V) = softmax(Q·Kᵀ / √d_head) · V, per head, then an output projection",
    module=nn.MultiheadAttention, forward=_attention_forward, auto_from=_features_from, inputs="num_inputs",
    module_params=("embed_dim", "num_heads", "dropout", "bias"), fixed_kwargs={"batch_first": True},
    label=lambda p: f"{_auto_text(p['embed_dim'])}, {p['num_heads']} heads",
    expected_rank=(2, "T×E (steps × features)"),   # a 1-d sample would be read as an unbatched sequence
    input_ports=lambda n: _ATTENTION_PORTS.get(n, ()), check=_attention_check,
))


def _stochastic_depth(p: float, mode: str) -> nn.Module:
    from torchvision.ops import StochasticDepth
    return StochasticDepth(p, mode)


register(BlockKind(
    "StochasticDepth", "Normalization",
    "While training, drops a whole residual branch with probability p (per sample or per batch) and scales the "
    "rest by 1/(1−p); does nothing at evaluation (torchvision.ops.StochasticDepth, EfficientNet's).",
    params=(Param("p", "float", 0.2, "probability of dropping the branch", min=0.0, max=1.0),
            Param("mode", "choice", "row", '"row": per sample, "batch": the whole batch', choices=("row", "batch"))),
    formula="y = x · Bernoulli(1 − p) / (1 − p)   (training);  y = x   (evaluation)",
    module=_stochastic_depth, label=lambda p: f"p{p['p']:g} {p['mode']}", channelwise=True,
    code=lambda p: ("from torchvision.ops import StochasticDepth", f"StochasticDepth(p={p['p']!r}, mode={p['mode']!r})"),
))
