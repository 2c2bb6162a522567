"""Hostile and unusual ONNX files: each imports, or ends in one ImportFailure line, never a traceback
or an allocation the size the file claims. A file exported for a fixed batch of 1 (torch.onnx.export
without dynamic axes writes those) imports, checked against onnxruntime on that batch."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from hypothesis import HealthCheck, given, settings, strategies as st
from onnx import TensorProto, helper, numpy_helper

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source


def _gemm_relu(path, batch=1, features=(4,)):
    rng = np.random.default_rng(0)
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, *features])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, 3])
    w = numpy_helper.from_array(rng.standard_normal((3, features[-1])).astype(np.float32), "fc.weight")
    b = numpy_helper.from_array(rng.standard_normal(3).astype(np.float32), "fc.bias")
    nodes = [helper.make_node("Gemm", ["x", "fc.weight", "fc.bias"], ["h"], transB=1),
             helper.make_node("Relu", ["h"], ["y"])]
    graph = helper.make_graph(nodes, "g", [x], [y], initializer=[w, b])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def test_a_file_for_a_fixed_batch_of_one_imports_and_matches_onnxruntime(tmp_path):
    path = _gemm_relu(tmp_path / "fixed.onnx", batch=1)
    result = import_source(str(path))
    model = compile_graph(result.doc, weights=False).eval()
    model.load_state_dict(result.state)
    x = np.random.default_rng(1).random((1, 4), dtype=np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(model(torch.from_numpy(x)).numpy(), expected, rtol=1e-6, atol=1e-6)


def _refused(path, *words):
    with pytest.raises(ImportFailure) as info:
        import_source(str(path))
    message = str(info.value)
    assert "\n" not in message and all(w in message for w in words), message


def test_an_empty_file_says_it_holds_no_graph(tmp_path):
    (tmp_path / "empty.onnx").write_bytes(b"")
    _refused(tmp_path / "empty.onnx", "holds no graph")


@pytest.mark.parametrize("size", [0, -5])
def test_an_input_size_below_one_is_named(tmp_path, size):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, size, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, size, 4])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    _refused(tmp_path / "m.onnx", f"[1, {size}, 4]", "at least 1")


def test_an_input_too_large_to_check_is_refused_before_memory_is_taken(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1000000, 1000000])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1000000, 1000000])
    graph = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "m.onnx")
    _refused(tmp_path / "m.onnx", "1000000×1000000", "GB")


@settings(derandomize=True, max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=st.integers(min_value=0, max_value=10_000), flip=st.integers(min_value=0, max_value=10_000),
       value=st.integers(min_value=0, max_value=255))
def test_a_damaged_file_imports_or_is_refused_in_one_line(tmp_path, cut, flip, value):
    good = _gemm_relu(tmp_path / "good.onnx", batch=2).read_bytes()
    data = bytearray(good[: cut % (len(good) + 1)])
    if data:
        data[flip % len(data)] = value
    (tmp_path / "bad.onnx").write_bytes(bytes(data))
    try:
        import_source(str(tmp_path / "bad.onnx"))
    except ImportFailure as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("scale", [2.0, 1000.0])
def test_an_onnx_operator_in_a_graph_file_cannot_ask_for_an_unbounded_result(scale):
    """Any graph file may name the ONNX-operator Opaque block; its result is sized by ONNX shape
    inference before onnxruntime allocates it (Upsample by 1000 of 6×28×28 is 19 GB)."""
    from layerloom.graph import analyze
    from layerloom.graph.importers.onnx_opaque import TARGET

    from .helpers import chain
    kwargs = {"op_type": "Upsample", "attributes": {"scales": [1.0, 1.0, scale, scale], "mode": "nearest"},
              "layout": ["x"], "opset": 7}
    doc = chain(("Opaque", {"target": TARGET, "kwargs": kwargs}), shape=(6, 28, 28))
    result = analyze(doc)
    if scale == 2.0:
        assert result.ok and result.blocks["opaque1"].output_shape == (6, 56, 56)
        x = torch.rand(2, 6, 28, 28)
        model = compile_graph(doc).eval()
        torch.testing.assert_close(model(x), torch.nn.Upsample(scale_factor=2.0, mode="nearest")(x))
    else:
        (error,) = result.errors
        assert "1×6×28000×28000" in error.message and "GB" in error.message


def test_an_initializer_whose_dims_lie_about_its_data_is_one_line(tmp_path):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    w = numpy_helper.from_array(np.ones((3, 4), np.float32), "w")
    del w.dims[:]
    w.dims.extend([3, 4_000_000])                      # 12 values stored, 12 million claimed
    graph = helper.make_graph([helper.make_node("Gemm", ["x", "w"], ["y"], transB=1)], "g", [x], [y],
                              initializer=[w])
    (tmp_path / "m.onnx").write_bytes(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
                                      .SerializeToString())
    _refused(tmp_path / "m.onnx", "do not fit together", "cannot reshape")


def test_an_operator_of_another_domain_runs_with_that_domains_version(tmp_path):
    """onnxruntime's own operators (com.microsoft, version 1) were run as version 17 of their domain,
    which does not exist: an optimised model with a fused Gelu could not be imported."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])
    graph = helper.make_graph([helper.make_node("Gelu", ["x"], ["y"], domain="com.microsoft", name="gelu")],
                              "g", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17),
                                                    helper.make_opsetid("com.microsoft", 1)])
    onnx.save(model, tmp_path / "gelu.onnx")
    result = import_source(str(tmp_path / "gelu.onnx"))
    gm = compile_graph(result.doc, weights=False).eval()
    gm.load_state_dict(result.state)
    x_value = np.linspace(-3, 3, 8, dtype=np.float32).reshape(2, 4)
    session = ort.InferenceSession(str(tmp_path / "gelu.onnx"), providers=["CPUExecutionProvider"])
    expected = session.run(None, {"x": x_value})[0]
    np.testing.assert_allclose(gm(torch.from_numpy(x_value)).numpy(), expected, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(gm(torch.from_numpy(x_value)), torch.nn.functional.gelu(torch.from_numpy(x_value)),
                               rtol=1e-5, atol=1e-5)


def _one_node(path, op, in_shape, out_shape, **attrs):
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, in_shape)
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, out_shape)
    inputs = ["x", "x"] if op == "Concat" else ["x"]
    graph = helper.make_graph([helper.make_node(op, inputs, ["y"], **attrs)], "g", [x], [y])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.mark.parametrize("op, attrs, in_shape, out_shape", [
    ("Flatten", {"axis": -3}, ["N", 2, 3, 4], ["N", 24]), ("Softmax", {"axis": -2}, ["N", 3, 4], ["N", 3, 4]),
    ("Gather", {"axis": -2}, ["N", 3, 4], ["N", 4])])
