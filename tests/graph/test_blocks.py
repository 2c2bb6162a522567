"""Every block kind: analysis (meta tensors) agrees with the real module run by PyTorch on CPU."""
import pytest
import torch

from layerloom.graph import REGISTRY, analyze, compile_graph, kinds_by_category
from layerloom.graph.blocks import CATEGORIES

from .helpers import chain

# kind -> (input shape, input dtype, params)
CASES = {
    "Conv1d": ((3, 50), None, {"out_channels": 8, "kernel_size": 5, "stride": 2}),
    "Conv2d": ((3, 32, 32), None, {"out_channels": 8, "kernel_size": [3, 5], "padding": 1}),
    "ConvTranspose2d": ((4, 7, 7), None, {"out_channels": 2, "kernel_size": 4, "stride": 2, "padding": 1}),
    "MaxPool1d": ((3, 50), None, {"kernel_size": 3}),
    "MaxPool2d": ((3, 32, 32), None, {"kernel_size": 3, "stride": 2}),
    "AvgPool2d": ((3, 32, 32), None, {"kernel_size": 2}),
    "AdaptiveAvgPool2d": ((3, 13, 17), None, {"output_size": [4, 5]}),
    "BatchNorm1d": ((12,), None, {}),
    "BatchNorm2d": ((6, 8, 8), None, {}),
    "LayerNorm": ((10, 16), None, {}),
    "Dropout": ((20,), None, {"p": 0.2}),
    "Flatten": ((3, 4, 5), None, {}),
    "Linear": ((20,), None, {"out_features": 7}),
    "ReLU": ((20,), None, {}),
    "LeakyReLU": ((20,), None, {"negative_slope": 0.2}),
    "GELU": ((20,), None, {"approximate": "tanh"}),
    "Tanh": ((20,), None, {}),
    "Sigmoid": ((20,), None, {}),
    "Softmax": ((20,), None, {"dim": 1}),
    "LogSoftmax": ((20,), None, {}),
    "Embedding": ((12,), "int64", {"num_embeddings": 50, "embedding_dim": 8}),
    "RNN": ((9, 6), None, {"hidden_size": 10, "output": "last"}),
    "LSTM": ((9, 6), None, {"hidden_size": 10, "num_layers": 2, "bidirectional": True}),
    "GRU": ((9, 6), None, {"hidden_size": 10, "output": "last"}),
    "Reshape": ((4, 6), None, {"shape": [2, -1]}),
    "Permute": ((4, 6), None, {"dims": [1, 0]}),
    "ReLU6": ((20,), None, {}),
    "SiLU": ((20,), None, {}),
    "Hardswish": ((20,), None, {}),
    "Hardsigmoid": ((20,), None, {}),
    "Identity": ((3, 4), None, {}),
    "Upsample": ((3, 5, 6), None, {"scale_factor": 2.0, "mode": "bilinear", "align_corners": False}),
    "GroupNorm": ((8, 5, 5), None, {"num_groups": 4}),
    "AdaptiveMaxPool2d": ((3, 13, 17), None, {"output_size": [4, 5]}),
    "MultiheadAttention": ((7, 16), None, {"num_heads": 4}),
    "StochasticDepth": ((4, 6, 6), None, {"p": 0.3}),
    "ClassToken": ((7, 16), None, {}),
    "PositionEmbedding": ((7, 16), None, {}),
    "Select": ((7, 16), None, {"dim": 1, "index": -1}),
    "Narrow": ((6, 5), None, {"dim": 1, "start": 2, "length": 3}),
    "ChannelShuffle": ((6, 4, 4), None, {"groups": 3}),
    "LayerNorm2d": ((6, 4, 4), None, {"eps": 1e-6}),
    "LayerScale": ((6, 4, 4), None, {"init_value": 0.1}),
    "Opaque": ((3, 8, 8), None, {"target": "torchvision.ops.misc:Permute", "args": [[0, 2, 3, 1]]}),
}
MERGES = {"Add": {}, "Concat": {"dim": 1}, "Mul": {}}


def test_every_kind_is_covered_and_categorised():
    covered = set(CASES) | set(MERGES) | {"Input", "Output"}
    assert covered == set(REGISTRY)
    for kind in REGISTRY.values():
        assert kind.category in CATEGORIES
        assert kind.doc.endswith(".")
    assert sum(len(v) for v in kinds_by_category().values()) == len(REGISTRY)
    for name in ("Conv2d", "MaxPool2d", "Linear", "RNN"):
        assert REGISTRY[name].formula, name


