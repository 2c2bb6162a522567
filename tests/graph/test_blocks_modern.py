"""The kinds modern networks need, and Opaque blocks: outputs equal to PyTorch's own modules."""
import json

import pytest
import torch
import torchvision
from torch import nn

from layerloom.graph import GraphDocument, REGISTRY, analyze, compile_graph, generated_code
from layerloom.graph.fileformat import graph_from_dict, graph_to_dict
from layerloom.graph.opaque import allow_code

from .helpers import chain

# kind, params, input shape, the torch module built independently
REFERENCES = [
    ("ReLU6", {}, (20,), lambda: nn.ReLU6()),
    ("SiLU", {}, (20,), lambda: nn.SiLU()),
    ("Hardswish", {}, (20,), lambda: nn.Hardswish()),
    ("Hardsigmoid", {}, (20,), lambda: nn.Hardsigmoid()),
    ("Identity", {}, (3, 4), lambda: nn.Identity()),
    ("Upsample", {"size": [9, 11], "mode": "nearest"}, (3, 4, 5), lambda: nn.Upsample(size=(9, 11))),
    ("Upsample", {"scale_factor": 2.0, "mode": "bilinear", "align_corners": True}, (2, 4, 5),
     lambda: nn.Upsample(scale_factor=2.0, mode="bilinear", align_corners=True)),
    ("GroupNorm", {"num_groups": 2}, (6, 4, 4), lambda: nn.GroupNorm(2, 6)),
    ("AdaptiveMaxPool2d", {"output_size": [2, 3]}, (3, 7, 9), lambda: nn.AdaptiveMaxPool2d((2, 3))),
    ("MultiheadAttention", {"num_heads": 2}, (5, 8), lambda: nn.MultiheadAttention(8, 2, batch_first=True)),
    ("StochasticDepth", {"p": 0.5}, (4, 3, 3), lambda: torchvision.ops.StochasticDepth(0.5, "row")),
]


def _run_reference(kind, ref, x):
    if kind == "MultiheadAttention":
        return ref(x, x, x, need_weights=False)[0]
    return ref(x)


@pytest.mark.parametrize("kind,params,shape,make", REFERENCES, ids=[f"{r[0]}-{i}" for i, r in enumerate(REFERENCES)])
def test_new_kind_matches_torch_module(kind, params, shape, make):
    doc = chain((kind, params), shape=shape)
    result = analyze(doc)
    assert result.ok, [d.text for d in result.errors]
    gm = compile_graph(doc, seed=0).eval()
    bid = next(b for b in doc.blocks if doc.blocks[b].kind == kind)
    ref = make().eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()
    getattr(gm, bid).load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(3, *shape)
    expected = _run_reference(kind, ref, x)
    assert torch.equal(gm(x), expected)
    assert result.blocks[bid].output_shape == tuple(expected.shape[1:])
    assert REGISTRY[kind].doc and REGISTRY[kind].formula


def test_mul_broadcasts_a_channel_gate_like_squeeze_and_excitation():
    doc = GraphDocument("se")
    doc.add_block("Input", {"shape": [4, 6, 6]})
    doc.add_block("AdaptiveAvgPool2d", {"output_size": 1}, block_id="squeeze")
    doc.add_block("Sigmoid", block_id="gate")
    doc.add_block("Mul", block_id="scale")
    doc.add_block("Output")
    doc.connect("input", "squeeze")
    doc.connect("squeeze", "gate")
    doc.connect("gate", "scale", dst_port=0)
    doc.connect("input", "scale", dst_port=1)
    doc.connect("scale", "output")
    assert analyze(doc).blocks["scale"].output_shape == (4, 6, 6)
    x = torch.randn(2, 4, 6, 6)
    expected = torch.sigmoid(nn.functional.adaptive_avg_pool2d(x, 1)) * x
    assert torch.equal(compile_graph(doc)(x), expected)


def test_attention_with_separate_key_value_inputs():
    doc = GraphDocument("cross")
    doc.add_block("Input", {"shape": [6, 8]})
    doc.add_block("Linear", {"out_features": 8}, block_id="kv")
    doc.add_block("MultiheadAttention", {"num_heads": 4, "num_inputs": 2}, block_id="attn")
    doc.add_block("Output")
    doc.connect("input", "kv")
    doc.connect("input", "attn", dst_port=0)
    doc.connect("kv", "attn", dst_port=1)
    doc.connect("attn", "output")
    gm = compile_graph(doc, seed=0).eval()
    x = torch.randn(2, 6, 8)
    kv = gm.kv(x)
    assert torch.equal(gm(x), gm.attn(x, kv, kv, need_weights=False)[0])


def test_generated_code_for_torchvision_and_opaque_modules_runs():
    doc = chain(("StochasticDepth", {"p": 0.1}),
                ("Opaque", {"target": "torchvision.ops.misc:Permute", "args": [[0, 2, 3, 1]],
                            "origin": "test"}), shape=(3, 4, 5))
    assert analyze(doc).blocks["opaque1"].output_shape == (4, 5, 3)
    code = generated_code(doc)
    namespace = {}
    exec(compile(code, "model.py", "exec"), namespace)   # noqa: S102 - our own generated code
    net = namespace["Test"]().eval()
    x = torch.randn(2, 3, 4, 5)
    assert torch.equal(net(x), x.permute(0, 2, 3, 1))


