"""The receptive field walked back through the graph against torch's own gradients: for blocks that mix
positions without changing the shape (GroupNorm, LayerNorm, Softmax over H or W, broadcast gates) it is
None ("every position"), and where it is given it is the bounding box of d out[c, i, j] / d input."""
import pytest
import torch
from torch import nn

from layerloom.graph import GraphDocument, compile_graph
from layerloom.runtime.inside import conv_pixel, receptive_field, trace

from ..graph.helpers import chain

SHAPE = (2, 9, 9)


def _gradient_box(model, x, block, c, i, j):
    """Rows and columns of the input that d block[0, c, i, j] / d x is non-zero on (None: nowhere)."""
    xr = x.clone().requires_grad_(True)
    values = {}

    class Grab(torch.fx.Interpreter):
        def run_node(self, n):
            out = super().run_node(n)
            values[n.name] = out
            return out
    Grab(model).run(xr)
    grad, = torch.autograd.grad(values[block][0, c, i, j], xr)
    nz = grad[0].abs().sum(0).nonzero()
    if not len(nz):
        return None
    return {"rows": (int(nz[:, 0].min()), int(nz[:, 0].max())), "cols": (int(nz[:, 1].min()), int(nz[:, 1].max()))}


def _field_and_gradients(*middle, last=("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 1})):
    """Conv2d 1×1 -> middle... -> last on a 2×9×9 input: (field, gradient box) at a few positions."""
    doc = chain(("Conv2d", {"out_channels": 4, "kernel_size": 1}), *middle, last, shape=SHAPE)
    model = compile_graph(doc, seed=0).eval()
    torch.manual_seed(0)
    for p in model.parameters():           # positive weights and inputs: ReLUs stay open, no cancelling
        nn.init.uniform_(p, 0.1, 1.0)
    x = torch.rand(1, *SHAPE) + 0.1
    t = trace(model, x)
    block = [n.name for n in model.graph.nodes if n.op != "output"][-1]
    out = t.output(block)[0]
    spots = [(0, 0, 0), (1, out.shape[1] // 2, out.shape[2] // 2), (2, out.shape[1] - 1, 1)]
    return [(receptive_field(t, block, (i, i), (j, j)), _gradient_box(model, x, block, c, i, j))
            for c, i, j in spots], t, block


MIXERS = [
    [("GroupNorm", {"num_groups": 2})],
    [("LayerNorm", {"normalized_shape": [4, 9, 9]})],
    [("LayerNorm", {"normalized_shape": [9]})],
    [("Softmax", {"dim": -1})],
    [("Softmax", {"dim": 2})],
    [("LogSoftmax", {"dim": -2})],
]

KEEPERS = [
    [("ReLU", {})],
    [("GELU", {}), ("Dropout", {"p": 0.5})],
    [("BatchNorm2d", {})],
    [("LayerNorm2d", {})],
    [("LayerScale", {})],
    [("ChannelShuffle", {"groups": 2})],
    [("Softmax", {"dim": 1})],
    [("Identity", {})],
]


@pytest.mark.parametrize("middle", MIXERS, ids=lambda m: "-".join(k for k, _ in m))
def test_blocks_that_mix_positions_give_no_field(middle):
    for field, grad in _field_and_gradients(*middle)[0]:
        assert field is None or field == grad, (middle, field, grad)
        # the 3×3 conv alone would see at most 3×3: the gradient proves the block mixes more than that
        assert grad["rows"][1] - grad["rows"][0] > 2 or grad["cols"][1] - grad["cols"][0] > 2
        assert field is None


@pytest.mark.parametrize("middle", KEEPERS, ids=lambda m: "-".join(k for k, _ in m))
def test_element_wise_blocks_keep_the_field(middle):
    for field, grad in _field_and_gradients(*middle)[0]:
        assert field is not None and field == grad, (middle, field, grad)


@pytest.mark.parametrize("params", [
    {"out_channels": 4, "kernel_size": 3, "padding": 1},
    {"out_channels": 4, "kernel_size": 3},
    {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
    {"out_channels": 4, "kernel_size": 4, "stride": 2, "padding": 1},
    {"out_channels": 4, "kernel_size": [2, 5], "stride": [2, 3], "padding": [0, 2]},
])
def test_transposed_convolutions_walk_back_like_their_gradient(params):
    cases, _, _ = _field_and_gradients(("ConvTranspose2d", params))
    for field, grad in cases:
        assert field == grad, (params, field, grad)


def test_transposed_convolution_with_dilation_covers_the_gradient():
    params = {"out_channels": 4, "kernel_size": 3, "stride": 2, "dilation": 2, "padding": 1}
    for field, grad in _field_and_gradients(("ConvTranspose2d", params))[0]:
        if grad is not None:
            assert field["rows"][0] <= grad["rows"][0] and field["rows"][1] >= grad["rows"][1]
            assert field["cols"][0] <= grad["cols"][0] and field["cols"][1] >= grad["cols"][1]


def _graph_with_a_branch(merge, gate):
    """Input -> conv -> (gate) -> merge(conv, gate) -> conv 3×3 -> Output."""
    doc = GraphDocument("branch")
    conv = doc.add_block("Conv2d", {"out_channels": 4, "kernel_size": 1})
    doc.connect(doc.add_block("Input", {"shape": list(SHAPE)}), conv)
    last = conv
    for kind, p in gate:
        bid = doc.add_block(kind, p)
        doc.connect(last, bid)
        last = bid
    m = doc.add_block(merge[0], merge[1])
    doc.connect(conv, m)
    doc.connect(last, m, dst_port=1)
    tail = doc.add_block("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 1})
    doc.connect(m, tail)
    doc.connect(tail, doc.add_block("Output"))
    return doc, tail


@pytest.mark.parametrize("merge, gate, mixes", [
    (("Add", {}), [("ReLU", {})], False),
    (("Concat", {"dim": 1}), [("Sigmoid", {})], False),
    (("Concat", {"dim": -1}), [("Sigmoid", {})], True),
    (("Mul", {}), [("AdaptiveAvgPool2d", {"output_size": 1}), ("Sigmoid", {})], True),
])
def test_merges_keep_positions_only_when_they_add_up_positions(merge, gate, mixes):
    doc, tail = _graph_with_a_branch(merge, gate)
    model = compile_graph(doc, seed=0).eval()
    for p in model.parameters():
        nn.init.uniform_(p, 0.1, 1.0)
    x = torch.rand(1, *SHAPE) + 0.1
    t = trace(model, x)
    out = t.output(tail)[0]
    for c, i, j in ((0, 0, 0), (1, 4, 4), (2, out.shape[1] - 1, out.shape[2] - 1)):
        field = receptive_field(t, tail, (i, i), (j, j))
        grad = _gradient_box(model, x, tail, c, i, j)
        if mixes:
            assert field is None or field == grad, (merge, field, grad)
        else:
            assert field is not None and field == grad, (merge, field, grad)
    if merge[0] == "Mul":                  # the gate is pooled over the whole image: it sees everything
        assert grad == {"rows": (0, SHAPE[1] - 1), "cols": (0, SHAPE[2] - 1)} and field is None


def test_conv_pixel_names_the_block_that_mixes():
    _, t, block = _field_and_gradients(("GroupNorm", {"num_groups": 2}))
    r = conv_pixel(t, block, 0, 4, 4)
    assert r["receptive_field"] is None
    assert r["field_mixed_by"] == next(n for n in t.nodes if n.startswith("groupnorm"))
