"""Shape and parameter arithmetic with a block's own numbers, checked against torch's real results."""
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from layerloom.graph import GraphDocument, analyze, load_graph
from layerloom.graph.arithmetic import PARAM_RULES, explain
from layerloom.graph.blocks import REGISTRY
from layerloom.presets import preset_path

from .helpers import chain

EXAMPLES = 400 if os.environ.get("LAYERLOOM_LONG") else 60
SETTINGS = settings(derandomize=True, max_examples=EXAMPLES, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _merge(kind, params, shape, n=2):
    doc = GraphDocument("merge")
    src = doc.add_block("Input", {"shape": list(shape)})
    bid = doc.add_block(kind, {"num_inputs": n, **params})
    for port in range(n):
        doc.connect(src, bid, dst_port=port)
    doc.connect(bid, doc.add_block("Output"))
    return doc, bid


def _block(doc):
    return next(b for b in doc.blocks.values() if b.kind not in ("Input", "Output")).id


def check_against_torch(doc, bid):
    """Whatever analysis (torch on meta tensors) computes, the arithmetic gives the same."""
    result = analyze(doc)
    r = result.blocks[bid]
    a = REGISTRY[r.kind].worked_out(r.params, r.input_shapes)
    if r.ok:
        assert a.failing is None, a.lines()
        assert a.output_shape == r.output_shape, (a.lines(), r.output_shape)
        if a.param_count is not None:
            assert a.param_count == r.param_count, (a.lines(), r.param_count)
    elif a.failing is not None:
        # The arithmetic says the shape breaks: torch must refuse it too.
        assert r.status == "error"
    return r, a


# Hand-picked configurations covering every kind that changes shape or learns parameters.
CASES = [
    ("Conv2d", {"out_channels": 6, "kernel_size": 5, "padding": 2}, (1, 28, 28)),
    ("Conv2d", {"out_channels": 8, "kernel_size": [3, 5], "stride": [2, 1], "dilation": 2, "groups": 2,
                "bias": False}, (4, 17, 19)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": "same"}, (3, 9, 9)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": "valid"}, (3, 9, 9)),
    ("Conv1d", {"out_channels": 5, "kernel_size": 4, "stride": 3, "padding": 1}, (2, 30)),
    ("ConvTranspose2d", {"out_channels": 3, "kernel_size": 4, "stride": 2, "padding": 1,
                         "output_padding": 1}, (6, 7, 7)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2}, (4, 13, 13)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (4, 14, 14)),
    ("MaxPool2d", {"kernel_size": 2, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 5, 5)),
    ("MaxPool1d", {"kernel_size": 3, "dilation": 2}, (2, 20)),
    ("AvgPool2d", {"kernel_size": 2, "padding": 1}, (3, 7, 9)),
    ("AdaptiveAvgPool2d", {"output_size": [2, 3]}, (5, 8, 8)),
    ("Flatten", {}, (16, 5, 5)),
    ("Flatten", {"start_dim": 2}, (16, 5, 5)),
    ("Reshape", {"shape": [28, -1]}, (1, 28, 28)),
    ("Reshape", {"shape": [4, 196]}, (1, 28, 28)),
    ("Permute", {"dims": [1, 0]}, (28, 16)),
    ("Linear", {"out_features": 10}, (84,)),
    ("Linear", {"out_features": 7, "bias": False}, (5, 12)),
    ("RNN", {"hidden_size": 12, "num_layers": 2, "bidirectional": True}, (28, 28)),
    ("LSTM", {"hidden_size": 16, "output": "last"}, (28, 28)),
    ("LSTM", {"hidden_size": 16, "num_layers": 2, "proj_size": 8, "bidirectional": True}, (10, 6)),
    ("GRU", {"hidden_size": 9, "num_layers": 3, "bias": False}, (7, 5)),
    ("BatchNorm2d", {}, (6, 4, 4)),
    ("BatchNorm1d", {"affine": False}, (6,)),
    ("LayerNorm", {}, (10, 32)),
    ("LayerNorm", {"bias": False}, (32,)),
    ("ReLU", {}, (3, 4)),
    ("Upsample", {"scale_factor": 1.5}, (3, 7, 9)),
    ("Upsample", {"size": [5, 11], "scale_factor": None}, (3, 7, 9)),
    ("GroupNorm", {"num_groups": 2}, (6, 4, 4)),
    ("MultiheadAttention", {"num_heads": 2}, (5, 8)),
    ("MultiheadAttention", {"num_heads": 4, "bias": False}, (5, 8)),
]


