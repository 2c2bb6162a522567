"""A look inside a computation: every value taken apart equals the value the network produced."""
import numpy as np
import pytest
import torch
from torch import nn

from layerloom.graph import compile_graph, load_graph
from layerloom.presets import preset_path
from layerloom.runtime.data import load_dataset
from layerloom.runtime.inside import (InsideError, activation_curve, conv_pixel, embedding_row, linear_terms,
                                      pool_window, receptive_field, recurrent_gates, trace)

from ..graph.helpers import chain
from .test_inside_fields import _gradient_box


@pytest.fixture(scope="module")
def digit():
    data = load_dataset("mnist-sample")
    x, _ = data.val.batch(torch.tensor([3]))
    return x.float()


@pytest.fixture(scope="module")
def lenet_trace(digit):
    model = compile_graph(load_graph(preset_path("lenet5")), seed=1)
    return trace(model, digit)


def test_conv_pixel_sum_equals_the_feature_map(lenet_trace):
    t = lenet_trace
    for block, positions in (("conv1", [(0, 0, 0), (5, 27, 27), (3, 13, 9)]), ("conv2", [(0, 0, 0), (15, 9, 4)])):
        for c, i, j in positions:
            r = conv_pixel(t, block, c, i, j)
            assert abs(r["computed"] - r["actual"]) < 1e-5
            assert r["products"].shape == r["patch"].shape == r["kernel"].shape
            np.testing.assert_allclose(r["products"], r["patch"] * r["kernel"], rtol=1e-6)
    # conv1 pads by 2: the corner pixel's patch starts two rows above the image, filled with zeros
    r = conv_pixel(t, "conv1", 0, 0, 0)
    assert r["rows"][0] == -2 and np.all(r["patch"][0, :2] == 0)


def _of_kind(doc, kind):
    return [b.id for b in doc.blocks.values() if b.kind == kind]


def test_conv_pixel_with_groups_stride_dilation_and_same_padding(digit):
    torch.manual_seed(0)
    for params in ({"out_channels": 4, "kernel_size": 3, "stride": 2, "dilation": 2, "padding": 1},
                   {"out_channels": 4, "kernel_size": [3, 2], "padding": "same"},
                   {"out_channels": 6, "kernel_size": 3, "groups": 2, "padding_mode": "reflect", "padding": 1}):
        doc = chain(("Conv2d", {"out_channels": 2, "kernel_size": 1}), ("Conv2d", params))
        model = compile_graph(doc, seed=3)
        t = trace(model, digit)
        block = _of_kind(doc, "Conv2d")[-1]
        out = t.output(block)[0]
        for c, i, j in ((0, 0, 0), (out.shape[0] - 1, out.shape[1] - 1, out.shape[2] - 1), (1, 3, 2)):
            r = conv_pixel(t, block, c, i, j)
            assert abs(r["computed"] - r["actual"]) < 1e-5, params


