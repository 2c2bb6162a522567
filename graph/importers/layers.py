"""Which block a torch.nn layer becomes, with its parameters read back from the layer.

`layer_block(module)` returns (kind, params) for a layer that has a block kind, or raises
`NoBlock` with the reason (a setting the block cannot express, e.g. an LSTM that is not
batch_first). The block's module is then rebuilt from those params and compared with the layer
(same state_dict keys and shapes) before the import trusts the mapping.
"""
from __future__ import annotations

import torch
from torch import nn

from ..convnet_modules import LayerNorm2d as _LayerloomLayerNorm2d


class NoBlock(Exception):
    """This layer has no block kind, or uses a setting its block kind cannot express."""


def _size(v):
    return list(v) if isinstance(v, (tuple, list)) else v


def _same_size(v):
    """A tuple with equal entries as one number, so the file and the labels stay short."""
    if isinstance(v, (tuple, list)) and len(set(v)) == 1:
        return v[0]
    return _size(v)


def _conv(m):
    if isinstance(m.padding, str):
        padding = m.padding
    else:
        padding = _same_size(m.padding)
    params = {"in_channels": m.in_channels, "out_channels": m.out_channels,
              "kernel_size": _same_size(m.kernel_size), "stride": _same_size(m.stride), "padding": padding,
              "dilation": _same_size(m.dilation), "groups": m.groups, "bias": m.bias is not None}
    if isinstance(m, nn.ConvTranspose2d):
        params["output_padding"] = _same_size(m.output_padding)
        if m.padding_mode != "zeros":
            raise NoBlock("ConvTranspose2d with a padding_mode other than zeros")
    else:
        params["padding_mode"] = m.padding_mode
    return params


def _pool(m, avg=False):
    params = {"kernel_size": _same_size(m.kernel_size), "stride": _same_size(m.stride),
              "padding": _same_size(m.padding), "ceil_mode": bool(m.ceil_mode)}
    if avg:
        if m.divisor_override is not None:
            raise NoBlock("AvgPool2d with divisor_override")
        params["count_include_pad"] = bool(m.count_include_pad)
    else:
        if m.return_indices:
            raise NoBlock("a max pooling that returns indices")
        params["dilation"] = _same_size(m.dilation)
    return params


def _adaptive(m):
    size = m.output_size
    if (isinstance(size, (tuple, list)) and None in size) or size is None:
        raise NoBlock("an adaptive pooling that keeps one dimension (None in output_size)")
    if getattr(m, "return_indices", False):
        raise NoBlock("a max pooling that returns indices")
    return {"output_size": _same_size(size)}


def _batchnorm(m):
    if m.momentum is None:
        raise NoBlock("BatchNorm with momentum=None (a cumulative average)")
    return {"num_features": m.num_features, "eps": m.eps, "momentum": m.momentum, "affine": m.affine,
            "track_running_stats": m.track_running_stats}


def _recurrent(m):
    if not m.batch_first:
        raise NoBlock(f"{type(m).__name__} with batch_first=False has no block (blocks take the batch first: "
                      "build it with batch_first=True)")
    params = {"input_size": m.input_size, "hidden_size": m.hidden_size, "num_layers": m.num_layers,
              "bias": m.bias, "dropout": float(m.dropout), "bidirectional": m.bidirectional}
    if isinstance(m, nn.RNN):
        params["nonlinearity"] = m.nonlinearity
    if isinstance(m, nn.LSTM):
        params["proj_size"] = m.proj_size
    return params


def _attention(m):
    if not m.batch_first:
        raise NoBlock("MultiheadAttention with batch_first=False")
    if m.bias_k is not None or m.add_zero_attn or not m._qkv_same_embed_dim:
        raise NoBlock("MultiheadAttention with add_bias_kv, add_zero_attn or a kdim/vdim of its own")
    return {"embed_dim": m.embed_dim, "num_heads": m.num_heads, "dropout": float(m.dropout),
            "bias": m.in_proj_bias is not None}


def _upsample(m):
    if m.recompute_scale_factor:
        raise NoBlock("Upsample with recompute_scale_factor")
    scale = m.scale_factor
    if isinstance(scale, (tuple, list)):
        if len(set(scale)) != 1:
            raise NoBlock("Upsample with a different scale per dimension")
        scale = scale[0]
    return {"size": _same_size(m.size) if m.size is not None else None,
            "scale_factor": float(scale) if scale is not None else None,
            "mode": m.mode, "align_corners": m.align_corners}


def _embedding(m):
    if m.max_norm is not None or m.sparse:
        raise NoBlock("Embedding with max_norm or sparse gradients")
    return {"num_embeddings": m.num_embeddings, "embedding_dim": m.embedding_dim, "padding_idx": m.padding_idx,
            "scale_grad_by_freq": m.scale_grad_by_freq}


def _softmax(m):
    if m.dim is None:
        raise NoBlock("Softmax without a dim")
    return {"dim": m.dim}


