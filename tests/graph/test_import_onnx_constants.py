"""An ONNX operator without a block whose constant inputs set its result's shape (Slice's starts and ends)
is analysed at that shape: the Opaque block keeps a small constant's values in its settings, since
analysis loads no weights. An operator with several results (Split) is refused saying so."""
from __future__ import annotations

import numpy as np
import pytest
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from layerloom.graph.analysis import analyze
from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source


def _sliced(path):
    rng = np.random.RandomState(0)
    inits = [numpy_helper.from_array(np.array([1], np.int64), "starts"),
             numpy_helper.from_array(np.array([6], np.int64), "ends"),
             numpy_helper.from_array(np.array([1], np.int64), "axes"),
             numpy_helper.from_array(np.array([2], np.int64), "steps"),       # every other one: no Narrow
             numpy_helper.from_array(rng.randn(2, 3).astype(np.float32), "fc.weight"),
             numpy_helper.from_array(rng.randn(2).astype(np.float32), "fc.bias")]
    nodes = [helper.make_node("Slice", ["x", "starts", "ends", "axes", "steps"], ["s"], name="slice"),
             helper.make_node("Gemm", ["s", "fc.weight", "fc.bias"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "sliced", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 2])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


def test_an_opaque_slice_is_analysed_at_its_own_shape_and_matches_onnxruntime(tmp_path):
    path = _sliced(tmp_path / "sliced.onnx")
    result = import_source(path)
    analysis = analyze(result.doc)
    opaque = next(b for b in result.doc.blocks.values() if b.kind == "Opaque")
    assert analysis.blocks[opaque.id].output_shape == (3,)
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = np.random.RandomState(1).randn(3, 6).astype(np.float32)
    expected = ort.InferenceSession(path, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(graph(torch.from_numpy(x)).numpy(), expected, rtol=1e-5, atol=1e-6)


def test_a_split_across_the_batch_says_it_gives_several_results_and_how_to_export_instead(tmp_path):
    """(A Split of one dimension after the batch is Narrow blocks: test_import_onnx_split.py.)"""
    nodes = [helper.make_node("Split", ["x"], ["a", "b"], axis=0, num_outputs=2, name="halves"),
             helper.make_node("Add", ["a", "b"], ["y"], name="add")]
    graph = helper.make_graph(nodes, "split", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 6])])
    path = tmp_path / "split.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), str(path))
    with pytest.raises(ImportFailure, match=r"Split \(halves\) has no block, and it gives 2 results where an Opaque "
                                            r"block gives one.*dynamo=False"):
        import_source(str(path))


def _constant_nodes_file(path, **constants):
    """x (N×2×3) · c → Reshape to the shape s → Relu, where Constant nodes give c and s through the attributes
    named (value_float, value_floats, value_int, value_ints, sparse_value, value_string...)."""
    (c_attr, c), (s_attr, s) = constants.items()
    nodes = [helper.make_node("Constant", [], ["c"], **{c_attr: c}),
             helper.make_node("Constant", [], ["s"], **{s_attr: s}),
             helper.make_node("Mul", ["x", "c"], ["m"], name="scale"),
             helper.make_node("Reshape", ["m", "s"], ["r"], name="reshape"),
             helper.make_node("Relu", ["r"], ["y"], name="relu")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 3])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return str(path)


@pytest.mark.parametrize("scale", [{"value_float": 1.5}, {"value_floats": [1.5, -2.0, 0.5]},
                                   {"value": numpy_helper.from_array(np.array(1.5, np.float32))}])
def test_constants_given_as_plain_numbers_import_and_compute_as_onnxruntime(tmp_path, scale):
    """ONNX lets a Constant hold a number or a list (value_float, value_ints, ...) as well as a tensor; those
    stopped the import with "parts do not fit together (KeyError: 'value')"."""
    path = _constant_nodes_file(tmp_path / "plain.onnx", **scale, value_ints=[0, 6])
    result = import_source(path)
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Opaque", "Reshape", "ReLU", "Output"]
    assert result.doc.blocks["reshape"].params["shape"] == [6]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = np.random.default_rng(0).standard_normal((4, 2, 3)).astype(np.float32)
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    with torch.no_grad():
        np.testing.assert_allclose(graph(torch.from_numpy(x)).numpy(), session.run(None, {"x": x})[0], atol=1e-6)


def test_a_constant_holding_text_is_refused_saying_so(tmp_path):
    path = _constant_nodes_file(tmp_path / "text.onnx", value_string="1.5", value_ints=[0, 6])
    with pytest.raises(ImportFailure, match=r"^the Constant that gives c holds text, which a Layerloom graph cannot "
                                            r"use: export the model with dense numeric constants$"):
        import_source(path)
