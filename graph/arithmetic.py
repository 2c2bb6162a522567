"""Shape and parameter rules worked out with a block's own numbers.

Where the Inspector shows a kind's formula (`H_out = ⌊(H_in + 2·p − d·(k − 1) − 1) / s⌋ + 1`), this
module writes the same rule with the block's real values, one line per dimension that changes:

    H_out = ⌊(28 + 2·2 − 1·(5 − 1) − 1) / 1⌋ + 1 = 28
    params = 6·(1·5·5) + 6 = 156

When a shape cannot be computed, or the settings break a rule torch enforces (output_padding ≥
stride, padding "same" with a stride, ...), the line that fails says so (`W_out = ⌊(2 − 3) / 2⌋ + 1
= 0`, ok=False), so the person sees where the arithmetic breaks. The rules mirror PyTorch's documented output-shape
formulas; tests check every kind against torch's real output shape and parameter count.

`explain(kind_name, params, input_shapes)` takes the resolved parameters (analysis's
`BlockResult.params`) and the per-sample input shapes, and returns an `Arithmetic`. Kinds without a
rule of their own keep their input's shape ("same shape as the input").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Line:
    text: str
    value: int | None = None
    ok: bool = True            # False: this is where the shape stops making sense


@dataclass(frozen=True)
class Arithmetic:
    shape: tuple[Line, ...]
    params: Line | None
    output_shape: Shape | None     # what the rules give (None where a line fails)
    param_count: int | None

    @property
    def failing(self) -> Line | None:
        return next((line for line in self.shape if not line.ok), None)

    def lines(self) -> list[str]:
        out = [line.text for line in self.shape]
        if self.params is not None:
            out.append(self.params.text)
        return out


def _dot(*factors) -> str:
    return "·".join(str(f) for f in factors)


def sized(value, n: int) -> list[int]:
    if isinstance(value, (list, tuple)):
        return [int(v) for v in value]
    return [int(value)] * n


def _names(n: int) -> list[str]:
    return ["L"] if n == 1 else ["H", "W", "D"][:n] if n <= 3 else [f"S{i}" for i in range(n)]


def _channel_line(c_out: int) -> Line:
    return Line(f"C_out = out_channels = {c_out}", c_out)


def _conv_dim(name, size, k, s, p, d) -> Line:
    if p == "same":
        return Line(f"{name}_out = {name}_in = {size} (padding \"same\")", size)
    numer = size + 2 * p - d * (k - 1) - 1
    value = numer // s + 1
    text = f"{name}_out = ⌊({size} + 2·{p} − {d}·({k} − 1) − 1) / {s}⌋ + 1 = {value}"
    return Line(text, value, value > 0 and numer >= 0)


def _channels_match(params, c: int) -> Line | None:
    if params["in_channels"] != c:
        return Line(f"in_channels = {params['in_channels']}, but {c} channels arrive", c, False)
    return None


def _conv(params, shapes, dims: int) -> tuple[list[Line], Shape | None]:
    c, *spatial = shapes[0]
    mismatch = _channels_match(params, c)
    if mismatch:
        return [mismatch], None
    k, s, d = (sized(params[n], dims) for n in ("kernel_size", "stride", "dilation"))
    pad = params["padding"]
    pads = ["same"] * dims if pad == "same" else [0] * dims if pad == "valid" else sized(pad, dims)
    if pad == "same" and any(v != 1 for v in s):
        return [Line(f"padding \"same\" needs stride 1, not {params['stride']}", None, False)], None
    mode = params.get("padding_mode", "zeros")
    for i, n in enumerate(_names(dims)):      # reflect mirrors the input's own values; circular wraps once
        widest = (d[i] * (k[i] - 1) + 1) // 2 if pads[i] == "same" else pads[i]
        if (mode == "reflect" and widest >= spatial[i]) or (mode == "circular" and widest > spatial[i]):
            return [Line(f"{n}: padding {widest} with padding_mode \"{mode}\" needs {n}_in of at least "
                         f"{widest + (mode == 'reflect')}, not {spatial[i]}", None, False)], None
    lines = [_channel_line(params["out_channels"])]
    lines += [_conv_dim(n, spatial[i], k[i], s[i], pads[i], d[i]) for i, n in enumerate(_names(dims))]
    return lines, (params["out_channels"], *[line.value for line in lines[1:]])


def _conv_transpose(params, shapes, dims: int) -> tuple[list[Line], Shape | None]:
    c, *spatial = shapes[0]
    mismatch = _channels_match(params, c)
    if mismatch:
        return [mismatch], None
    k, s, p, op, d = (sized(params[n], dims) for n in ("kernel_size", "stride", "padding", "output_padding",
                                                        "dilation"))
    lines = [_channel_line(params["out_channels"])]
    for i, n in enumerate(_names(dims)):
        if op[i] >= max(s[i], d[i]):      # torch: smaller than the stride or the dilation
            lines.append(Line(f"{n}: output_padding {op[i]} ≥ stride {s[i]} and dilation {d[i]}", None, False))
            continue
        value = (spatial[i] - 1) * s[i] - 2 * p[i] + d[i] * (k[i] - 1) + op[i] + 1
        lines.append(Line(f"{n}_out = ({spatial[i]} − 1)·{s[i]} − 2·{p[i]} + {d[i]}·({k[i]} − 1) + {op[i]} + 1 "
                          f"= {value}", value, value > 0))
    return lines, (params["out_channels"], *[line.value for line in lines[1:]])


def _pool(params, shapes, dims: int, dilated: bool) -> tuple[list[Line], Shape | None]:
    c, *spatial = shapes[0]
    k = sized(params["kernel_size"], dims)
    s = sized(params["stride"], dims) if params.get("stride") is not None else k
    p = sized(params["padding"], dims)
    d = sized(params.get("dilation", 1), dims) if dilated else [1] * dims
    ceil = bool(params.get("ceil_mode"))
    lines = [Line(f"C_out = C_in = {c}", c)]
    for i, n in enumerate(_names(dims)):
        if p[i] > k[i] // 2:
            lines.append(Line(f"{n}: padding {p[i]} > half of kernel_size {k[i]} (at most {k[i] // 2})", None, False))
            continue
        span = spatial[i] + 2 * p[i] - d[i] * (k[i] - 1) - 1
        value = (-(-span // s[i]) if ceil else span // s[i]) + 1
        bracket = ("⌈", "⌉") if ceil else ("⌊", "⌋")
        inner = f"{spatial[i]} + 2·{p[i]} − {d[i]}·({k[i]} − 1) − 1" if (p[i] or d[i] != 1) else \
            f"{spatial[i]} − {k[i]}"
        text = f"{n}_out = {bracket[0]}({inner}) / {s[i]}{bracket[1]} + 1 = {value}"
        if ceil and value > 0 and (value - 1) * s[i] >= spatial[i] + p[i]:
            value -= 1   # PyTorch: the last window must start inside the input or its left padding
            text += f" − 1 (the last window would start in the padding) = {value}"
        # torch asks only for one output or more: with ceil_mode a window wider than the input (span < 0)
        # still gives one, starting at the first value
        lines.append(Line(text, value, value > 0))
    return lines, (c, *[line.value for line in lines[1:]])


def _adaptive(params, shapes, dims: int) -> tuple[list[Line], Shape | None]:
    c, *spatial = shapes[0]
    size = params["output_size"]
    sizes = [size] * dims if not isinstance(size, (list, tuple)) else list(size)
    lines = [Line(f"C_out = C_in = {c}", c)]
    for i, n in enumerate(_names(dims)):
        value = spatial[i] if sizes[i] is None else int(sizes[i])
        lines.append(Line(f"{n}_out = output_size = {value} (whatever {n}_in = {spatial[i]} is)", value))
    return lines, (c, *[line.value for line in lines[1:]])


def _flatten(params, shapes) -> tuple[list[Line], Shape | None]:
    full = (1, *shapes[0])                 # PyTorch counts the batch as dimension 0
    rank = len(full)
    start, end = params["start_dim"] % rank, params["end_dim"] % rank
    if start == 0:
        return [Line("start_dim 0 would mix samples of the batch", None, False)], None
    if start > end:
        return [Line(f"start_dim {params['start_dim']} comes after end_dim {params['end_dim']} (dimension {start} "
                     f"after {end})", None, False)], None
    kept = list(full[1:start]) + [math.prod(full[start:end + 1])] + list(full[end + 1:])
    merged = full[start:end + 1]
    text = f"{'·'.join(map(str, merged))} = {math.prod(merged)} values per sample" if len(merged) > 1 else \
        f"nothing to merge: dimension {start} alone"
    return [Line(text, math.prod(merged))], tuple(kept)


def _reshape(params, shapes) -> tuple[list[Line], Shape | None]:
    total = math.prod(shapes[0])
    target = list(params["shape"])
    lines = [Line(f"values per sample = {_dot(*shapes[0])} = {total:,}", total)]
    if target.count(-1) > 1:
        return lines + [Line(f"shape {target} has {target.count(-1)} entries −1: only one may be −1", None,
                             False)], None
    if -1 in target:
        known = math.prod(v for v in target if v != -1)
        value = total // known if known and total % known == 0 else None
        lines.append(Line(f"−1 = {total:,} / {_dot(*[v for v in target if v != -1]) or 1} = "
                          f"{value if value is not None else 'not a whole number'}", value, value is not None))
        target = [value if v == -1 else v for v in target] if value is not None else None
    else:
        ok = math.prod(target) == total
        lines.append(Line(f"{_dot(*target)} = {math.prod(target)}" + ("" if ok else f" ≠ {total}"),
                          math.prod(target), ok))
        target = target if ok else None
    return lines, tuple(target) if target else None


def _permute(params, shapes) -> tuple[list[Line], Shape | None]:
    dims = list(params["dims"])
    if sorted(dims) != list(range(len(shapes[0]))):
        return [Line(f"dims {dims} must name each of the sample's dimensions 0 to {len(shapes[0]) - 1} once",
                     None, False)], None
    out = tuple(shapes[0][d] for d in dims)
    return [Line(f"dims {dims}: {'×'.join(map(str, shapes[0]))} → {'×'.join(map(str, out))}")], out


def _linear(params, shapes) -> tuple[list[Line], Shape | None]:
    *lead, f = shapes[0]
    if params["in_features"] != f:
        return [Line(f"in_features = {params['in_features']}, but the last dimension arriving is {f}", f,
                     False)], None
    out = (*lead, params["out_features"])
    return [Line(f"last dimension: {f} = in_features → out_features = {params['out_features']}",
                 params["out_features"])], out


def _recurrent(params, shapes) -> tuple[list[Line], Shape | None]:
    t, f = shapes[0]
    dirs = 2 if params["bidirectional"] else 1
    h = params.get("proj_size") or params["hidden_size"]
    if h > params["hidden_size"] or (params.get("proj_size") and h == params["hidden_size"]):
        return [Line(f"proj_size {h} must be smaller than hidden_size {params['hidden_size']}", None, False)], None
    width = h * dirs
    what = "proj_size" if params.get("proj_size") else "hidden_size"
    lines = [Line(f"features = {what}·directions = {h}·{dirs} = {width}", width)]
    if params["output"] == "last":
        lines.append(Line(f"output \"last\": only step {t} of {t} is passed on", width))
        return lines, (width,)
    lines.append(Line(f"time steps: T_out = T_in = {t}", t))
    return lines, (t, width)


def _embedding(params, shapes) -> tuple[list[Line], Shape | None]:
    d = params["embedding_dim"]
    return [Line(f"each of the {_dot(*shapes[0])} token ids becomes a vector of embedding_dim = {d}", d)], \
        (*shapes[0], d)


def _concat(params, shapes) -> tuple[list[Line], Shape | None]:
    rank = len(shapes[0]) + 1
    dim = params["dim"] % rank
    if dim == 0:
        return [Line("dim 0 would join samples of the batch", None, False)], None
    sizes = [s[dim - 1] for s in shapes]
    total = sum(sizes)
    out = list(shapes[0])
    out[dim - 1] = total
    return [Line(f"dimension {dim}: {' + '.join(map(str, sizes))} = {total:,}", total)], tuple(out)


def _upsample(params, shapes) -> tuple[list[Line], Shape | None]:
    c, *spatial = shapes[0]
    dims = len(spatial)
    mode = params.get("mode", "nearest")
    need = {"linear": (1,), "bilinear": (2,), "bicubic": (2,), "trilinear": (3,)}.get(mode, (1, 2, 3))
    if dims not in need:
        return [Line(f"mode \"{mode}\" resizes {' or '.join(f'{n + 1}-D' for n in need)} samples (C first), not "
                     f"{'×'.join(map(str, shapes[0]))}", None, False)], None
    lines = [Line(f"C_out = C_in = {c}", c)]
    size, scale = params.get("size"), params.get("scale_factor")
    for i, n in enumerate(_names(dims)):
        if size is not None:
            value = sized(size, dims)[i]
            lines.append(Line(f"{n}_out = size = {value}", value))
        else:
            value = int(math.floor(spatial[i] * float(scale)))
            lines.append(Line(f"{n}_out = ⌊{spatial[i]}·{float(scale):g}⌋ = {value}", value, value > 0))
    return lines, (c, *[line.value for line in lines[1:]])


def _broadcast(params, shapes) -> tuple[list[Line], Shape | None]:
    rank = max(len(s) for s in shapes)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    out = []
    for sizes in zip(*padded):
        big = {v for v in sizes if v != 1}
        if len(big) > 1:
            return [Line(f"sizes {' and '.join(map(str, sizes))} cannot be matched", None, False)], None
        out.append(big.pop() if big else 1)
    text = " ⊙ ".join("×".join(map(str, s)) for s in shapes)
    return [Line(f"{text} → {'×'.join(map(str, out))} (size-1 dimensions repeat)", None)], tuple(out)


def _class_token(params, shapes) -> tuple[list[Line], Shape | None]:
    t, e = shapes[0]
    return [Line(f"steps: T_out = T_in + 1 = {t} + 1 = {t + 1}   (the class token goes first)", t + 1)], (t + 1, e)


def _select(params, shapes) -> tuple[list[Line], Shape | None]:
    rank = len(shapes[0]) + 1
    dim = params["dim"] % rank
    if dim == 0:
        return [Line("dim 0 would pick one sample of the batch", None, False)], None
    out = shapes[0][:dim - 1] + shapes[0][dim:]
    size = shapes[0][dim - 1]
    return [Line(f"dimension {dim} (size {size}): position {params['index']} is kept, the dimension goes: "
                 f"{'×'.join(map(str, shapes[0]))} → {'×'.join(map(str, out)) or 'a scalar'}", None,
                 -size <= params["index"] < size)], out


def _narrow(params, shapes):
    rank = len(shapes[0]) + 1
    dim = params["dim"] % rank
    if dim == 0:
        return [Line("dim 0 would cut the batch", None, False)], None
    size, start, length = shapes[0][dim - 1], params["start"], params["length"]
    first = start + size if start < 0 else start
    out = shapes[0][:dim - 1] + (length,) + shapes[0][dim:]
    return [Line(f"dimension {dim} (size {size}): positions {first} to {first + length - 1} are kept: "
                 f"{'×'.join(map(str, shapes[0]))} → {'×'.join(map(str, out))}", None,
                 0 <= first < size and first + length <= size)], out


def _along(params, shapes) -> tuple[list[Line], Shape | None]:
    rank, dim = len(shapes[0]) + 1, params["dim"]
    if not -rank <= dim < rank or dim % rank == 0:
        return [Line(f"dim {dim} is not a dimension of one sample: use 1 to {rank - 1} or −1 to −{rank - 1}",
                     None, False)], None
    return [Line(f"same shape as the input: {'×'.join(map(str, shapes[0]))}")], shapes[0]


SHAPE_RULES = {
    "Softmax": _along,
    "LogSoftmax": _along,
    "Narrow": _narrow,
    "ClassToken": _class_token,
    "Select": _select,
    "Conv1d": lambda p, s: _conv(p, s, 1),
    "Conv2d": lambda p, s: _conv(p, s, 2),
    "ConvTranspose2d": lambda p, s: _conv_transpose(p, s, 2),
    "MaxPool1d": lambda p, s: _pool(p, s, 1, True),
    "MaxPool2d": lambda p, s: _pool(p, s, 2, True),
    "AvgPool2d": lambda p, s: _pool(p, s, 2, False),
    "AdaptiveAvgPool2d": lambda p, s: _adaptive(p, s, 2),
    "AdaptiveMaxPool2d": lambda p, s: _adaptive(p, s, 2),
    "Flatten": _flatten,
    "Reshape": _reshape,
    "Permute": _permute,
    "Linear": _linear,
    "RNN": _recurrent,
    "LSTM": _recurrent,
    "GRU": _recurrent,
    "Embedding": _embedding,
    "Concat": _concat,
    "Upsample": _upsample,
    "Mul": _broadcast,
}


# -- parameter counts ---------------------------------------------------------------------------
def _conv_params(p, shapes) -> Line:
    k = sized(p["kernel_size"], len(shapes[0]) - 1)
    per_filter = p["in_channels"] // p["groups"]
    weights = p["out_channels"] * per_filter * math.prod(k)
    inner = _dot(per_filter, *k)
    total = weights + (p["out_channels"] if p["bias"] else 0)
    text = f"params = {p['out_channels']}·({inner})" + (f" + {p['out_channels']}" if p["bias"] else "")
    if p["groups"] > 1:
        text += f"   (each filter sees {p['in_channels']}/{p['groups']} = {per_filter} channels)"
    return Line(f"{text} = {total:,}", total)


def _conv_transpose_params(p, shapes) -> Line:
    k = sized(p["kernel_size"], len(shapes[0]) - 1)
    per = p["out_channels"] // p["groups"]
    total = p["in_channels"] * per * math.prod(k) + (p["out_channels"] if p["bias"] else 0)
    text = f"params = {p['in_channels']}·({_dot(per, *k)})" + (f" + {p['out_channels']}" if p["bias"] else "")
    return Line(f"{text} = {total:,}", total)


def _linear_params(p, shapes) -> Line:
    total = p["out_features"] * p["in_features"] + (p["out_features"] if p["bias"] else 0)
    text = f"params = {p['out_features']}·{p['in_features']}" + (f" + {p['out_features']}" if p["bias"] else "")
    return Line(f"{text} = {total:,}", total)


GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def _recurrent_params(kind: str):
    def rule(p, shapes) -> Line:
        g, h, dirs = GATES[kind], p["hidden_size"], 2 if p["bidirectional"] else 1
        proj = p.get("proj_size") or 0
        out = proj or h
        terms, total = [], 0
        for layer in range(p["num_layers"]):
            f = p["input_size"] if layer == 0 else out * dirs
            per = g * h * f + g * h * out + (2 * g * h if p["bias"] else 0) + (proj * h if proj else 0)
            total += per * dirs
            term = f"{g}·{h}·({f} + {out})" + (f" + 2·{g}·{h}" if p["bias"] else "") + \
                (f" + {proj}·{h}" if proj else "")
            terms.append(f"{dirs}·({term})" if dirs > 1 else f"({term})" if p["num_layers"] > 1 else term)
        gates = {1: "one", 3: "three", 4: "four"}[g]
        return Line(f"params = {' + '.join(terms)} = {total:,}   ({gates} gate{'s' if g > 1 else ''} "
                    f"of {h} units)", total)
    return rule


def _norm_params(p, shapes) -> Line:
    c = p["num_features"]
    total = 2 * c if p["affine"] else 0
    return Line(f"params = 2·{c} = {total:,}   (a scale γ and a shift β per channel)" if p["affine"]
                else "params = 0   (affine is off)", total)


def _layernorm_params(p, shapes) -> Line:
    n = math.prod(p["normalized_shape"])
    if not p["elementwise_affine"]:
        return Line("params = 0   (elementwise_affine is off)", 0)
    count = 2 if p.get("bias", True) else 1
    return Line(f"params = {count}·{n} = {count * n:,}", count * n)


def _embedding_params(p, shapes) -> Line:
    total = p["num_embeddings"] * p["embedding_dim"]
    return Line(f"params = {p['num_embeddings']}·{p['embedding_dim']} = {total:,}   (one row per token id)", total)


def _groupnorm_params(p, shapes) -> Line:
    c = p["num_channels"]
    if not p["affine"]:
        return Line("params = 0   (affine is off)", 0)
    return Line(f"params = 2·{c} = {2 * c:,}   (a scale γ and a shift β per channel; "
                f"statistics over {p['num_groups']} groups of {c // p['num_groups']})", 2 * c)


def _attention_params(p, shapes) -> Line:
    e = p["embed_dim"]
    if p["bias"]:
        total = 4 * e * e + 4 * e
        return Line(f"params = 3·{e}·{e} + 3·{e} + {e}·{e} + {e} = {total:,}   (query, key, value projections, "
                    "then the output projection)", total)
    total = 4 * e * e
    return Line(f"params = 3·{e}·{e} + {e}·{e} = {total:,}   (query, key, value and output projections)", total)


def _class_token_params(p, shapes) -> Line:
    return Line(f"params = embed_dim = {p['embed_dim']:,}   (one learned vector)", p["embed_dim"])


def _position_params(p, shapes) -> Line:
    total = p["length"] * p["embed_dim"]
    return Line(f"params = {p['length']}·{p['embed_dim']} = {total:,}   (one learned vector per position)", total)


def _layernorm2d_params(p, shapes) -> Line:
    return _layernorm_params({**p, "normalized_shape": [p["normalized_shape"]]}, shapes)


def _layer_scale_params(p, shapes) -> Line:
    return Line(f"params = num_channels = {p['num_channels']:,}   (one learned factor per channel)",
                p["num_channels"])


PARAM_RULES = {
    "LayerNorm2d": _layernorm2d_params, "LayerScale": _layer_scale_params,
    "ClassToken": _class_token_params, "PositionEmbedding": _position_params,
    "Conv1d": _conv_params, "Conv2d": _conv_params, "ConvTranspose2d": _conv_transpose_params,
    "Linear": _linear_params, "RNN": _recurrent_params("RNN"), "LSTM": _recurrent_params("LSTM"),
    "GRU": _recurrent_params("GRU"), "BatchNorm1d": _norm_params, "BatchNorm2d": _norm_params,
    "LayerNorm": _layernorm_params, "Embedding": _embedding_params, "GroupNorm": _groupnorm_params,
    "MultiheadAttention": _attention_params,
}


def explain(kind_name: str, params: dict, input_shapes: list[Shape]) -> Arithmetic:
    """The block's shape and parameter rules with its own numbers (see the module docstring)."""
    shapes = [tuple(s) for s in input_shapes]
    if kind_name == "Input":
        shape = tuple(params["shape"])
        return Arithmetic((Line(f"one sample: {'×'.join(map(str, shape))} (the batch is added in front)"),),
                          None, shape, 0)
    if not shapes or any(s is None for s in shapes):
        return Arithmetic((), None, None, None)
    rule = SHAPE_RULES.get(kind_name)
    try:
        lines, out = rule(params, shapes) if rule else ([Line(f"same shape as the input: "
                                                               f"{'×'.join(map(str, shapes[0]))}")], shapes[0])
    except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
        return Arithmetic((), None, None, None)
    if any(not line.ok for line in lines):
        out = None
    count_rule = PARAM_RULES.get(kind_name)
    count = None
    if count_rule is not None and all(v != "auto" for v in params.values()):
        try:
            count = count_rule(params, shapes)
        except (KeyError, IndexError, TypeError, ValueError, ZeroDivisionError):
            count = None
    if count is not None:
        return Arithmetic(tuple(lines), count, out, count.value)
    # Kinds known to learn nothing say so; a kind without a rule here makes no claim.
    return Arithmetic(tuple(lines), None, out, 0 if kind_name in NO_PARAMS else None)


NO_PARAMS = {"Output", "ReLU", "Tanh", "Sigmoid", "LeakyReLU", "GELU", "Softmax", "LogSoftmax", "Dropout",
              "Flatten", "Reshape", "Permute", "Add", "Concat", "MaxPool1d", "MaxPool2d", "AvgPool2d",
              "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "Identity", "ReLU6", "SiLU", "Hardswish",
              "Hardsigmoid", "Mul", "Upsample", "StochasticDepth", "Select", "Narrow",
              "ChannelShuffle"}
