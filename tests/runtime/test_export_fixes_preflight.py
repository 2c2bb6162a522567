"""A token graph that needs the Input's exact number of steps, against a text set whose batches are as long as their
longest text: refused before training, naming the block; a graph that takes any length still trains."""
from layerloom.app.main import main
from layerloom.graph import GraphDocument, save_graph
from layerloom.runtime.preflight import preflight

from .test_export_fixes_int8 import short_texts_csv


def _conv_text_graph(tmp_path, reduce):
    """Input [24] → Embedding → Permute → Conv1d → MaxPool1d → `reduce` → Linear → Output, on short texts."""
    doc = GraphDocument("conv text")
    chain = [("Input", {"shape": [24], "dtype": "int64"}),
             ("Embedding", {"num_embeddings": "auto", "embedding_dim": 8, "padding_idx": 0}),
             ("Permute", {"dims": [1, 0]}), ("Conv1d", {"out_channels": 8, "kernel_size": 3, "padding": "same"}),
             ("MaxPool1d", {"kernel_size": 2}), *reduce, ("Linear", {"out_features": "auto"}), ("Output", {})]
    ids = [doc.add_block(kind, params) for kind, params in chain]
    for a, b in zip(ids, ids[1:]):
        doc.connect(a, b)
    doc.training.update({"dataset": "text-csv", "batch_size": 8,
                         "dataset_options": {"path": short_texts_csv(tmp_path / "t.csv"), "max_length": 24}})
    path = tmp_path / "g.loom.json"
    save_graph(doc, path)
    return doc, path


def test_a_flatten_over_the_steps_is_refused_before_training_naming_the_linear(tmp_path, capsys):
    doc, path = _conv_text_graph(tmp_path, [("Flatten", {})])
    linear = next(b for b, block in doc.blocks.items() if block.kind == "Linear")
    flatten = next(b for b, block in doc.blocks.items() if block.kind == "Flatten")
    assert main(["train", str(path), "--max-steps", "2", "--out", str(tmp_path / "runs"), "--quiet"]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert f"block {linear} (Linear) needs exactly 24 steps" in lines[0] and flatten in lines[0], lines[0]
    assert "text-csv" in lines[0] and "Select" in lines[0] and "Traceback" not in err and "mat1" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
    (found,) = preflight(doc, "text-csv", doc.training["dataset_options"]).errors
    assert found.block == linear and found.code == "train_fixed_length"


def test_a_graph_that_takes_any_length_still_trains_on_the_same_texts(tmp_path, capsys):
    doc, path = _conv_text_graph(tmp_path, [("Select", {"dim": -1, "index": -1})])
    assert preflight(doc, "text-csv", doc.training["dataset_options"]).errors == []
    assert main(["train", str(path), "--max-steps", "2", "--out", str(tmp_path / "runs"), "--quiet"]) == 0, \
        capsys.readouterr().err
