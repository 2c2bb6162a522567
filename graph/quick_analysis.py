"""The first shapes, before torch has loaded: analysis worked out from the documented rules.

`import torch` takes a second or more, and the window opens before it (app/analysis_loading.py). For
the graphs people open most (the presets, the ones they build from convolutions, pools, linear layers
and activations) the numbers can be known without it: PyTorch documents each output-shape formula
(graph/arithmetic.py writes them with a block's own values) and FlopCounterMode counts the multiply-adds
of a convolution or a matrix product (a recurrent layer makes a few per step, attention a few per head)
by a formula of the same shapes.

`quick_analyze(doc, data)` walks the graph as analysis does (graph/analysis_walk.py) and returns the
same AnalysisResult the full analysis would, or None. It answers only when it can vouch for every
block: a kind outside the list below, a setting with a corner the rules do not cover (a padding mode,
a pool padded past half its window), a block torch would refuse or warn about, a cycle: any of these
and it says nothing, and the views show "analysing…" until torch's analysis arrives, as before.
torch's analysis always follows and replaces it. tests/graph/test_quick_analysis.py checks, on every
preset and on random graphs over these kinds, that whatever it returns equals the full analysis.

Torch-free: importing this module and calling it load neither torch nor networkx.
"""
from __future__ import annotations

import math

from . import arithmetic
from .arithmetic import sized
from .analysis_result import AnalysisResult, Shape
from .analysis_walk import Computed, Unknown, check_dims, check_dtypes, checked_params, resolve_params, walk
from .blocks import get_kind
from .diagnostics import check_rank
from .failures import UPSAMPLE_FORMS, UPSAMPLE_MODE_RANK

# Kinds whose result keeps its (first) input's shape and dtype and learns what arithmetic.PARAM_RULES counts
# (or nothing); none but attention costs a multiply-add that FlopCounterMode counts (it counts matrix products
# and convolutions only).
SAME_SHAPE = {"Output", "ReLU", "Tanh", "Sigmoid", "LeakyReLU", "GELU", "Softmax", "LogSoftmax", "Dropout",
              "ReLU6", "SiLU", "Hardswish", "Hardsigmoid", "Identity", "StochasticDepth", "BatchNorm1d",
              "BatchNorm2d", "LayerNorm", "GroupNorm", "LayerNorm2d", "LayerScale", "ChannelShuffle",
              "PositionEmbedding", "MultiheadAttention"}
# Kinds with a shape rule of their own in arithmetic.SHAPE_RULES (Add broadcasts as Mul does).
RULED = {"Conv1d", "Conv2d", "ConvTranspose2d", "MaxPool1d", "MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d",
         "AdaptiveMaxPool2d", "Flatten", "Reshape", "Permute", "Linear", "Embedding", "Concat", "Select", "Narrow",
         "Add", "Mul", "RNN", "LSTM", "GRU", "ClassToken", "Upsample"}
KINDS = SAME_SHAPE | RULED
# Sample ranks torch takes where the registry's expected_rank (checked first) does not say: others take 1 to 8
RANKS = {"BatchNorm1d": (1, 2)}
# Tensors of this many values or more are left to torch: it refuses one whose bytes (values x 1 to 8 bytes each)
# reach 2**63 ("Storage size calculation overflowed"); below 2**60 no dtype reaches it.
HUGE = 2**60


