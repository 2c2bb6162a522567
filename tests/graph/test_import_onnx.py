"""ONNX import: presets exported by Layerloom come back within 1e-5 of onnxruntime."""
import os

import pytest

from layerloom.graph import compile_graph, load_graph
from layerloom.graph.importers import ImportFailure, import_source, save_import
from layerloom.presets import preset_path
from layerloom.runtime.export import export_model

LONG = os.environ.get("LAYERLOOM_LONG") == "1"
HEAVY = ["alexnet", "vgg11", "resnet18"]


@pytest.mark.parametrize("preset", ["lenet5", "mlp", "word2vec_skipgram", *HEAVY])
def test_preset_exported_to_onnx_imports_back(preset, tmp_path):
    if preset in HEAVY and not LONG:
        pytest.skip("heavy presets: LAYERLOOM_LONG=1")
    _, results = export_model(preset_path(preset), ["onnx"], tmp_path / "export")
    onnx_file = results[0].path
    result = import_source(str(onnx_file))
    assert result.report.method == "onnx"
    assert result.report.fidelity["max_abs_diff"] <= 1e-5, result.report.fidelity
    save_import(result, tmp_path / "back.loom.json")
    again = compile_graph(load_graph(tmp_path / "back.loom.json"))
    assert set(again.state_dict()) == set(result.state)
    if preset == "resnet18":
        assert any("folded a BatchNorm" in n for n in result.report.notes)


def test_an_operator_without_a_block_is_refused_by_name(tmp_path):
    import onnx
    from onnx import TensorProto, helper
    graph = helper.make_graph([helper.make_node("Erf", ["x"], ["y"], name="erf1")], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 4])])
    path = tmp_path / "erf.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)]), str(path))
    with pytest.raises(ImportFailure, match="the ONNX operator Erf .erf1. has no block"):
        import_source(str(path))