def test_pooling_windows(lenet_trace):
    r = pool_window(lenet_trace, "pool1", 2, 5, 7)
    assert r["computed"] == r["actual"]
    wr, wc = r["winner"]
    assert lenet_trace.module_input("pool1")[2, wr, wc] == r["actual"]
    doc = chain(("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}),
                ("AvgPool2d", {"kernel_size": 2, "padding": 1, "count_include_pad": False}))
    t = trace(compile_graph(doc), torch.rand(1, 1, 28, 28))
    for block in _of_kind(doc, "AvgPool2d"):
        out = t.output(block)[0]
        for i, j in ((0, 0), (out.shape[1] - 1, out.shape[2] - 1), (3, 4)):
            r = pool_window(t, block, 0, i, j)
            assert abs(r["computed"] - r["actual"]) < 1e-6, (block, i, j)


def test_linear_terms_add_up(lenet_trace):
    r = linear_terms(lenet_trace, "fc3", 7)
    assert abs(r["computed"] - r["actual"]) < 1e-5
    assert abs(float(np.sum(r["top_terms"])) + r["rest"] + r["bias"] - r["actual"]) < 1e-5
    np.testing.assert_allclose(r["top_terms"], r["top_weights"] * r["top_activations"], rtol=1e-6)
    assert np.all(np.diff(np.abs(r["top_terms"])) <= 0)


def test_activation_curve_marks_the_real_value(lenet_trace):
    r = activation_curve(lenet_trace, "relu3", (17,))
    assert r["computed"] == r["actual"] == max(0.0, r["input"])
    np.testing.assert_array_equal(r["y"], np.maximum(r["x"], 0))


@pytest.mark.parametrize("preset", ["seq_mnist_lstm", "text_gru"])
def test_recurrent_gates_rebuild_the_hidden_state(preset, digit):
    doc = load_graph(preset_path(preset))
    model = compile_graph(doc, seed=2)
    blocks = [b for b, blk in doc.blocks.items() if blk.kind in ("LSTM", "GRU")]
    assert blocks
    name, shape, dtype = model.meta["layerloom"]["inputs"][0]
    x = digit.reshape(1, 28, 28) if dtype == "float32" else torch.randint(0, 50, (1, *shape))
    t = trace(model, x)
    for block in blocks:
        r = recurrent_gates(t, block, unit=3)
        assert r["actual"] is not None
        np.testing.assert_allclose(r["computed"], r["actual"], atol=1e-5)
        assert all(len(v) == x.shape[1] for v in r["gates"].values())


def test_gru_gates_and_embedding_rows():
    doc = chain(("Embedding", {"num_embeddings": 30, "embedding_dim": 6}), ("GRU", {"hidden_size": 5}),
                shape=(9,), dtype="int64")
    model = compile_graph(doc, seed=4)
    x = torch.tensor([[3, 1, 4, 1, 5, 9, 2, 6, 5]])
    t = trace(model, x)
    r = recurrent_gates(t, _of_kind(doc, "GRU")[0], 4)
    np.testing.assert_allclose(r["computed"], r["actual"], atol=1e-5)
    assert set(r["gates"]) == {"reset", "update", "new"}
    e = embedding_row(t, _of_kind(doc, "Embedding")[0], 5)
    assert e["token"] == 9
    np.testing.assert_array_equal(e["computed"], e["actual"])


def test_receptive_field_matches_the_gradient():
    """With positive weights and no activation, d out[c, i, j] / d input is non-zero exactly on the
    receptive field: its bounding box must equal the one walked back through the graph."""
    doc = chain(("Conv2d", {"out_channels": 2, "kernel_size": 5, "padding": 2}),
                ("AvgPool2d", {"kernel_size": 2}),
                ("Conv2d", {"out_channels": 3, "kernel_size": 3, "stride": 2, "dilation": 2}),
                ("AvgPool2d", {"kernel_size": 3, "stride": 1, "padding": 1}), shape=(1, 40, 40))
    model = compile_graph(doc, seed=0)
    for p in model.parameters():
        nn.init.constant_(p, 0.1)
    x = torch.ones(1, 1, 40, 40)
    t = trace(model, x)
    last = _of_kind(doc, "AvgPool2d")[-1]
    out_shape = t.output(last).shape
    for i, j in ((0, 0), (out_shape[2] - 1, out_shape[3] - 1), (2, 3)):
        assert receptive_field(t, last, (i, i), (j, j)) == _gradient_box(model, x, last, 1, i, j)


def test_wrong_requests_say_what_is_wrong(lenet_trace):
    with pytest.raises(InsideError, match="not a Conv2d"):
        conv_pixel(lenet_trace, "fc1", 0, 0, 0)
    with pytest.raises(InsideError, match="outside the output's 6×28×28"):
        conv_pixel(lenet_trace, "conv1", 6, 0, 0)
    assert receptive_field(lenet_trace, "fc1", (0, 0), (0, 0)) is None