def _sure(kind_name: str, p: dict, shapes: list[Shape]) -> bool:
    """Whether the rules cover this block's settings and inputs exactly (where they might not, or torch
    would refuse or warn, the quick analysis says nothing)."""
    x = shapes[0] if shapes else ()
    if not all(shapes) or len(x) not in RANKS.get(kind_name, range(1, 9)):
        return False
    if kind_name in ("Conv1d", "Conv2d"):
        if p["padding_mode"] != "zeros" or p["in_channels"] % p["groups"] or p["out_channels"] % p["groups"]:
            return False
        if p["padding"] != "same":
            return True
        dims = len(x) - 1          # torch warns where "same" needs more padding on one side than the other
        odd = any(d * (k - 1) % 2 for d, k in zip(sized(p["dilation"], dims), sized(p["kernel_size"], dims)))
        return set(sized(p["stride"], dims)) == {1} and not odd
    if kind_name == "ConvTranspose2d":
        return not (p["in_channels"] % p["groups"] or p["out_channels"] % p["groups"])
    if kind_name in ("MaxPool1d", "MaxPool2d", "AvgPool2d"):
        dims = len(x) - 1
        k, pad = sized(p["kernel_size"], dims), sized(p["padding"], dims)
        return all(2 * q <= w for q, w in zip(pad, k))
    if kind_name == "Reshape":
        target = list(p["shape"])
        return target.count(-1) <= 1 and all(v > 0 or v == -1 for v in target)
    if kind_name == "Permute":
        return sorted(p["dims"]) == list(range(len(x)))
    if kind_name == "Embedding":
        return p["padding_idx"] is None or -p["num_embeddings"] <= p["padding_idx"] < p["num_embeddings"]
    if kind_name == "MultiheadAttention":      # query T×E; keys and values S×E, one S
        return p["embed_dim"] % p["num_heads"] == 0 and all(len(s) == 2 and s[1] == p["embed_dim"] for s in shapes) \
            and len({s[0] for s in shapes[1:]}) <= 1
    if kind_name == "PositionEmbedding":
        return tuple(x) == (p["length"], p["embed_dim"])
    if kind_name == "ClassToken":
        return len(x) == 2 and x[1] == p["embed_dim"]
    if kind_name in arithmetic.GATES:      # torch warns of dropout between the layers of a single layer, and
        return p["input_size"] == x[-1] and (p["num_layers"] > 1 or not p["dropout"]) and \
            (p.get("proj_size") or 0) < p["hidden_size"]       # refuses a projection as wide as the hidden state
    if kind_name in ("Add", "Mul"):
        return len({len(s) for s in shapes}) == 1
    if kind_name == "Upsample":      # torch refuses a mode made for another rank, corners aligned by "nearest"
        dims, size = len(x) - 1, p["size"]       # and a size with another number of dimensions
        if len(x) not in UPSAMPLE_FORMS or UPSAMPLE_MODE_RANK.get(p["mode"], len(x)) != len(x) or \
                (p["mode"] == "nearest" and p["align_corners"] is not None):
            return False
        if size is not None:
            return (not isinstance(size, (list, tuple)) or len(size) == dims) and min(sized(size, dims)) > 0
        return isinstance(p["scale_factor"], (int, float)) and p["scale_factor"] > 0
    if kind_name == "Concat":          # every dimension but the one joined agrees
        dim = p["dim"] % (len(x) + 1) - 1
        return len({len(s) for s in shapes}) == 1 and len({s[:dim] + s[dim + 1:] for s in shapes}) == 1
    if kind_name in ("BatchNorm1d", "BatchNorm2d"):
        return p["num_features"] == x[0] and p["track_running_stats"] is True
    if kind_name == "LayerNorm":
        ns = p["normalized_shape"]
        ns = tuple(ns) if isinstance(ns, (list, tuple)) else (ns,)
        return len(ns) <= len(x) and ns == tuple(x[len(x) - len(ns):])
    if kind_name == "GroupNorm":
        # torch refuses groups of one value each: they have no spread to normalise
        return bool(x) and p["num_channels"] == x[0] and x[0] % p["num_groups"] == 0 and \
            x[0] // p["num_groups"] * math.prod(x[1:]) > 1
    if kind_name == "LayerNorm2d":
        return len(x) == 3 and p["normalized_shape"] == x[0]
    if kind_name == "LayerScale":
        return bool(x) and p["num_channels"] == x[0]
    if kind_name == "ChannelShuffle":
        return len(x) >= 2 and x[0] % p["groups"] == 0
    return True


