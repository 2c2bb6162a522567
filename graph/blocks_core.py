"""The core block kinds: input and output, convolution, pooling, normalisation, linear layers, the classic
activations, embeddings, merging and reshaping: the entries a first network is built from.

They register into the registry of `blocks.py` on import (blocks.py imports this module first, so the
palette lists them in this order).
"""
from __future__ import annotations

from . import failures
from .blocks import (DIMS_RULE, BlockKind, Shape, _auto_text, _channels_from, _features_from, _size_text,
                     register)
from .lazy_torch import nn, torch
from .params import AUTO, Param
from .rules import batchnorm_check, conv_transpose_check, layernorm_check, same_rank


def _layernorm_from(name: str, shape: Shape):
    return [shape[-1]] if shape else AUTO


def _conv_params(dims: int, transpose: bool = False) -> tuple[Param, ...]:
    ps = [
        Param("in_channels", "int", AUTO, "channels of the incoming tensor", min=1, max=65536, auto=True),
        Param("out_channels", "int", 16, "number of filters, so channels of the result", min=1, max=65536),
        Param("kernel_size", "size", 3, "height/width of each filter", min=1, max=1024, length=dims),
        Param("stride", "size", 1, "step between filter positions", min=1, max=1024, length=dims),
    ]
    if transpose:
        ps.append(Param("padding", "size", 0, "zeros removed from each side of the result",
                        min=0, max=1024, length=dims))
        ps.append(Param("output_padding", "size", 0, "extra size added to one side of the result",
                        min=0, max=1024, length=dims))
    else:
        ps.append(Param("padding", "size", 0, 'zeros added on each side ("same" keeps the size)',
                        min=0, max=1024, length=dims, strings=("same", "valid")))
    ps += [
        Param("dilation", "size", 1, "spacing between filter taps", min=1, max=1024, length=dims),
        Param("groups", "int", 1, "split channels into independent groups", min=1, max=65536),
        Param("bias", "bool", True, "add a learned bias per filter"),
    ]
    if not transpose:
        ps.append(Param("padding_mode", "choice", "zeros", "what the padding is filled with",
                        choices=("zeros", "reflect", "replicate", "circular")))
    return tuple(ps)


def _unset(v, default) -> bool:
    return v == default or (isinstance(v, list) and all(x == default for x in v))


def _window_text(p: dict, pool: bool = False) -> str:
    """` s2 p1 d2`: the window settings that differ from their defaults (a pool's stride defaults to its
    kernel_size); padding "same" or "valid" reads as that word."""
    text = ""
    stride = p["stride"]
    same = _size_text(stride) == _size_text(p["kernel_size"]) if pool else _unset(stride, 1)
    if stride is not None and not same:
        text += f" s{_size_text(stride)}"
    if isinstance(p.get("padding"), str):
        text += f" {p['padding']}"
    elif not _unset(p.get("padding", 0), 0):
        text += f" p{_size_text(p['padding'])}"
    if not _unset(p.get("dilation", 1), 1):
        text += f" d{_size_text(p['dilation'])}"
    return text


def _conv_label(p: dict) -> str:
    text = f"{_auto_text(p['in_channels'])}→{p['out_channels']} k{_size_text(p['kernel_size'])}" + _window_text(p)
    if p.get("groups", 1) != 1:
        text += f" g{p['groups']}"
    return text


def _pool_params(dims: int, avg: bool = False) -> tuple[Param, ...]:
    ps = [
        Param("kernel_size", "size", 2, "size of the window", min=1, max=1024, length=dims),
        Param("stride", "size", None, "step between windows (empty: same as kernel_size)",
              min=1, max=1024, length=dims, optional=True),
        Param("padding", "size", 0, "padding on each side (at most half the kernel)",
              min=0, max=512, length=dims),
    ]
    if not avg:
        ps.append(Param("dilation", "size", 1, "spacing between window taps", min=1, max=1024, length=dims))
    ps.append(Param("ceil_mode", "bool", False, "round the output size up instead of down"))
    if avg:
        ps.append(Param("count_include_pad", "bool", True, "count padding zeros in the average"))
    return tuple(ps)


def _pool_label(p: dict) -> str:
    return f"k{_size_text(p['kernel_size'])}" + _window_text(p, pool=True)


