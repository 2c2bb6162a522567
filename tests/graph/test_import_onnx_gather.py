"""ONNX Gather on axis 0: a lookup in a constant table becomes an Embedding (and a Reshape when its rows are not
vectors); one that picks samples of the batch, or rows of integers, stays an Opaque block that says which.
Checked against onnxruntime on the same file."""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from layerloom.graph.compiler import compile_graph
from layerloom.graph.importers import ImportFailure, import_source


def _gather_file(path, table, ids_type=TensorProto.INT64, axis=0):
    """y = Gather(table, ids): `table` a numpy constant, or None for the network's own input x (N×3×2)."""
    inits = [] if table is None else [numpy_helper.from_array(table, "table")]
    inputs = [helper.make_tensor_value_info("ids", ids_type, ["N", 4])] if table is not None else \
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 2])]
    if table is None:
        inits.append(numpy_helper.from_array(np.array([1, 0], dtype=np.int64), "ids"))
    out_type = helper.np_dtype_to_tensor_dtype(table.dtype) if table is not None else TensorProto.FLOAT
    node = helper.make_node("Gather", ["table" if table is not None else "x", "ids"], ["y"], axis=axis, name="pick")
    graph = helper.make_graph([node], "g", inputs, [helper.make_tensor_value_info("y", out_type, None)],
                              initializer=inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


def _computes_what_onnxruntime_does(result, path, feed: str) -> None:
    graph = compile_graph(result.doc, weights=False).eval()
    graph.load_state_dict(result.state, strict=True)
    ids = np.array([[0, 9, 3, 3], [5, 1, 0, 2], [7, 7, 7, 8]], dtype=np.int64)
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {feed: ids})[0]
    with torch.no_grad():
        np.testing.assert_array_equal(graph(torch.from_numpy(ids)).numpy(), expected)


@pytest.mark.parametrize("row", [(), (2, 3)])
def test_a_lookup_in_a_table_of_rows_that_are_not_vectors_is_an_embedding_then_a_reshape(tmp_path, row):
    table = np.random.default_rng(0).standard_normal((10, *row)).astype(np.float32)
    path = _gather_file(tmp_path / "table.onnx", table, axis=-1 - len(row))     # axis 0 counted from the end
    result = import_source(str(path))
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Embedding", "Reshape", "Output"]
    _computes_what_onnxruntime_does(result, path, "ids")


@pytest.mark.parametrize("table, says", [
    (None, r"^the Gather pick: Gather on axis 0 of a tensor of the network picks samples of the batch by their "
           r"position \(x\[i\]\); .* pick within each sample \(x\[:, i\]\)"),
    (np.arange(10, dtype=np.int64), r"^the Gather pick: Gather on axis 0 looks rows up in a table of int64 values; "
                                    r"an Embedding block's rows are floating-point weights: store the table as "
                                    r"float32")])
def test_a_gather_on_axis_0_with_no_block_is_refused_saying_why_and_what_to_change(tmp_path, table, says):
    """onnxruntime itself cannot run the first on a batch of one (sample 1 does not exist there)."""
    path = _gather_file(tmp_path / "pick.onnx", table)
    with pytest.raises(ImportFailure, match=says):
        import_source(str(path))


def _reshaped_ids_file(path, custom: bool):
    """ids (N×4) → Reshape to N×2×2 with a shape computed from the ids' own (so the file gives no sizes for it),
    or ids from an operator of a domain no runtime knows → Gather from a table of 2×3 rows."""
    table = np.random.default_rng(0).standard_normal((10, 2, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(table, "table"), numpy_helper.from_array(np.array([0], dtype=np.int64), "zero"),
             numpy_helper.from_array(np.array([2, 2], dtype=np.int64), "rest")]
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Concat", ["n", "rest"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["ids"])]
    if custom:
        nodes[-1] = helper.make_node("Pick", ["x"], ["ids"], domain="example.custom")
    nodes.append(helper.make_node("Gather", ["table", "ids"], ["y"], axis=0, name="pick"))
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.INT64, ["N", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], initializer=inits)
    opsets = [helper.make_opsetid("", 17), *([helper.make_opsetid("example.custom", 1)] if custom else [])]
    onnx.save(helper.make_model(graph, opset_imports=opsets), path)
    return path


def test_a_lookup_whose_ids_have_no_sizes_in_the_file_takes_them_from_the_blocks_before_it(tmp_path):
    """The ids' Reshape to a size computed from their own shape leaves them without sizes in the file; the Reshape
    block before the lookup knows them. Before, the lookup stayed an Opaque block, which cannot take ids."""
    path = _reshaped_ids_file(tmp_path / "reshaped.onnx", custom=False)
    result = import_source(str(path))
    assert [b.kind for b in result.doc.blocks.values()] == ["Input", "Reshape", "Embedding", "Reshape", "Output"]
    assert result.report.opaque == []
    _computes_what_onnxruntime_does(result, path, "x")


def test_a_lookup_whose_ids_have_no_known_shape_is_refused_saying_what_it_needs(tmp_path):
    path = _reshaped_ids_file(tmp_path / "custom.onnx", custom=True)
    with pytest.raises(ImportFailure, match=r"^the Gather pick: Gather on axis 0 looks rows of 2×3 up in a table, .* "
                                            r"needs the shape of the ids \(ids\) after the batch, which neither the "
                                            r"file nor the blocks before it give .*: export the model with fixed "
                                            r"sizes after the batch"):
        import_source(str(path))