def _layernorm2d(m):
    if len(m.normalized_shape) != 1:
        raise NoBlock("LayerNorm2d over more than the channels")
    return {"normalized_shape": m.normalized_shape[0], "eps": m.eps, "elementwise_affine": m.elementwise_affine,
            "bias": m.bias is not None or not m.elementwise_affine}


def _stochastic_depth_type():
    try:
        from torchvision.ops import StochasticDepth
        return StochasticDepth
    except ImportError:   # torchvision is optional for this mapping
        return None


_NO_PARAMS = ("ReLU", "ReLU6", "SiLU", "Hardswish", "Hardsigmoid", "Tanh", "Sigmoid", "Identity")

MAPPERS = {
    nn.Conv1d: ("Conv1d", _conv), nn.Conv2d: ("Conv2d", _conv), nn.ConvTranspose2d: ("ConvTranspose2d", _conv),
    nn.MaxPool1d: ("MaxPool1d", _pool), nn.MaxPool2d: ("MaxPool2d", _pool),
    nn.AvgPool2d: ("AvgPool2d", lambda m: _pool(m, avg=True)),
    nn.AdaptiveAvgPool2d: ("AdaptiveAvgPool2d", _adaptive), nn.AdaptiveMaxPool2d: ("AdaptiveMaxPool2d", _adaptive),
    nn.BatchNorm1d: ("BatchNorm1d", _batchnorm), nn.BatchNorm2d: ("BatchNorm2d", _batchnorm),
    nn.LayerNorm: ("LayerNorm", lambda m: {"normalized_shape": list(m.normalized_shape), "eps": m.eps,
                                           "elementwise_affine": m.elementwise_affine,
                                           "bias": m.bias is not None or not m.elementwise_affine}),
    nn.GroupNorm: ("GroupNorm", lambda m: {"num_groups": m.num_groups, "num_channels": m.num_channels,
                                           "eps": m.eps, "affine": m.affine}),
    nn.Dropout: ("Dropout", lambda m: {"p": float(m.p)}),
    nn.Flatten: ("Flatten", lambda m: {"start_dim": m.start_dim, "end_dim": m.end_dim}),
    nn.Linear: ("Linear", lambda m: {"in_features": m.in_features, "out_features": m.out_features,
                                     "bias": m.bias is not None}),
    nn.LeakyReLU: ("LeakyReLU", lambda m: {"negative_slope": float(m.negative_slope)}),
    nn.GELU: ("GELU", lambda m: {"approximate": m.approximate}),
    nn.Softmax: ("Softmax", _softmax), nn.LogSoftmax: ("LogSoftmax", _softmax),
    nn.Embedding: ("Embedding", _embedding),
    nn.RNN: ("RNN", _recurrent), nn.LSTM: ("LSTM", _recurrent), nn.GRU: ("GRU", _recurrent),
    nn.MultiheadAttention: ("MultiheadAttention", _attention),
    nn.Upsample: ("Upsample", _upsample), nn.ChannelShuffle: ("ChannelShuffle", lambda m: {"groups": m.groups}),
    **{getattr(nn, name): (name, lambda m: {}) for name in _NO_PARAMS},
}
_SD = _stochastic_depth_type()
if _SD is not None:        # torchvision is there: its layers that have a block kind
    from torchvision.models.convnext import LayerNorm2d as _TorchvisionLayerNorm2d
    MAPPERS[_SD] = ("StochasticDepth", lambda m: {"p": float(m.p), "mode": m.mode})
    MAPPERS[_TorchvisionLayerNorm2d] = ("LayerNorm2d", _layernorm2d)

MAPPERS[_LayerloomLayerNorm2d] = ("LayerNorm2d", _layernorm2d)     # a LayerNorm over channels read from a program

RECURRENT = ("RNN", "LSTM", "GRU")
TUPLE_RESULT = ("RNN", "LSTM", "GRU", "MultiheadAttention")   # the block keeps element 0


def has_block(module: nn.Module) -> bool:
    return type(module) in MAPPERS


def layer_block(module: nn.Module) -> tuple[str, dict]:
    """(kind, params) for a layer, checked by rebuilding the block's module; raises NoBlock."""
    from layerloom.graph.blocks import get_kind
    entry = MAPPERS.get(type(module))
    if entry is None:
        raise NoBlock(f"{type(module).__name__} has no block kind")
    kind_name, read = entry
    params = read(module)
    kind = get_kind(kind_name)
    try:
        clean = {k: kind.param(k).check(v) for k, v in params.items()}
        with torch.device("meta"):
            rebuilt = kind.module(**kind.module_kwargs(kind.full_params(clean)))
    except Exception as exc:
        raise NoBlock(f"{type(module).__name__}'s settings do not fit the {kind_name} block ({exc})") from None
    mine = {k: tuple(v.shape) for k, v in rebuilt.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in module.state_dict().items()}
    if mine != theirs:
        raise NoBlock(f"{type(module).__name__}'s tensors differ from a {kind_name} block's")
    return kind_name, clean