def test_an_axis_counted_from_the_end_imports_as_the_same_dim(tmp_path, op, attrs, in_shape, out_shape):
    path = _one_node(tmp_path / "m.onnx", op, in_shape, out_shape, **attrs)
    if op == "Gather":                  # y = x[:, 1]
        model = onnx.load(path)
        model.graph.node[0].input.append("k")
        model.graph.initializer.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "k"))
        onnx.save(model, path)
    result = import_source(str(path))
    assert "Opaque" not in {b.kind for b in result.doc.blocks.values()}
    graph = compile_graph(result.doc, weights=False).eval()
    x = np.random.default_rng(2).random((3, *in_shape[1:]), dtype=np.float32)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    with torch.no_grad():
        np.testing.assert_allclose(graph(torch.from_numpy(x)).numpy(), expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("op, axis, does", [("Concat", -3, "joins its inputs"), ("Softmax", 0, "normalises"),
                                            ("Softmax", -3, "normalises")])
def test_an_axis_that_is_the_batch_is_refused_as_the_file_counts_it(tmp_path, op, axis, does):
    path = _one_node(tmp_path / "m.onnx", op, ["N", 3, 4], ["M", 3, 4], axis=axis)
    _refused(path, f"the {op} that gives y: {op} with axis={axis} {does} across the batch",
             f"within each sample (axis 1 to 2, or -1 to -2)")


def test_node_names_from_the_file_reach_a_message_or_the_report_escaped(tmp_path):
    evil = "fc\x1b[2J\nrm -rf ~"
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 3])
    w = numpy_helper.from_array(np.ones((4, 3), np.float32), "w")
    for trans_a, path in ((1, tmp_path / "refused.onnx"), (0, tmp_path / "imported.onnx")):
        node = helper.make_node("Gemm", ["x", "w"], ["h"], name=evil, transA=trans_a)
        graph = helper.make_graph([node, helper.make_node("Relu", ["h"], ["y"], name=evil + "2")], "g", [x], [y],
                                  initializer=[w])
        onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    _refused(tmp_path / "refused.onnx", "fc\\x1b[2J\\nrm -rf ~: Gemm with alpha, beta or transA")
    text = import_source(str(tmp_path / "imported.onnx")).report.text()
    assert "\x1b" not in text and "fc\\x1b[2J\\nrm -rf ~" in text
    assert all(line.isprintable() for line in text.splitlines())


