"""Graphs other than a trained LeNet export to every format and verify: an untrained recurrent graph (LSTM)
and one whose branches merge (Add, Concat)."""
import pytest

from layerloom.graph import GraphDocument, save_graph
from layerloom.runtime.export import FORMATS, FormatFailure, export_model


def _graph(tmp_path, name, blocks, edges, shape):
    doc = GraphDocument(name, training={"dataset": "mnist-sample"})
    doc.add_block("Input", {"shape": shape})
    for bid, kind, params in blocks:
        doc.add_block(kind, params, block_id=bid)
    for e in edges:
        doc.connect(*e)
    path = tmp_path / f"{name}.loom.json"
    save_graph(doc, path)
    return path


@pytest.mark.parametrize("case", ["lstm", "merge"])
def test_recurrent_and_merge_graphs_export_everywhere(tmp_path, case):
    if case == "lstm":
        path = _graph(tmp_path, "seq", [("lstm1", "LSTM", {"hidden_size": 16, "output": "last"}),
                                        ("fc1", "Linear", {"out_features": 10}), ("output", "Output", {})],
                      [("input", "lstm1"), ("lstm1", "fc1"), ("fc1", "output")], [7, 28])      # 7 steps of 28 features
    else:
        path = _graph(tmp_path, "merge", [("conv1", "Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 1}),
                                          ("add1", "Add", {}), ("cat1", "Concat", {}), ("flat1", "Flatten", {}),
                                          ("fc1", "Linear", {"out_features": 10}), ("output", "Output", {})],
                      [("input", "conv1"), ("conv1", "add1", 0, 0), ("input", "add1", 0, 1), ("add1", "cat1", 0, 0),
                       ("input", "cat1", 0, 1), ("cat1", "flat1"), ("flat1", "fc1"), ("fc1", "output")], [1, 28, 28])
    src, results = export_model(path, list(FORMATS), tmp_path / "out")
    assert src.warnings and "not been trained" in src.warnings[0]
    for r in results:
        if case == "lstm" and r.format == "onnx-int8-static":   # mnist-sample's images do not fit [7, 28]
            assert isinstance(r, FormatFailure) and "calibrates on 256 training samples" in r.message
            continue
        assert r.verified, r.line()
