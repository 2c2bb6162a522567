"""Graphs an explanation cannot follow are refused with a message, never with a traceback."""
import pytest

from layerloom.app.main import main
from layerloom.graph import GraphDocument, compile_graph
from layerloom.graph.fileformat import save_graph
from layerloom.runtime import explain as E


def two_input_graph(path):
    doc = GraphDocument("two inputs")
    a, b = doc.add_block("Input", {"shape": [1, 28, 28]}), doc.add_block("Input", {"shape": [1, 28, 28]})
    cat = doc.add_block("Concat", {"dim": 1})
    doc.connect(a, cat, dst_port=0)
    doc.connect(b, cat, dst_port=1)
    last = cat
    for kind, params in [("Flatten", {}), ("Linear", {"out_features": 10}), ("Output", {})]:
        made = doc.add_block(kind, params)
        doc.connect(last, made)
        last = made
    doc.training = {"dataset": "mnist-sample"}
    save_graph(doc, path)
    return doc


def test_a_graph_with_two_inputs_is_refused_in_words(tmp_path, capsys):
    import torch
    graph = tmp_path / "two.loom.json"
    model = compile_graph(two_input_graph(graph)).eval()
    x = torch.rand(1, 1, 28, 28)
    with pytest.raises(TypeError):
        model(x)                                    # torch itself needs both inputs
    with pytest.raises(E.ExplainError, match="one Input block, and this one has 2"):
        E.explain(model, x, "saliency")
    out = tmp_path / "x.png"
    assert main(["explain", str(graph), "--sample", "0", "--method", "saliency", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "explain a graph with a single Input" in err and "Traceback" not in err and not out.exists()