register(BlockKind(
    "Input", "Input/Output",
    "Where data enters the network: one sample's shape, without the batch dimension.",
    params=(
        Param("shape", "shape", [1, 28, 28], "shape of one sample, e.g. [1, 28, 28] or [28, 28]",
              min=1, max=1_000_000),
        Param("dtype", "choice", "float32", '"float32" for images and signals, "int64" for token ids',
              choices=("float32", "int64")),
    ),
    inputs=0, label=lambda p: "×".join(str(s) for s in p["shape"]), id_prefix="input",
))
register(BlockKind(
    "Output", "Input/Output",
    "Marks the network's result: what the loss and the predictions are computed from.",
    inputs=1, outputs=0, forward=lambda call, inputs, p: inputs[0], input_dtype="any", id_prefix="output",
))

register(BlockKind(
    "Conv1d", "Convolution",
    "Slides learned filters along a sequence or signal (C×L).",
    params=_conv_params(1),
    formula="out[c_out, l] = bias[c_out] + Σ_c_in Σ_k w[c_out, c_in, k] · x[c_in, stride·l + dilation·k − padding]",
    module=nn.Conv1d, auto_from=_channels_from, label=_conv_label, id_prefix="conv",
    expected_rank=(2, "C×L"), key_params=("out_channels", "kernel_size"), explain=failures.convolution(1),
    prunes="out_channels", reads_channels="in_channels",
))
register(BlockKind(
    "Conv2d", "Convolution",
    "Slides learned filters over an image (C×H×W); each filter makes one output channel.",
    params=_conv_params(2),
    formula="out[c_out, i, j] = bias[c_out] + Σ_c_in Σ_m Σ_n w[c_out, c_in, m, n] · "
            "x[c_in, s·i + d·m − p, s·j + d·n − p]   (s stride, d dilation, p padding)",
    module=nn.Conv2d, auto_from=_channels_from, label=_conv_label, id_prefix="conv",
    expected_rank=(3, "C×H×W"), key_params=("out_channels", "kernel_size"), explain=failures.convolution(2),
    prunes="out_channels", reads_channels="in_channels",
))
register(BlockKind(
    "ConvTranspose2d", "Convolution",
    "The transpose of Conv2d: spreads each input pixel over a filter-sized patch, enlarging the image.",
    params=_conv_params(2, transpose=True),
    formula="H_out = (H_in − 1)·stride − 2·padding + dilation·(kernel_size − 1) + output_padding + 1",
    module=nn.ConvTranspose2d, auto_from=_channels_from, label=_conv_label, check=conv_transpose_check,
    id_prefix="deconv", expected_rank=(3, "C×H×W"), key_params=("out_channels", "kernel_size"),
    explain=failures.transposed_convolution,
))

register(BlockKind(
    "MaxPool1d", "Pooling", "Keeps the largest value in each window along a sequence (C×L).",
    params=_pool_params(1), formula="out[c, l] = max_k x[c, stride·l + dilation·k − padding]",
    module=nn.MaxPool1d, label=_pool_label, id_prefix="pool", expected_rank=(2, "C×L"),
    key_params=("kernel_size",), explain=failures.pooling(1), channelwise=True,
))
register(BlockKind(
    "MaxPool2d", "Pooling",
    "Keeps the largest value in each window, shrinking the image and keeping the strongest responses.",
    params=_pool_params(2), formula="out[c, i, j] = max_{m,n} x[c, stride·i + m, stride·j + n]",
    module=nn.MaxPool2d, label=_pool_label, id_prefix="pool", expected_rank=(3, "C×H×W"),
    key_params=("kernel_size",), explain=failures.pooling(2), channelwise=True,
))
register(BlockKind(
    "AvgPool2d", "Pooling", "Averages each window, shrinking the image smoothly.",
    params=_pool_params(2, avg=True),
    formula="out[c, i, j] = (1 / k²) Σ_{m,n} x[c, stride·i + m, stride·j + n]",
    module=nn.AvgPool2d, label=_pool_label, id_prefix="avgpool", expected_rank=(3, "C×H×W"),
    key_params=("kernel_size",), explain=failures.pooling(2), channelwise=True,
))
register(BlockKind(
    "AdaptiveAvgPool2d", "Pooling",
    "Averages into a fixed output size whatever the input size (e.g. 1 for global average pooling).",
    params=(Param("output_size", "size", 1, "height/width of the result", min=1, max=4096, length=2),),
    module=nn.AdaptiveAvgPool2d, label=lambda p: f"→{_size_text(p['output_size'])}", id_prefix="gap",
    expected_rank=(3, "C×H×W"), channelwise=True,
))