@pytest.mark.parametrize("kind", sorted(CASES))
def test_analysis_matches_real_module(kind):
    shape, dtype, params = CASES[kind]
    doc = chain((kind, params), shape=shape, dtype=dtype)
    result = analyze(doc)
    assert result.ok, [d.text for d in result.errors]
    bid = [b for b in doc.blocks if doc.blocks[b].kind == kind][0]
    r = result.blocks[bid]
    gm = compile_graph(doc, seed=0).eval()
    if dtype == "int64":
        x = torch.randint(0, 50, (3, *shape))
    else:
        x = torch.randn(3, *shape)
    y = gm(x)
    assert tuple(y.shape) == (3, *r.output_shape)
    module = dict(gm.named_children()).get(bid)
    expected_params = sum(p.numel() for p in module.parameters()) if module is not None else 0
    assert r.param_count == expected_params


def test_recurrent_output_modes_match_torch():
    doc = chain(("LSTM", {"hidden_size": 5, "output": "last"}), shape=(7, 3))
    gm = compile_graph(doc, seed=1).eval()
    x = torch.randn(2, 7, 3)
    full, _ = gm.lstm1(x)
    torch.testing.assert_close(gm(x), full[:, -1])
    doc.set_param("lstm1", "output", "sequence")
    gm2 = compile_graph(doc, seed=1).eval()
    gm2.load_state_dict(gm.state_dict())
    torch.testing.assert_close(gm2(x), full)
    assert analyze(doc).blocks["lstm1"].output_shape == (7, 5)


@pytest.mark.parametrize("steps", [3, 20, 100_000])
def test_a_recurrent_blocks_problem_names_its_real_input_however_long(steps):
    """Analysis runs a long sequence's recurrent block on 1 and 2 steps: its message still names the
    block's own input, and a working block gets torch's own count for every step."""
    doc = chain(("LSTM", {"input_size": 7, "hidden_size": 5}), shape=(steps, 4))
    texts = [d.message for d in analyze(doc).diagnostics if d.block == "lstm1"]
    assert any(f"(input {steps}×4)" in t for t in texts), texts
    doc.set_param("lstm1", "input_size", "auto")
    r = analyze(doc).blocks["lstm1"]
    assert r.output_shape == (steps, 5)
    if steps < 100:
        with torch.device("meta"):
            lstm = torch.nn.LSTM(4, 5, batch_first=True)
        from torch.utils.flop_counter import FlopCounterMode
        with FlopCounterMode(display=False) as counter:
            lstm(torch.empty(1, steps, 4, device="meta"))
        assert r.flops == counter.get_total_flops()


def test_merge_blocks_with_skip_connection_compile_and_run():
    from layerloom.graph import GraphDocument
    doc = GraphDocument("skip")
    doc.add_block("Input", {"shape": [4, 8, 8]})
    doc.add_block("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": 1})
    doc.add_block("Add")
    doc.add_block("Concat")
    doc.add_block("Output")
    doc.connect("input", "conv1")
    doc.connect("conv1", "add1", dst_port=0)
    doc.connect("input", "add1", dst_port=1)
    doc.connect("add1", "cat1", dst_port=0)
    doc.connect("input", "cat1", dst_port=1)
    doc.connect("cat1", "output")
    result = analyze(doc)
    assert result.ok
    assert result.blocks["cat1"].output_shape == (8, 8, 8)
    gm = compile_graph(doc, seed=0)
    x = torch.randn(2, 4, 8, 8)
    expected = torch.cat([gm.conv1(x) + x, x], dim=1)
    torch.testing.assert_close(gm(x), expected)
    assert "add1 = conv1 + x" in gm.code and "torch.cat" in gm.code


def test_flops_come_from_flop_counter():
    doc = chain(("Linear", {"out_features": 30}), shape=(20,))
    fc1 = analyze(doc).blocks["fc1"]
    assert (fc1.macs, fc1.flops) == (20 * 30, 2 * 20 * 30)
    doc = chain(("LSTM", {"hidden_size": 8}), shape=(5, 4))
    assert analyze(doc).blocks["lstm1"].flops > 0   # counted on meta tensors


def test_short_labels():
    doc = chain(("Conv2d", {"out_channels": 16, "kernel_size": 5}), shape=(6, 14, 14))
    r = analyze(doc).blocks["conv1"]
    assert REGISTRY["Conv2d"].short_label(r.params) == "6→16 k5"
