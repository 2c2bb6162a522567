"""ONNX's Gelu (opset 20) and LayerNormalization (opset 17) become GELU and LayerNorm blocks with the file's
weights, computing what onnxruntime computes on the same file; a LayerNormalization no LayerNorm can stand for
stays an Opaque block that says why."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper
from torch import nn

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import import_source


def _runs_as_onnxruntime(path, result, x: np.ndarray) -> None:
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    expected = session.run(None, {session.get_inputs()[0].name: x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(graph(torch.from_numpy(x)).numpy(), expected, rtol=0, atol=1e-5)


@pytest.mark.parametrize("approximate, opset", [("none", 20), ("tanh", 20), ("none", 17)])
def test_a_torch_export_imports_gelu_and_layer_norm_as_blocks(tmp_path, approximate, opset):
    """At opset 17 torch writes GELU as Div, Erf, Add, Mul, Mul: those steps become one GELU block too."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 6), nn.GELU(approximate=approximate), nn.LayerNorm(6, eps=1e-3)).eval()
    with torch.no_grad():
        model[2].weight.normal_()
        model[2].bias.normal_()
    path = tmp_path / "net.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 5, 4),), str(path), dynamo=False, opset_version=opset,
                          input_names=["x"], dynamic_axes={"x": {0: "N"}})
    result = import_source(str(path))
    blocks = list(result.doc.blocks.values())
    assert [b.kind for b in blocks] == ["Input", "Linear", "GELU", "LayerNorm", "Output"]
    assert blocks[2].params["approximate"] == approximate
    assert blocks[3].params["normalized_shape"] == [6] and blocks[3].params["eps"] == pytest.approx(1e-3)
    assert result.report.opaque == []
    _runs_as_onnxruntime(path, result, np.random.default_rng(1).standard_normal((3, 5, 4)).astype(np.float32))


def _norm_file(path, axis: int, scale_shape, bias: bool = True):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(scale_shape).astype(np.float32), "scale")]
    inputs = ["x", "scale"]
    if bias:
        inits.append(numpy_helper.from_array(rng.standard_normal(scale_shape).astype(np.float32), "bias"))
        inputs.append("bias")
    node = helper.make_node("LayerNormalization", inputs, ["y"], axis=axis, epsilon=1e-4, name="norm")
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("axis, bias", [(1, False), (-2, True), (-1, True)])
def test_a_layer_normalization_over_the_last_dimensions_is_a_layer_norm(tmp_path, axis, bias):
    shape = [3, 4] if axis in (1, -2) else [4]
    path = _norm_file(tmp_path / "norm.onnx", axis, shape, bias)
    result = import_source(str(path))
    norm = result.doc.blocks[next(b for b in result.doc.blocks if result.doc.blocks[b].kind == "LayerNorm")]
    assert norm.params["normalized_shape"] == shape and norm.params["bias"] is bias
    _runs_as_onnxruntime(path, result, np.random.default_rng(2).standard_normal((2, 3, 4)).astype(np.float32))


def test_a_layer_normalization_that_reaches_the_batch_stays_opaque_saying_why(tmp_path):
    path = _norm_file(tmp_path / "batch.onnx", 0, [2, 3, 4])
    result = import_source(str(path), fidelity=False)
    assert [o["reason"] for o in result.report.opaque] == [
        "no block computes a LayerNormalization over axis 0 with a scale of shape [2, 3, 4] (a LayerNorm normalises "
        "each sample over its last dimensions, which its weight covers): it runs through onnxruntime, and no "
        "gradient flows through it"]


def _token_file(path):
    """y = Concat(a token Expanded to x's batch size, x) on axis 1: the token comes from no tensor of the network."""
    nodes = [helper.make_node("Shape", ["x"], ["shape"], start=0, end=1),
             helper.make_node("Concat", ["shape", "ones"], ["size"], axis=0),
             helper.make_node("Expand", ["token", "size"], ["tokens"]),
             helper.make_node("Concat", ["tokens", "x"], ["y"], axis=1, name="join")]
    inits = [numpy_helper.from_array(np.arange(4, dtype=np.float32).reshape(1, 1, 4), "token"),
             numpy_helper.from_array(np.array([1, 4], dtype=np.int64), "ones")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_concat_of_a_token_made_from_constants_and_the_batch_size_is_refused_saying_where_to_import_from(tmp_path):
    """It said "Concat reads tokens, which no mapped operator produces"."""
    from layerloom.graph.importers import ImportFailure
    with pytest.raises(ImportFailure, match=r"^the Concat join reads tokens, which comes from no tensor of the "
                                            r"network: it is made from the file's constants and the input's "
                                            r"sizes alone .* import the model's \.pt2 or model\.py instead"):
        import_source(str(_token_file(tmp_path / "token.onnx")))


def test_a_convnext_exported_at_opset_20_imports_without_opaque_blocks(tmp_path):
    """Its layer scales (Mul by a C×1×1 constant) become LayerScale blocks; its fresh Linear biases, all zeros, are
    one initializer the exporter hands out through Identity nodes, which the Linear still takes as its bias."""
    from torchvision.models.convnext import CNBlockConfig, ConvNeXt
    torch.manual_seed(0)
    model = ConvNeXt([CNBlockConfig(16, 32, 2), CNBlockConfig(32, None, 1)], num_classes=5).eval()
    with torch.no_grad():
        for block in (model.features[1][0], model.features[1][1], model.features[3][0]):
            block.layer_scale.normal_()
    path = tmp_path / "convnext.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.randn(2, 3, 32, 32),), str(path), dynamo=False, opset_version=20,
                          input_names=["x"], dynamic_axes={"x": {0: "N"}})
    assert any(n.op_type == "Identity" for n in onnx.load(str(path)).graph.node)
    result = import_source(str(path))
    assert result.report.opaque == []
    scales = [b for b in result.doc.blocks.values() if b.kind == "LayerScale"]
    assert [b.id for b in scales] == [f"features_{i}_layer_scale" for i in ("1_0", "1_1", "3_0")]
    assert torch.equal(result.state["features_1_0_layer_scale.weight"], model.features[1][0].layer_scale)
    _runs_as_onnxruntime(path, result, np.random.default_rng(3).standard_normal((3, 3, 32, 32)).astype(np.float32))