_norm_common = (
    # torch refuses eps = 0 while training (the variance of a constant channel is 0).
    Param("eps", "float", 1e-5, "added to the variance for stability (more than 0)", min=1e-12, max=1.0),
    Param("momentum", "float", 0.1, "how fast running statistics follow the batches", min=0.0, max=1.0),
    Param("affine", "bool", True, "learn a scale and shift per feature"),
    Param("track_running_stats", "bool", True, "keep running mean/variance for evaluation"),
)
register(BlockKind(
    "BatchNorm1d", "Normalization",
    "Normalises each feature over the batch, then scales and shifts it (input C or C×L).",
    params=(Param("num_features", "int", AUTO, "features/channels of the input", min=1, max=1_000_000,
                  auto=True),) + _norm_common,
    formula="y = (x − E[x]) / √(Var[x] + eps) · γ + β",
    module=nn.BatchNorm1d, auto_from=_channels_from, label=lambda p: _auto_text(p["num_features"]),
    check=batchnorm_check, id_prefix="bn", explain=failures.batch_norm, reads_channels="num_features",
    channelwise=True,
))
register(BlockKind(
    "BatchNorm2d", "Normalization",
    "Normalises each channel over the batch and the image, then scales and shifts it.",
    params=(Param("num_features", "int", AUTO, "channels of the input", min=1, max=1_000_000,
                  auto=True),) + _norm_common,
    formula="y = (x − E[x]) / √(Var[x] + eps) · γ + β",
    module=nn.BatchNorm2d, auto_from=_channels_from, label=lambda p: _auto_text(p["num_features"]),
    check=batchnorm_check, id_prefix="bn", expected_rank=(3, "C×H×W"), explain=failures.batch_norm,
    reads_channels="num_features", channelwise=True,
))
register(BlockKind(
    "LayerNorm", "Normalization",
    "Normalises each sample over its last dimension(s), then scales and shifts it.",
    params=(
        Param("normalized_shape", "shape", AUTO, 'trailing dimensions to normalise over ("auto": the last one)',
              min=1, max=1_000_000, auto=True, max_items=4),
        Param("eps", "float", 1e-5, "added to the variance for stability (more than 0)", min=1e-12, max=1.0),
        Param("elementwise_affine", "bool", True, "learn a scale and shift per element"),
        Param("bias", "bool", True, "learn the shift"),
    ),
    formula="y = (x − E[x]) / √(Var[x] + eps) · γ + β",
    module=nn.LayerNorm, auto_from=_layernorm_from, check=layernorm_check, id_prefix="ln",
    explain=failures.layer_norm,
))
register(BlockKind(
    "Dropout", "Normalization",
    "While training, zeroes each value with probability p and scales the rest by 1/(1−p); does nothing at evaluation.",
    params=(Param("p", "float", 0.5, "probability of zeroing a value", min=0.0, max=1.0),),
    module=nn.Dropout, label=lambda p: f"p{p['p']:g}", id_prefix="drop", channelwise=True,
))

register(BlockKind(
    "Flatten", "Shape", "Turns each sample into one long vector, e.g. 16×5×5 → 400.",
    params=(
        Param("start_dim", "int", 1, "first dimension to flatten " + DIMS_RULE, min=-8, max=8),
        Param("end_dim", "int", -1, "last dimension to flatten " + DIMS_RULE, min=-8, max=8),
    ),
    module=nn.Flatten, input_dtype="any", id_prefix="flatten",
))
register(BlockKind(
    "Linear", "Linear",
    "A fully connected layer: every output is a weighted sum of all input features plus a bias.",
    params=(
        Param("in_features", "int", AUTO, "features of the input (its last dimension)", min=1,
              max=10_000_000, auto=True),
        Param("out_features", "int", 10, 'features of the result ("auto": one per class of the data set)',
              min=1, max=10_000_000, auto=True, data_auto="num_classes", data_fallback=10),
        Param("bias", "bool", True, "add a learned bias"),
    ),
    formula="y = x · Wᵀ + b",
    module=nn.Linear, auto_from=_features_from,
    label=lambda p: f"{_auto_text(p['in_features'])}→{_auto_text(p['out_features'])}",
    id_prefix="fc", key_params=("out_features",), explain=failures.linear, prunes="out_features",
    reads_channels="in_features",
))

for _name, _doc, _formula in (
    ("ReLU", "Keeps positive values and replaces negative ones with zero.", "y = max(0, x)"),
    ("Tanh", "Squashes values into (−1, 1).", "y = tanh(x)"),
    ("Sigmoid", "Squashes values into (0, 1).", "y = 1 / (1 + e^(−x))"),
):
    register(BlockKind(_name, "Activation", _doc, formula=_formula, module=getattr(nn, _name), channelwise=True))