@pytest.mark.parametrize("kind, params, shape", CASES)
def test_hand_picked_cases_match_torch(kind, params, shape):
    doc = chain((kind, params), shape=shape)
    r, a = check_against_torch(doc, _block(doc))
    assert r.ok, [d.message for d in analyze(doc).diagnostics]
    if kind in PARAM_RULES:
        assert a.param_count == r.param_count


def test_embedding_and_concat_match_torch():
    doc = chain(("Embedding", {"num_embeddings": 50, "embedding_dim": 8}), shape=(12,), dtype="int64")
    r, a = check_against_torch(doc, _block(doc))
    assert r.ok and a.param_count == 400 and a.output_shape == (12, 8)
    doc, bid = _merge("Concat", {"dim": 1}, (3, 4, 4), n=3)
    r, a = check_against_torch(doc, bid)
    assert r.ok and a.lines() == ["dimension 1: 3 + 3 + 3 = 9"]


TRY_INPUTS = [((3, 12, 12), None), ((32, 4, 4), None), ((6, 16), None), ((16,), None), ((9,), "int64"), ((2, 4, 6, 6), None)]


@pytest.mark.parametrize("name", sorted(n for n in REGISTRY if n not in ("Input", "Output", "Opaque")))
def test_every_kind_with_default_settings_matches_torch(name):
    """Each registered kind, at its default settings, on the first small input it accepts: the
    arithmetic gives torch's shape, and a parameter count where it claims one. Kinds that learn
    parameters must have a parameter rule."""
    kind = REGISTRY[name]
    n_inputs = kind.input_count(kind.defaults())
    accepted = 0
    for shape, dtype in TRY_INPUTS:
        if n_inputs == 1:
            doc = chain((name, {}), shape=shape, dtype=dtype)
            bid = _block(doc)
        else:
            doc, bid = _merge(name, {}, shape, n=n_inputs)
        r, a = check_against_torch(doc, bid)
        if r.ok:
            accepted += 1
            if r.param_count:
                assert name in PARAM_RULES, f"{name} learns {r.param_count} parameters but has no rule"
            else:
                assert a.param_count in (0, None)
    assert accepted, f"{name} accepted none of the trial inputs"


@SETTINGS
@given(h=st.integers(1, 40), w=st.integers(1, 40), k=st.integers(1, 7), s=st.integers(1, 4), p=st.integers(0, 3),
       d=st.integers(1, 3), c=st.integers(1, 4), groups=st.sampled_from([1, 2]), bias=st.booleans())
def test_conv2d_arithmetic_equals_torch(h, w, k, s, p, d, c, groups, bias):
    doc = chain(("Conv2d", {"out_channels": 2 * groups, "kernel_size": k, "stride": s, "padding": p,
                            "dilation": d, "groups": groups, "bias": bias}), shape=(c * groups, h, w))
    check_against_torch(doc, _block(doc))


@SETTINGS
@given(h=st.integers(1, 30), k=st.integers(1, 6), s=st.integers(1, 4), p=st.integers(0, 3), d=st.integers(1, 2),
       ceil=st.booleans(), kind=st.sampled_from(["MaxPool2d", "AvgPool2d"]))