GATE = '''
import torch
from torch import nn


class Gate(nn.Module):
    def __init__(self, features, threshold=0.0):
        super().__init__()
        self.features, self.threshold = features, threshold
        self.a = nn.Linear(features, features)
        self.b = nn.Linear(features, features)

    def forward(self, x):
        if x.mean() > self.threshold:      # looks at values: torch.fx cannot trace it
            return self.a(x)
        return self.b(x)
'''


def test_opaque_file_module_needs_permission_then_runs_data_dependent_code(tmp_path):
    path = tmp_path / "gate_model.py"
    path.write_text(GATE)
    params = {"target": f"{path}:Gate", "args": [5], "kwargs": {"threshold": 0.1}}
    doc = chain(("Opaque", params), shape=(5,))
    refused = analyze(doc)
    assert not refused.ok
    assert "only when asked" in refused.errors[0].message and str(path) in refused.errors[0].message
    allow_code(str(path))
    result = analyze(doc)
    assert result.ok, [d.text for d in result.errors]
    assert result.blocks["opaque1"].output_shape == (5,) and result.blocks["opaque1"].param_count == 60
    gm = compile_graph(doc, seed=0).eval()
    x = torch.randn(4, 5)
    inner = gm.opaque1
    expected = inner.a(x) if x.mean() > 0.1 else inner.b(x)
    assert torch.equal(gm(x), expected)
    assert set(gm.state_dict()) == {"opaque1.a.weight", "opaque1.a.bias", "opaque1.b.weight", "opaque1.b.bias"}


def test_opaque_refuses_what_is_not_a_module_and_survives_a_file_round_trip():
    doc = chain(("Opaque", {"target": "os:system", "args": ["echo no"]}), shape=(3,))
    problems = analyze(doc).errors
    assert problems and "only when asked" in problems[0].message
    doc = chain(("Opaque", {"target": "torch.nn.functional:relu"}), shape=(3,))
    assert "not a torch.nn.Module class" in analyze(doc).errors[0].message
    doc = chain(("Opaque", {"target": "torch.nn:BatchNorm1d", "args": [3], "kwargs": {"eps": 1e-3},
                            "origin": "imported from model.py"}), shape=(3,))
    again = graph_from_dict(json.loads(json.dumps(graph_to_dict(doc))))
    assert again.blocks["opaque1"].params["kwargs"] == {"eps": 1e-3}
    assert analyze(again).blocks["opaque1"].param_count == 6


def test_json_params_refuse_what_is_not_data():
    from layerloom.graph.params import ParamError
    p = REGISTRY["Opaque"].param("kwargs")
    assert p.check({"a": (1, 2)}) == {"a": [1, 2]}
    with pytest.raises(ParamError):
        p.check({"a": object()})
    with pytest.raises(ParamError):
        p.check({"a": float("nan")})


@pytest.mark.parametrize("params, message", [
    ({"target": "torchvision.ops.misc:Conv2dNormActivation", "args": [3, 3],
      "kwargs": {"norm_layer": {"$class": "torch.utils.cpp_extension:subprocess.Popen"}}},
     "is not a class of torch"),
    ({"target": "torch:os._wrap_close"}, "is not a class of torch"),
    ({"target": "torch.nn:Module.__subclasses__"}, "reaches into Python internals"),
    ({"target": "torchvision.ops.misc:Conv2dNormActivation", "args": [3, 3],
      "kwargs": {"norm_layer": {"$class": "torch.optim:SGD"}}}, "is not a torch.nn.Module class"),
])
def test_opaque_blocks_only_reach_module_classes_of_the_package_they_name(params, message):
    """A shared graph file must not reach the standard library (subprocess, os) through a trusted
    package's own imports."""
    doc = chain(("Opaque", params), shape=(3, 8, 8))
    result = analyze(doc)
    assert any(message in d.message for d in result.errors), [d.message for d in result.diagnostics]


@pytest.mark.parametrize("params, shape", [
    ({"target": "torch.nn:Linear", "args": [10**6, 10**6]}, (3,)),        # 4 TB of weights, wrong input
    ({"target": "torch.nn:Linear", "args": [4, 4]}, (1000, 1000, 600)),   # 2.4 GB of zeros, wrong input
])
def test_an_opaque_block_too_large_to_run_on_real_zeros_is_refused_before_any_memory_is_taken(params, shape):
    """A graph file's Opaque block that fails on meta tensors was run once on real zeros to find its
    shape, whatever the size of its weights or input: `layerloom check` took 10 GB for Linear(50000,
    50000) and was killed for more. Now the memory it would take is named instead."""
    doc = chain(("Opaque", params), shape=shape)
    errors = analyze(doc).errors
    assert len(errors) == 1 and "opaque1" == errors[0].block, [d.message for d in errors]
    assert "would need" in errors[0].message and "GB of memory" in errors[0].message
    assert "check its arguments against its input" in errors[0].message


@pytest.mark.parametrize("params", [{"scale_factor": 0.0}, {"scale_factor": None}])
def test_upsample_without_a_size_or_a_scale_above_zero_says_to_set_one(params):
    import torch
    from layerloom.graph import analyze
    from .helpers import chain
    (err,) = analyze(chain(("Upsample", params), shape=[2, 4, 4])).errors
    assert "size or a scale_factor above 0" in err.message, err.message
    with pytest.raises(Exception):      # torch refuses it too, in words about neither being "defined"
        nn.Upsample(size=None, scale_factor=params["scale_factor"])(torch.rand(1, 2, 4, 4))