register(BlockKind(
    "LeakyReLU", "Activation", "Like ReLU, but lets a small slope through for negative values.",
    params=(Param("negative_slope", "float", 0.01, "slope for negative inputs", min=0.0, max=10.0),),
    formula="y = x if x > 0 else negative_slope · x", module=nn.LeakyReLU, channelwise=True,
))
register(BlockKind(
    "GELU", "Activation", "A smooth ReLU used in transformers: each value weighted by how likely it is to be positive.",
    params=(Param("approximate", "choice", "none", "exact or tanh approximation", choices=("none", "tanh")),),
    formula="y = x · Φ(x)", module=nn.GELU, channelwise=True,
))
for _name, _doc, _formula in (
    ("Softmax", "Turns scores into probabilities that sum to 1 along a dimension.", "y_i = e^(x_i) / Σ_j e^(x_j)"),
    ("LogSoftmax", "The logarithm of Softmax, numerically stable (pair it with NLL loss).",
     "y_i = x_i − log Σ_j e^(x_j)"),
):
    register(BlockKind(
        _name, "Activation", _doc,
        params=(Param("dim", "int", -1, "dimension that sums to 1 " + DIMS_RULE, min=-8, max=8),),
        formula=_formula, module=getattr(nn, _name),
    ))

register(BlockKind(
    "Embedding", "Embedding",
    "Looks up a learned vector for each integer token id (a table of num_embeddings rows).",
    params=(
        Param("num_embeddings", "int", 1000, 'size of the vocabulary, largest id + 1 ("auto": the data set\'s)',
              min=1, max=10_000_000, auto=True, data_auto="vocab_size", data_fallback=1000),
        Param("embedding_dim", "int", 64, "length of each vector", min=1, max=65536),
        Param("padding_idx", "int", None, "id whose vector stays zero (empty: none)", min=0,
              max=10_000_000, optional=True),
        Param("scale_grad_by_freq", "bool", False, "scale gradients by inverse word frequency"),
    ),
    formula="y[t] = W[x[t]]", module=nn.Embedding, input_dtype="int",
    label=lambda p: f"{_auto_text(p['num_embeddings'])}×{p['embedding_dim']}",
    id_prefix="emb", key_params=("num_embeddings", "embedding_dim"), explain=failures.embedding,
))

def _add_forward(call, inputs, params):
    out = inputs[0]
    for x in inputs[1:]:
        out = out + x
    return out


register(BlockKind(
    "Add", "Merge", "Adds its inputs element by element (skip/residual connections); shapes must match.",
    params=(Param("num_inputs", "int", 2, "number of inputs", min=2, max=64),),
    formula="y = x₀ + x₁ + …", forward=_add_forward, inputs="num_inputs",
    input_dtype="any", check=lambda shapes, p: same_rank("Add", shapes), explain=failures.add,
))
register(BlockKind(
    "Concat", "Merge", "Joins its inputs along a dimension (channels by default); other dimensions must match.",
    params=(Param("num_inputs", "int", 2, "number of inputs", min=2, max=64),
            Param("dim", "int", 1, "dimension to join along " + DIMS_RULE, min=-8, max=8)),
    forward=lambda call, inputs, p: torch.cat(list(inputs), dim=p["dim"]), inputs="num_inputs",
    input_dtype="any", check=lambda shapes, p: same_rank("Concat", shapes), id_prefix="cat",
    explain=failures.concat,
))
register(BlockKind(
    "Reshape", "Shape", "Gives each sample a new shape with the same number of values (one entry may be −1).",
    params=(Param("shape", "shape", [-1], "new shape of one sample, without the batch dimension",
                  min=1, max=10_000_000, allow_negative_one=True),),
    forward=lambda call, inputs, p: inputs[0].reshape(inputs[0].size(0), *p["shape"]),
    label=lambda p: "→" + "×".join(str(s) for s in p["shape"]), input_dtype="any", explain=failures.reshape,
))
register(BlockKind(
    "Permute", "Shape", "Reorders the dimensions of each sample, e.g. [1, 0] turns T×F into F×T.",
    params=(Param("dims", "shape", [1, 0], "new order of the sample's dimensions (0 is the first after the batch)",
                  min=0, max=7),),
    forward=lambda call, inputs, p: inputs[0].permute(0, *[d + 1 for d in p["dims"]]),
    label=lambda p: str(list(p["dims"])), input_dtype="any", explain=failures.permute,
))
