"""ONNX RNN operators: Layerloom exports torch's RNN as one per layer, and imports them as RNN blocks."""
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper, numpy_helper

from layerloom.graph import compile_graph, load_graph, save_graph
from layerloom.graph.importers import ImportFailure, import_source, save_import
from layerloom.runtime.export import export_model

from .helpers import chain

T, F, H = 6, 4, 5


def _onnx_rnn(path, *, activations=("Tanh",), bidirectional=False, bias=True, squeeze=None, final_state=False,
              seed=0):
    """A hand-built model: batch-first input → Transpose → RNN → back to batch-first → last step → Gemm;
    with `final_state`, the RNN's Y_h squeezed to B×H → Gemm."""
    rng = np.random.RandomState(seed)
    dirs = 2 if bidirectional else 1
    inits = [numpy_helper.from_array(rng.randn(dirs, H, F).astype(np.float32) * 0.5, "W"),
             numpy_helper.from_array(rng.randn(dirs, H, H).astype(np.float32) * 0.5, "R"),
             numpy_helper.from_array(rng.randn(3, dirs * H).astype(np.float32), "fc.weight"),
             numpy_helper.from_array(np.array([0, 0, -1], np.int64), "flat"),
             numpy_helper.from_array(np.array(T - 1, np.int64), "last")]
    rnn_inputs = ["xt", "W", "R"]
    if bias:
        inits.append(numpy_helper.from_array(rng.randn(dirs, 2 * H).astype(np.float32), "B"))
        rnn_inputs.append("B")
    squeeze = (not bidirectional) if squeeze is None else squeeze
    if squeeze:
        inits.append(numpy_helper.from_array(np.array([1], np.int64), "dir_axis"))
        back = [helper.make_node("Squeeze", ["y", "dir_axis"], ["yt"], name="squeeze")]
    else:
        back = [helper.make_node("Transpose", ["y"], ["y4"], perm=[0, 2, 1, 3], name="t2"),
                helper.make_node("Reshape", ["y4", "flat"], ["yt"], name="flatten_dirs")]
    if final_state:
        inits.append(numpy_helper.from_array(np.array([0], np.int64), "state_axis"))
        back = [helper.make_node("Squeeze", ["y_h", "state_axis"], ["h"], name="squeeze_state")]
    else:
        back = [*back, helper.make_node("Transpose", ["yt"], ["seq"], perm=[1, 0, 2], name="t3"),
                helper.make_node("Gather", ["seq", "last"], ["h"], axis=1, name="step")]
    nodes = [helper.make_node("Transpose", ["x"], ["xt"], perm=[1, 0, 2], name="t1"),
             helper.make_node("RNN", rnn_inputs, ["" if final_state else "y", "y_h" if final_state else ""],
                              name="rnn", hidden_size=H, activations=list(activations),
                              direction="bidirectional" if bidirectional else "forward"),
             *back,
             helper.make_node("Gemm", ["h", "fc.weight"], ["out"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "rnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", T, F])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, ["batch", 3])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("case", [dict(), dict(activations=("Relu", "Relu"), bidirectional=True),
                                  dict(bias=False, squeeze=False), dict(final_state=True)],
                         ids=["tanh", "relu-bidirectional", "no-bias", "final-state"])
def test_a_hand_built_onnx_rnn_imports_and_matches_onnxruntime(case, tmp_path):
    path = _onnx_rnn(tmp_path / "rnn.onnx", **case)
    result = import_source(str(path))
    rnn = result.doc.blocks["rnn"]
    assert rnn.kind == "RNN" and not result.report.opaque
    assert rnn.params["nonlinearity"] == case.get("activations", ("Tanh",))[0].lower()
    assert (rnn.params["bidirectional"], rnn.params["bias"], rnn.params["output"]) == (
        case.get("bidirectional", False), case.get("bias", True), "last")
    save_import(result, tmp_path / "rnn.loom.json")
    gm = compile_graph(load_graph(tmp_path / "rnn.loom.json")).eval()
    x = torch.randn(7, T, F, generator=torch.Generator().manual_seed(3))
    expected = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})[0]
    with torch.no_grad():
        got = gm(x).numpy()
    assert np.abs(got - expected).max() <= 1e-5
    assert result.report.fidelity["max_abs_diff"] <= 1e-5


def test_an_rnn_activation_torch_has_not_is_refused_by_name(tmp_path):
    path = _onnx_rnn(tmp_path / "sigmoid.onnx", activations=("Sigmoid",))
    with pytest.raises(ImportFailure, match=r"rnn: a RNN with activations \['Sigmoid'\] has no block"):
        import_source(str(path))


def test_the_final_state_of_a_bidirectional_rnn_is_refused_with_the_reason(tmp_path):
    path = _onnx_rnn(tmp_path / "state.onnx", activations=("Tanh", "Tanh"), bidirectional=True, final_state=True)
    with pytest.raises(ImportFailure, match="final hidden state is used; only the output sequence, or the last "
                                            "hidden state of a forward layer alone, has a block"):
        import_source(str(path))


def test_stacked_bidirectional_relu_rnn_exports_as_one_rnn_operator_per_layer_and_comes_back(tmp_path):
    doc = chain(("RNN", {"hidden_size": 6, "num_layers": 2, "bidirectional": True, "nonlinearity": "relu",
                         "bias": False}), ("Linear", {"out_features": 3}), shape=(9, 4), name="stacked")
    save_graph(doc, tmp_path / "stacked.loom.json")
    _, results = export_model(tmp_path / "stacked.loom.json", ["onnx"], tmp_path / "export")
    assert results[0].verified and results[0].max_abs_diff <= 1e-5, results[0].line()
    rnn_nodes = [n for n in onnx.load(str(results[0].path)).graph.node if n.op_type == "RNN"]
    assert len(rnn_nodes) == 2
    assert all(helper.get_attribute_value(a) == [b"Relu", b"Relu"]
               for n in rnn_nodes for a in n.attribute if a.name == "activations")
    result = import_source(str(results[0].path))
    rnns = [b for b in result.doc.blocks.values() if b.kind == "RNN"]
    assert [(b.params["nonlinearity"], b.params["bidirectional"], b.params["bias"]) for b in rnns] == [
        ("relu", True, False)] * 2
    assert result.report.fidelity["max_abs_diff"] <= 1e-5, result.report.fidelity
