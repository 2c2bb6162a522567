"""Random blocks with odd settings (dilation with padding "same", groups, ceil_mode, stride above the kernel,
asymmetric kernels, 1-wide inputs, output_padding, adaptive pools to bigger sizes, -1 in shapes, bidirectional
and stacked recurrent layers with projections, padding_idx), on inputs of the rank each kind takes, in short
chains. For every graph analysis accepts, PyTorch itself says the same: each block's output shape and dtype on a
real batch (torch.fx's ShapeProp), each block's parameter count, the MACs FlopCounterMode counts on the real
module, and the generated code, run with the same weights, gives the same outputs. LAYERLOOM_LONG=1 runs many more.
"""
import os

import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch.fx.passes.shape_prop import ShapeProp
from torch.utils.flop_counter import FlopCounterMode

from layerloom.graph import GraphDocument, analyze, compile_graph, generated_code
from layerloom.graph.blocks import REGISTRY
from layerloom.graph.compiler import class_name_for
from layerloom.graph.fileformat import dumps_graph

from .helpers import param_value

EXAMPLES = 1500 if os.environ.get("LAYERLOOM_LONG") else 150
SETTINGS = settings(derandomize=True, max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))
KINDS = sorted(k for k in REGISTRY if k not in ("Input", "Output", "Opaque"))
SEQUENCE = {"Conv1d", "MaxPool1d", "BatchNorm1d", "RNN", "LSTM", "GRU", "MultiheadAttention", "ClassToken",
            "PositionEmbedding"}
# CPU kernels FlopCounterMode cannot see into (fused recurrent layers, CPU attention): counted on meta
FUSED = (torch.nn.RNNBase, torch.nn.MultiheadAttention)


def _int(draw, p):
    if p.name in ("dim", "start_dim", "end_dim", "index"):
        return draw(st.integers(-4, 4))
    lo = int(p.min) if p.min is not None else 0
    return lo + draw(st.sampled_from([0, 0, 1, 1, 2, 3, 4, 7]))


def _value(draw, p):
    return param_value(draw, p, _int, (0.5, 1.5, 3.0), strings_one_in=3, max_items=4,
                       item_hi=lambda p, lo: lo + 6)


@st.composite
def graphs(draw):
    first = draw(st.sampled_from(KINDS))
    rank = 1 if first == "Embedding" else 2 if first in SEQUENCE else draw(st.integers(1, 3))
    doc = GraphDocument(draw(st.sampled_from(["random", "class", "torch", "nn"])))
    shape = [draw(st.sampled_from([1, 1, 2, 3, 4, 5, 7, 9])) for _ in range(rank)]
    dtype = "int64" if first == "Embedding" or draw(st.integers(0, 9)) == 0 else "float32"
    made = [doc.add_block("Input", {"shape": shape, "dtype": dtype})]
    for i in range(draw(st.integers(1, 3))):
        kind = REGISTRY[first if i == 0 else draw(st.sampled_from(KINDS))]
        params = {p.name: _value(draw, p) for p in kind.params
                  if p.type not in ("text", "json") and p.name != "num_inputs" and draw(st.booleans())}
        bid = doc.add_block(kind.name, params)
        for port in range(doc.input_count(bid)):
            doc.connect(draw(st.sampled_from(made[-2:])), bid, dst_port=port)
        made.append(bid)
    doc.connect(made[-1], doc.add_block("Output"))
    return doc


def _macs(module, x) -> int:
    with FlopCounterMode(display=False) as counter:
        module(x)
    return counter.get_total_flops() // 2


def check_against_torch(doc):
    result = analyze(doc)
    if result.errors:
        event("refused")
        return
    event("accepted")
    model = compile_graph(doc, result, seed=0).eval()
    (inp,) = [b for b in result.order if doc.blocks[b].kind == "Input"]
    shape = result.blocks[inp].output_shape
    x = torch.zeros((2, *shape), dtype=torch.int64) if result.blocks[inp].output_dtype == "int64" else \
        torch.randn((2, *shape), generator=torch.Generator().manual_seed(0))
    ShapeProp(model).propagate(x)
    for node in model.graph.nodes:
        if node.op != "placeholder" and node.name in result.blocks:
            r, meta = result.blocks[node.name], node.meta["tensor_meta"]
            assert tuple(meta.shape) == (2, *r.output_shape), (node.name, tuple(meta.shape), r.output_shape)
            assert str(meta.dtype).removeprefix("torch.") == r.output_dtype, (node.name, meta.dtype)
    for bid, r in result.blocks.items():
        module = getattr(model, bid, None)
        if isinstance(module, torch.nn.Module):
            assert sum(p.numel() for p in module.parameters()) == r.param_count, bid
    fused = any(isinstance(m, FUSED) for m in model.modules())
    counted = _macs(model.to("meta"), x[:1].to("meta")) if fused else _macs(model, x[:1])
    assert counted == result.total_macs, (counted, {b: r.macs for b, r in result.blocks.items()})
    model = compile_graph(doc, result, seed=0).eval()
    namespace = {}
    exec(compile(generated_code(doc), "<generated>", "exec"), namespace)    # Layerloom's own generated text
    mine = namespace[class_name_for(doc.name)]().eval()
    mine.load_state_dict(model.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(mine(x), model(x), equal_nan=True)


@SETTINGS
@given(graphs())
def test_what_analysis_accepts_is_what_torch_computes_block_by_block(doc):
    try:
        check_against_torch(doc)
    except Exception as exc:
        raise AssertionError(f"{type(exc).__name__}: {exc}\nfor the graph\n{dumps_graph(doc)}") from exc