@pytest.mark.parametrize("op, out_shape", [("CumSum", ["N", 4]), ("ReduceSum", [1, 4])])
def test_an_operator_with_no_block_that_works_across_the_batch_is_named(tmp_path, op, out_shape):
    """onnxruntime runs such an operator exactly, so the outputs agree; but a sample's result depends on the
    rest of its batch: the report says so, and a result without its batch is refused."""
    path = _one_node(tmp_path / "m.onnx", op, ["N", 4], out_shape, **({"keepdims": 1} if op == "ReduceSum" else {}))
    model = onnx.load(path)
    model.graph.node[0].input.append("axis")
    model.graph.initializer.append(numpy_helper.from_array(np.array([0] if op == "ReduceSum" else 0, np.int64),
                                                           "axis"))
    onnx.save(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(3).random((3, 4), dtype=np.float32)
    assert not np.allclose(session.run(None, {"x": x})[0][-1:], session.run(None, {"x": x[-1:]})[0])  # samples mix
    if op == "ReduceSum":
        _refused(path, "the file's result has the shape [1, 4] for a batch of 3: an operator drops or changes the "
                       "batch dimension, which no block does; keep the batch first")
        return
    notes = import_source(str(path)).report.notes
    assert any("a sample's result depends on the other samples of its batch, as in the source: an Opaque block "
               "(block: ONNX CumSum) works across the batch" in n for n in notes), notes


def _value(name, shape, kind=TensorProto.FLOAT):
    return helper.make_tensor_value_info(name, kind, list(shape))


MALFORMED = {      # name: (nodes, inputs, outputs, words of the refusal)
    "cycle": ([helper.make_node("Add", ["x", "b"], ["a"]), helper.make_node("Relu", ["a"], ["b"]),
               helper.make_node("Relu", ["b"], ["y"])], [_value("x", ["N", 4])], [_value("y", ["N", 4])],
              "the Add that gives a reads b before any operator gives it (the file's nodes are out of order or form "
              "a cycle)"),
    "two_inputs": ([helper.make_node("Add", ["x", "z"], ["y"])], [_value("x", ["N", 4]), _value("z", ["N", 4])],
                   [_value("y", ["N", 4])], "the file's graph takes 2 inputs (x, z); a Layerloom graph takes one"),
    "batch_only": ([helper.make_node("Relu", ["x"], ["y"])], [_value("x", ["N"])], [_value("y", ["N"])],
                   "the input x has the shape [N], so a sample (what follows the batch) would have no dimension; "
                   "give the model inputs of shape N×1"),
    "int32": ([helper.make_node("Relu", ["x"], ["y"])], [_value("x", ["N", 4], TensorProto.INT32)],
              [_value("y", ["N", 4], TensorProto.INT32)], "the input x holds INT32 values; Layerloom graphs take "
                                                         "float32 (or int64 token ids)"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_graph_layerloom_cannot_take_is_refused_for_what_it_is(tmp_path, name):
    nodes, inputs, outputs, words = MALFORMED[name]
    graph = helper.make_graph(nodes, "g", inputs, outputs)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    (tmp_path / "m.onnx").write_bytes(model.SerializeToString())        # no checker: the file is as given
    _refused(tmp_path / "m.onnx", words)


def test_a_file_with_two_results_imports_both_and_checks_both(tmp_path):
    nodes = [helper.make_node("Relu", ["x"], ["y"]), helper.make_node("Sigmoid", ["x"], ["z"])]
    graph = helper.make_graph(nodes, "g", [_value("x", ["N", 4])], [_value("y", ["N", 4]), _value("z", ["N", 4])])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "two.onnx")
    result = import_source(str(tmp_path / "two.onnx"))
    graph = compile_graph(result.doc, weights=False).eval()
    x = np.random.default_rng(4).standard_normal((3, 4)).astype(np.float32)
    expected = ort.InferenceSession(str(tmp_path / "two.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    with torch.no_grad():
        got = graph(torch.from_numpy(x))
    for want, have in zip(expected, got, strict=True):
        np.testing.assert_allclose(have.numpy(), want, rtol=1e-6, atol=1e-6)
    assert result.report.fidelity["max_abs_diff"] <= 1e-6


@pytest.mark.parametrize("kernel, kind", [(3, "Conv2d"), (2, "Opaque")])
def test_a_conv_padded_same_imports_as_a_conv_or_runs_through_onnxruntime(tmp_path, kernel, kind):
    """auto_pad SAME (TensorFlow's exports): an odd kernel pads both sides alike, as a Conv2d block does; an
    even one pads one side more, which only onnxruntime does."""
    w = numpy_helper.from_array(np.random.default_rng(5).standard_normal((4, 2, kernel, kernel)).astype(np.float32),
                                "conv.weight")
    node = helper.make_node("Conv", ["x", "conv.weight"], ["y"], auto_pad="SAME_UPPER")
    graph = helper.make_graph([node], "g", [_value("x", ["N", 2, 6, 6])], [_value("y", ["N", 4, 6, 6])],
                              initializer=[w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), tmp_path / "same.onnx")
    result = import_source(str(tmp_path / "same.onnx"))
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", kind, "Output"]
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    x = np.random.default_rng(6).standard_normal((3, 2, 6, 6)).astype(np.float32)
    session = ort.InferenceSession(str(tmp_path / "same.onnx"), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        np.testing.assert_allclose(graph(torch.from_numpy(x)).numpy(), session.run(None, {"x": x})[0],
                                   rtol=1e-5, atol=1e-5)