def _macs(kind_name: str, p: dict, shapes: list[Shape], out: Shape) -> int:
    """Multiply-adds per sample as FlopCounterMode counts them (half its FLOPs; bias additions are not
    counted): a convolution's every output value takes C_in/groups · k values, a transposed one spreads
    every input value over C_out/groups · k outputs, a linear layer's every output takes in_features."""
    if kind_name in ("Conv1d", "Conv2d"):
        k = sized(p["kernel_size"], len(out) - 1)
        return math.prod(out) * (p["in_channels"] // p["groups"]) * math.prod(k)
    if kind_name == "ConvTranspose2d":
        k = sized(p["kernel_size"], len(out) - 1)
        return math.prod(shapes[0]) * (p["out_channels"] // p["groups"]) * math.prod(k)
    if kind_name == "Linear":
        return math.prod(shapes[0][:-1]) * p["in_features"] * p["out_features"]
    if kind_name in arithmetic.GATES:
        return _recurrent_macs(kind_name, p, shapes[0][0])
    if kind_name == "MultiheadAttention":      # the query, key, value and output projections, then the scores
        queries, keys, e = shapes[0][0], shapes[-1][0], p["embed_dim"]     # and the weighted sum of values
        return 2 * queries * e * e + 2 * keys * e * e + 2 * queries * keys * e
    return 0


def _recurrent_macs(kind_name: str, p: dict, steps: int) -> int:
    """A recurrent layer's every step, in each direction of each layer, multiplies its input and its last
    output by each gate's weights (and an LSTM's projection its hidden state): G·H·(F + H_out) + P·H."""
    gates, hidden, proj = arithmetic.GATES[kind_name], p["hidden_size"], p.get("proj_size") or 0
    dirs, out = 2 if p["bidirectional"] else 1, proj or hidden
    total = 0
    for layer in range(p["num_layers"]):
        features = p["input_size"] if layer == 0 else out * dirs
        total += dirs * steps * (gates * hidden * (features + out) + proj * hidden)
    return total


def compute(kind_name: str, explicit: dict, inputs: list[tuple[Shape, str]]) -> Computed:
    """One block's result by the rules; raises Unknown where they cannot vouch for it."""
    kind = get_kind(kind_name)
    full, invalid = checked_params(kind, explicit)
    if invalid is not None:
        raise Unknown(kind_name)
    if kind_name == "Input":
        return Computed(full, tuple(full["shape"]), full["dtype"], 0, 0, None)
    if kind_name not in KINDS or not inputs:
        raise Unknown(kind_name)
    shapes = [tuple(s) for s, _ in inputs]
    dtypes = {d for _, d in inputs}
    p = resolve_params(kind, full, shapes[0])
    try:
        check_rank(kind, shapes[0])
        check_dims(kind_name, p, shapes[0])
        check_dtypes(kind, list(dtypes))
        if kind.check is not None:
            kind.check(shapes, p)
    except Exception as exc:      # torch's analysis words the problem
        raise Unknown(kind_name) from exc
    if len(dtypes) != 1 or not _sure(kind_name, p, shapes):
        raise Unknown(kind_name)
    rule = arithmetic.explain("Mul" if kind_name == "Add" else kind_name, p, list(shapes))   # both broadcast
    out = shapes[0] if kind_name in SAME_SHAPE else rule.output_shape
    count = rule.param_count
    if out is None or count is None or rule.failing is not None or not all(v > 0 for v in out):
        raise Unknown(kind_name)
    if max(math.prod(out), count, *(math.prod(s) for s in shapes)) >= HUGE:   # torch may refuse a tensor so large
        raise Unknown(kind_name)
    dtype = "float32" if kind_name == "Embedding" else dtypes.pop()
    return Computed(p, tuple(out), dtype, count, _macs(kind_name, p, shapes, tuple(out)), None)


def quick_analyze(doc, data: dict | None = None) -> AnalysisResult | None:
    """The analysis of `doc` worked out without torch, or None where it cannot vouch for every block
    (see the module docstring). A rule meeting values it was not written for says nothing either:
    torch's analysis follows and words the problem."""
    try:
        return walk(doc, data, compute)
    except (ArithmeticError, IndexError, KeyError, TypeError, ValueError):
        return None
