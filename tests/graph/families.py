"""Random graphs built the way people build them: each block is drawn from the families that take the
shape analysis gives the block before it (convolutions with stride, padding, dilation, output_padding and
groups on images and signals, pools with ceil_mode, recurrent layers bidirectional and stacked, Embedding on
token ids, attention with one to three inputs, ClassToken, PositionEmbedding and Select on sequences,
Upsample, GroupNorm, LayerNorm, Reshape and Permute with -1, Flatten at any axis), and merge blocks (Add,
Mul, Concat) that join a branch of a broadcastable shape or of another rank. In one block of `wild_one_in`,
one whole-number parameter is drawn far outside what fits, so analysis also meets graphs it must refuse.

`check_runs_as_analysed` is the promise of DESIGN.md rule 14, checked against PyTorch itself: what analysis
accepts compiles and runs, in evaluation and in training, at batch sizes 1, 2 and 5, with every block's
output shape and dtype as analysed (torch.fx's ShapeProp on real tensors), every block's parameter count
equal to its module's, and the MACs FlopCounterMode counts equal to analysis's, per sample at every batch
size; in evaluation, a sample's result does not depend on the other samples of its batch. `check_refusal` is the reverse: a graph analysis refuses gets sentences on the block that causes it.
"""
from __future__ import annotations

import copy
import re

import torch
from hypothesis import strategies as st
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils.flop_counter import FlopCounterMode

from layerloom.graph import GraphDocument, analyze, compile_graph

BATCHES = (1, 2, 5)
SIZES = (1, 2, 3, 4, 5, 7, 8)
LONG = (17, 20)          # long sequences: analysis extends its 1- and 2-step results (analysis.LONG_SEQUENCE)
# CPU kernels FlopCounterMode cannot see into (fused recurrent layers, CPU attention): counted on meta
FUSED = (torch.nn.RNNBase, torch.nn.MultiheadAttention)


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


class _Builder:
    def __init__(self, draw, wild_one_in: int):
        self.draw, self.wild_one_in = draw, wild_one_in
        self.wild = False           # may this block get one value far outside what fits
        self.doc = GraphDocument(draw(st.sampled_from(["families", "net", "torch"])))
        self.made: list[str] = []         # the blocks analysis accepted so far

    def small(self, lo: int, hi: int, wild_hi: int = 40) -> int:
        """A whole number in lo..hi, or now and then one far outside it."""
        hi = max(lo, hi)
        if self.wild and self.draw(st.integers(0, 2)) == 0:
            self.wild = False
            return self.draw(st.sampled_from([0, -1, hi + 1, wild_hi, lo - 1]))
        return self.draw(st.integers(lo, hi))

    def pair(self, lo: int, hi: int):
        if self.draw(st.booleans()):
            return self.small(lo, hi)
        return [self.small(lo, hi), self.small(lo, hi)]

    def maybe(self, params: dict) -> dict:
        """Leave out some of the params (their defaults then apply)."""
        return {k: v for k, v in params.items() if self.draw(st.integers(0, 3)) > 0}

    def add(self, kind: str, params: dict, *sources: str) -> str:
        bid = self.doc.add_block(kind, params)
        for port, src in enumerate(sources):
            self.doc.connect(src, bid, dst_port=port)
        return bid


def _conv(b: _Builder, shape, dims: int, transpose=False):
    c = shape[0]
    groups = b.draw(st.sampled_from(_divisors(c))) if b.draw(st.booleans()) else 1
    out = groups * b.small(1, 3)
    p = {"out_channels": out, "kernel_size": b.pair(1, 4) if dims == 2 else b.small(1, 4),
         "stride": b.pair(1, 3) if dims == 2 else b.small(1, 3), "dilation": b.small(1, 3),
         "groups": groups, "bias": b.draw(st.booleans())}
    if transpose:
        stride = p["stride"] if isinstance(p["stride"], int) else max(p["stride"])
        p["output_padding"] = b.small(0, max(stride, p["dilation"]) - 1)     # torch: below either of them
        p["padding"] = b.small(0, 2)
        return "ConvTranspose2d", p
    p["padding"] = b.draw(st.sampled_from(["same", "valid", 0, 1, 2])) if p["stride"] == 1 else b.small(0, 2)
    p["padding_mode"] = b.draw(st.sampled_from(["zeros", "zeros", "reflect", "replicate", "circular"]))
    return ("Conv2d" if dims == 2 else "Conv1d"), p