def test_pooling_arithmetic_equals_torch(h, k, s, p, d, ceil, kind):
    params = {"kernel_size": k, "stride": s, "padding": min(p, k // 2), "ceil_mode": ceil}
    if kind == "MaxPool2d":
        params["dilation"] = d
    doc = chain((kind, params), shape=(2, h, h + 1))
    check_against_torch(doc, _block(doc))


@SETTINGS
@given(t=st.integers(1, 6), f=st.integers(1, 5), hidden=st.integers(1, 6), layers=st.integers(1, 3),
       bidi=st.booleans(), bias=st.booleans(), kind=st.sampled_from(["RNN", "LSTM", "GRU"]),
       last=st.booleans(), proj=st.integers(0, 3))
def test_recurrent_arithmetic_equals_torch(t, f, hidden, layers, bidi, bias, kind, last, proj):
    params = {"hidden_size": hidden, "num_layers": layers, "bidirectional": bidi, "bias": bias,
              "output": "last" if last else "sequence"}
    if kind == "LSTM" and proj < hidden:
        params["proj_size"] = proj
    doc = chain((kind, params), shape=(t, f))
    r, _ = check_against_torch(doc, _block(doc))
    assert r.ok


def test_conv_line_reads_like_the_formula():
    doc = load_graph(preset_path("lenet5"))
    r = analyze(doc).blocks["conv1"]
    a = explain(r.kind, r.params, r.input_shapes)
    assert a.lines() == [
        "C_out = out_channels = 6",
        "H_out = ⌊(28 + 2·2 − 1·(5 − 1) − 1) / 1⌋ + 1 = 28",
        "W_out = ⌊(28 + 2·2 − 1·(5 − 1) − 1) / 1⌋ + 1 = 28",
        "params = 6·(1·5·5) + 6 = 156",
    ]


def test_a_too_small_input_shows_the_failing_line():
    """A 3×3 pool with stride 2 on a 2×2 map: the line that fails is the one shown to the person."""
    doc = chain(("MaxPool2d", {"kernel_size": 3, "stride": 2}), shape=(256, 2, 2))
    r, a = check_against_torch(doc, _block(doc))
    assert r.status == "error"
    assert a.failing.text == "H_out = ⌊(2 − 3) / 2⌋ + 1 = 0"
    assert a.output_shape is None


def test_every_preset_block_is_explained_exactly():
    names = sorted(p.name.removesuffix(".loom.json") for p in preset_path("lenet5").parent.glob("*.loom.json"))
    assert len(names) >= 9
    for name in names:
        doc = load_graph(preset_path(name))
        result = analyze(doc)
        for bid, r in result.blocks.items():
            if r.ok and r.kind != "Output":
                a = explain(r.kind, r.params, r.input_shapes)
                assert a.output_shape == r.output_shape, (name, bid, a.lines())
                if a.param_count is not None:
                    assert a.param_count == r.param_count, (name, bid, a.lines())


def test_mismatched_inputs_show_the_failing_line():
    doc = load_graph(preset_path("lenet5"))
    doc.set_param("fc1", "in_features", 9216)
    r = analyze(doc).blocks["fc1"]
    a = explain(r.kind, r.params, r.input_shapes)
    assert r.status == "error" and a.failing.text == "in_features = 9216, but the last dimension arriving is 400"
    doc.set_param("conv2", "in_channels", 3)
    r = analyze(doc).blocks["conv2"]
    a = explain(r.kind, r.params, r.input_shapes)
    assert r.status == "error" and a.failing.text == "in_channels = 3, but 6 channels arrive"


@pytest.mark.parametrize("kind, params, shape", [
    # With ceil_mode, a window wider than the input still gives one output when it starts inside it
    ("MaxPool1d", {"kernel_size": 2, "stride": 5, "dilation": 8, "ceil_mode": True}, (2, 7)),
    ("MaxPool2d", {"kernel_size": 3, "dilation": 3, "ceil_mode": True}, (6, 5, 6)),
    ("AvgPool2d", {"kernel_size": 2, "ceil_mode": True}, (1, 2, 1)),
])
def test_a_pooling_window_wider_than_the_input_with_ceil_mode_is_worked_out_as_torch_runs_it(kind, params, shape):
    import torch
    doc = chain((kind, params), shape=shape)
    r, a = check_against_torch(doc, _block(doc))
    module = getattr(torch.nn, kind)(**params)
    assert r.ok and tuple(module(torch.rand(2, *shape)).shape[1:]) == r.output_shape == a.output_shape


@SETTINGS
@given(h=st.integers(1, 9), w=st.integers(1, 9), k=st.tuples(st.integers(1, 4), st.integers(1, 4)),
       s=st.tuples(st.integers(1, 5), st.integers(1, 5)), p=st.integers(0, 2), d=st.integers(1, 8),
       ceil=st.booleans(), kind=st.sampled_from(["MaxPool2d", "AvgPool2d", "MaxPool1d"]))
def test_asymmetric_dilated_pooling_on_small_inputs_equals_torch(h, w, k, s, p, d, ceil, kind):
    dims = 1 if kind == "MaxPool1d" else 2
    params = {"kernel_size": list(k[:dims]), "stride": list(s[:dims]), "padding": min(p, min(k) // 2),
              "ceil_mode": ceil}
    if kind != "AvgPool2d":
        params["dilation"] = d
    doc = chain((kind, params), shape=(2, h, w)[:dims + 1])
    check_against_torch(doc, _block(doc))