def _pool(b: _Builder, shape, dims: int):
    kind = b.draw(st.sampled_from(["MaxPool2d", "AvgPool2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d"]
                                  if dims == 2 else ["MaxPool1d"]))
    if kind.startswith("Adaptive"):
        return kind, {"output_size": b.pair(1, 5)}
    k = b.small(1, 4)
    p = {"kernel_size": k, "stride": b.small(1, 3), "padding": b.small(0, k // 2), "ceil_mode": b.draw(st.booleans())}
    if kind == "AvgPool2d":
        p["count_include_pad"] = b.draw(st.booleans())
    else:
        p["dilation"] = b.small(1, 2)
    return kind, b.maybe(p)


def _upsample(b: _Builder, shape):
    modes = {2: ["nearest", "linear"], 3: ["nearest", "bilinear", "bicubic"]}[len(shape)]
    mode = b.draw(st.sampled_from(modes))
    p = {"mode": mode}
    if b.draw(st.booleans()):
        p["size"] = b.small(1, 9) if len(shape) == 2 or b.draw(st.booleans()) else [b.small(1, 9), b.small(1, 9)]
        p["scale_factor"] = None
    else:
        p["scale_factor"] = b.draw(st.sampled_from([0.5, 1.0, 1.5, 2.0, 3.0, 0.3, 0.7, 1.3, 2.5, 1 / 3]))
    if mode != "nearest" and b.draw(st.booleans()):
        p["align_corners"] = b.draw(st.booleans())
    return "Upsample", p


def _norm(b: _Builder, shape):
    choices = ["LayerNorm", "GroupNorm"] + {1: ["BatchNorm1d"], 2: ["BatchNorm1d"], 3: ["BatchNorm2d"]}.get(len(shape), [])
    kind = b.draw(st.sampled_from(choices))
    if kind == "LayerNorm":
        n = b.draw(st.integers(1, len(shape)))
        p = {"normalized_shape": list(shape[-n:]) if b.draw(st.integers(0, 5)) else [b.small(1, 8)]}
        return kind, {**p, "elementwise_affine": b.draw(st.booleans()), "bias": b.draw(st.booleans())}
    if kind == "GroupNorm":
        return kind, {"num_groups": b.draw(st.sampled_from(_divisors(shape[0]))) if b.draw(st.integers(0, 5))
                      else b.small(1, 8), "affine": b.draw(st.booleans())}
    return kind, {"affine": b.draw(st.booleans()), "momentum": b.draw(st.sampled_from([0.0, 0.1, 1.0]))}


def _recurrent(b: _Builder, shape):
    kind = b.draw(st.sampled_from(["RNN", "LSTM", "GRU"]))
    hidden, layers = b.small(1, 5), b.small(1, 3)
    p = {"hidden_size": hidden, "num_layers": layers, "bidirectional": b.draw(st.booleans()),
         "output": b.draw(st.sampled_from(["sequence", "last"])), "bias": b.draw(st.booleans()),
         "dropout": b.draw(st.sampled_from([0.0, 0.5])) if layers > 1 else 0.0}
    if kind == "LSTM" and b.draw(st.booleans()):
        p["proj_size"] = b.small(0, max(0, hidden - 1))
    if kind == "RNN":
        p["nonlinearity"] = b.draw(st.sampled_from(["tanh", "relu"]))
    return kind, p


def _reshape(b: _Builder, shape):
    n = 1
    for s in shape:
        n *= s
    dims = []
    while n > 1 and len(dims) < 3 and b.draw(st.booleans()):
        d = b.draw(st.sampled_from(_divisors(n)))
        dims.append(d)
        n //= d
    dims.append(n)
    dims = b.draw(st.permutations(dims))
    if b.draw(st.booleans()):
        dims[b.draw(st.integers(0, len(dims) - 1))] = -1
    if b.wild and b.draw(st.booleans()):
        dims = dims + [b.small(2, 3)]
    return "Reshape", {"shape": list(dims)}


def _sample_dim(b: _Builder, rank: int) -> int:
    d = b.draw(st.integers(1, rank))
    return d - rank - 1 if b.draw(st.booleans()) else d      # the same dim counted from the end


def _one_block(b: _Builder, shape, dtype):
    """(kind, params) for a block that takes a sample of `shape`."""
    rank = len(shape)
    if dtype == "int64":
        return "Embedding", {"num_embeddings": b.small(4, 12), "embedding_dim": b.small(1, 6),
                             "padding_idx": b.draw(st.sampled_from([None, 0, 3]))}
    options = ["Linear", "activation", "norm", "Dropout", "reshape", "Flatten"]
    options += {1: [], 2: ["conv", "pool", "recurrent", "recurrent", "recurrent", "attention", "attention", "token",
                           "token", "Select", "Permute", "Upsample", "norm"],
                3: ["conv", "conv", "conv", "transpose", "transpose", "pool", "pool", "pool", "Upsample", "Upsample",
                    "Permute", "Select", "norm"]}.get(rank, [])
    if not b.long_sequences and rank == 2 and shape[0] > 8:
        options = [o for o in options if o != "recurrent"]
    pick = b.draw(st.sampled_from(options))
    if pick == "Linear":
        return "Linear", {"out_features": b.small(1, 6), "bias": b.draw(st.booleans())}
    if pick == "activation":
        kind = b.draw(st.sampled_from(["ReLU", "GELU", "SiLU", "Tanh", "Softmax", "LogSoftmax", "StochasticDepth"]))
        if kind in ("Softmax", "LogSoftmax"):
            return kind, {"dim": _sample_dim(b, rank)}
        return kind, ({"p": 0.5, "mode": b.draw(st.sampled_from(["row", "batch"]))} if kind == "StochasticDepth" else {})
    if pick == "norm":
        return _norm(b, shape)
    if pick == "Dropout":
        return "Dropout", {"p": b.draw(st.sampled_from([0.0, 0.5]))}
    if pick == "reshape":
        return _reshape(b, shape)
    if pick == "Flatten":
        start = _sample_dim(b, rank)
        return "Flatten", {"start_dim": start, "end_dim": b.draw(st.sampled_from([-1, _sample_dim(b, rank)]))}
    if pick in ("conv", "transpose"):
        return _conv(b, shape, rank - 1, transpose=pick == "transpose")
    if pick == "pool":
        return _pool(b, shape, rank - 1)
    if pick == "Upsample":
        return _upsample(b, shape)
    if pick == "recurrent":
        return _recurrent(b, shape)
    if pick == "token":
        return b.draw(st.sampled_from(["ClassToken", "PositionEmbedding"])), {}
    if pick == "Select":
        d = _sample_dim(b, rank)
        size = shape[d - 1 if d > 0 else d]
        return "Select", {"dim": d, "index": b.draw(st.integers(-size, size - 1)) if b.draw(st.integers(0, 5))
                          else b.small(size, size + 2)}
    if pick == "Permute":
        return "Permute", {"dims": b.draw(st.permutations(range(rank)))}
    return "attention", {}


def _attention(b: _Builder, src: str, shape) -> str:
    e = shape[-1]
    p = {"num_heads": b.draw(st.sampled_from(_divisors(e))) if b.draw(st.integers(0, 5)) else b.small(2, 4),
         "num_inputs": b.draw(st.integers(1, 3)), "bias": b.draw(st.booleans())}
    sources = [src]
    for _ in range(p["num_inputs"] - 1):          # key and value: another length, the same width
        sources.append(b.add("Linear", {"out_features": e}, b.add("Reshape", {"shape": [-1, e]}, src))
                       if b.draw(st.booleans()) else src)
    return b.add("MultiheadAttention", p, *sources)


def _merge(b: _Builder, src: str, shape) -> str:
    """Add, Mul or Concat of a block with a branch of it: broadcastable (a 1 where the block has more), of
    the same shape, of another length along one dim, or (one time in four) of another rank."""
    kind = b.draw(st.sampled_from(["Add", "Mul", "Concat"]))
    rank = len(shape)
    how = b.draw(st.sampled_from(["ones", "same", "other rank", "ones", "earlier"]))
    if how == "earlier":           # any block before it: of the same shape, or not
        branch = b.draw(st.sampled_from(b.made))
    elif how == "other rank" or (kind == "Concat" and how == "ones"):
        branch = b.add("Flatten", {}, src) if rank > 1 else b.add("Reshape", {"shape": [1, shape[0]]}, src)
        if kind == "Concat" and how == "ones":
            branch = b.add("Linear", {"out_features": b.small(1, 3)}, src)
    elif how == "ones":            # 1 in the last dimension, or C×1×1 against C×H×W
        branch = b.add("AdaptiveAvgPool2d", {"output_size": 1}, src) if rank == 3 and b.draw(st.booleans()) \
            else b.add("Linear", {"out_features": 1}, src)
    else:
        branch = b.add("ReLU", {}, src)
    params = {"dim": -1 if how == "ones" else _sample_dim(b, rank)} if kind == "Concat" else {}
    pair = [src, branch] if b.draw(st.booleans()) else [branch, src]
    return b.add(kind, params, *pair)


@st.composite
def family_graphs(draw, wild_one_in: int = 6, max_blocks: int = 6, long_sequences: bool = True):
    """A GraphDocument: Input, up to `max_blocks` blocks each fitting the shape analysis gives the one
    before it, Output. Building stops at the first block analysis refuses. `long_sequences` draws sequences
    of more than 16 steps too (slow: counting a recurrent block's MACs on meta tensors steps through time)."""
    b = _Builder(draw, wild_one_in)
    b.long_sequences = long_sequences
    steps = draw(st.sampled_from(SIZES + LONG if long_sequences else SIZES))       # a sequence's length, or an image's channels
    rank = draw(st.integers(1, 3))
    if draw(st.integers(0, 5)) == 0:
        shape, dtype = [steps], "int64"
    else:        # images of 4 to 12 pixels a side, so that most windows fit
        shape = [steps, *[draw(st.integers(4, 12)) for _ in range(rank - 1)]] if rank == 3 else \
            [steps, draw(st.sampled_from(SIZES))][:rank]
        dtype = "float32"
    last = b.add("Input", {"shape": shape, "dtype": dtype})
    for _ in range(draw(st.integers(1, max_blocks))):
        r = analyze(b.doc).blocks[last]
        if not r.ok:
            break
        b.made.append(last)
        b.wild = bool(wild_one_in) and draw(st.integers(0, wild_one_in - 1)) == 0
        shape, dtype = list(r.output_shape), r.output_dtype
        if draw(st.integers(0, 4)) == 0 and dtype != "int64":
            last = _merge(b, last, shape)
            continue
        kind, params = _one_block(b, shape, dtype)
        last = _attention(b, last, shape) if kind == "attention" else b.add(kind, params, last)
    b.add("Output", {}, last)
    return b.doc


def _macs(module, x) -> int:
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def _input(result, doc, batch: int):
    (inp,) = [b for b in result.order if doc.blocks[b].kind == "Input"]
    r = result.blocks[inp]
    if r.output_dtype == "int64":
        return torch.randint(0, 3, (batch, *r.output_shape), generator=torch.Generator().manual_seed(batch))
    return torch.randn((batch, *r.output_shape), generator=torch.Generator().manual_seed(batch))


def _shapes_as_analysed(model, result, x, mode: str) -> None:
    ShapeProp(model).propagate(x)
    for node in model.graph.nodes:
        if node.op != "placeholder" and node.name in result.blocks:
            r, meta = result.blocks[node.name], node.meta["tensor_meta"]
            assert tuple(meta.shape) == (len(x), *r.output_shape), \
                (mode, len(x), node.name, tuple(meta.shape), r.output_shape)
            assert str(meta.dtype).removeprefix("torch.") == r.output_dtype, (node.name, meta.dtype)


def check_runs_as_analysed(doc) -> bool:
    """Asserts DESIGN.md's rule 14 for `doc`; False when analysis refuses it."""
    result = analyze(doc)
    if result.errors:
        return False
    model = compile_graph(doc, result, seed=0)
    assert sum(p.numel() for p in model.parameters()) == result.total_params
    for bid, r in result.blocks.items():
        module = getattr(model, bid, None)
        if isinstance(module, torch.nn.Module):
            assert sum(p.numel() for p in module.parameters()) == r.param_count, bid
    meta = copy.deepcopy(model).eval().to("meta") if any(isinstance(m, FUSED) for m in model.modules()) else None
    for batch in BATCHES:
        x = _input(result, doc, batch)
        with torch.no_grad():
            _shapes_as_analysed(model.eval(), result, x, "eval")
            if meta is None or batch == 1:       # on meta tensors, a recurrent block's steps are slow to count
                counted = _macs(meta, x.to("meta")) if meta is not None else _macs(model, x)
                assert counted == batch * result.total_macs, (batch, counted, result.total_macs)
        if batch > 1:          # training never makes a batch of one (runtime/trainer.py)
            _shapes_as_analysed(model.train(), result, x, "train")
    # In evaluation a sample's result does not depend on the others in its batch (float64: no rounding by
    # kernels chosen for the batch size).
    double = copy.deepcopy(model).eval().double()
    x = _input(result, doc, 5)
    x = x.double() if x.is_floating_point() else x
    with torch.no_grad():
        torch.testing.assert_close(double(x)[:1], double(x[:1]), rtol=1e-7, atol=1e-9, equal_nan=True)
    return True


# What a person must never read in a refusal: a traceback's words, torch's internals, Python's reprs.
JARGON = re.compile(r"Traceback|Error\b|aten::|c10|torch\.Size|tensor\(|0x[0-9a-f]{6}|<[a-z_.]+ object|"
                    r"NoneType|\bargs?\[|File \"|negative dimension|Given input size|×-|-\d+×")


def check_refusal(doc, result) -> None:
    """Every error analysis gives names a block, speaks in plain words, and the first one in the graph's
    order sits on a block whose inputs analysis accepted (the block that causes it, not one after it)."""
    for d in result.errors:
        assert d.block in doc.blocks or d.block in ("", None), d
        assert d.message and not JARGON.search(d.message), d.message
    on_blocks = [b for b in result.order if any(d.block == b for d in result.errors)]
    if on_blocks:
        first = on_blocks[0]
        assert all(result.blocks[e.src].ok for e in doc.edges if e.dst == first), first
