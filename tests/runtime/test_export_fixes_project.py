"""The project format makes the check `layerloom train` makes, for every data set: a graph Layerloom refuses to train
on its data set still gets model.py and its weights, but the result line and README.md say that train.py cannot
train it, and why (train.py, run, does fail). Where train.py gets past the refusal itself (it reshapes an image's
rows into steps), nothing is said, and train.py trains."""
from layerloom.app.main import main
from layerloom.graph import GraphDocument, save_graph
from layerloom.runtime.export import FormatFailure, export_model
from layerloom.runtime.preflight import preflight


def _graph(tmp_path, shape, chain, dtype="float32"):
    tmp_path.mkdir(parents=True, exist_ok=True)
    doc = GraphDocument("digits")
    ids = [doc.add_block("Input", {"shape": shape, "dtype": dtype})] + [doc.add_block(k, p) for k, p in chain]
    for a, b in zip(ids, ids[1:]):
        doc.connect(a, b)
    doc.training.update({"dataset": "mnist-sample", "batch_size": 32})
    path = tmp_path / "g.loom.json"
    save_graph(doc, path)
    return doc, path


def test_a_graph_layerloom_refuses_to_train_on_mnist_sample_gets_a_project_that_says_so(tmp_path, capsys,
                                                                                          project_runner):
    doc, path = _graph(tmp_path, [10], [("Embedding", {"num_embeddings": 1000, "embedding_dim": 4}), ("Flatten", {}),
                                        ("Linear", {"out_features": 3}), ("Output", {})], dtype="int64")
    assert len(preflight(doc, "mnist-sample").errors) == 3                  # shape, dtype and classes
    assert main(["train", str(path), "--max-steps", "1", "--out", str(tmp_path / "runs"), "--quiet"]) == 2
    said = capsys.readouterr().err.splitlines()[0].split(": ", 2)[-1]       # layerloom train's own first line
    _, (result,) = export_model(path, ["project"], tmp_path / "export")
    assert not isinstance(result, FormatFailure), result.line()
    line = result.line()
    assert "WARNING: train.py cannot train this graph on mnist-sample" in line and said in line, line
    assert "2 more problems" in line and "\n" not in line
    project = tmp_path / "export" / "project"
    readme = (project / "README.md").read_text()
    assert "## train.py cannot train this graph on mnist-sample" in readme and said in readme
    proc = project_runner.run(project, "--max-steps", "1", "--device", "cpu")
    assert proc.returncode != 0                                            # what the warning says, true, and
    (line,) = proc.stderr.strip().splitlines()                             # said in one line, before any step
    assert line.startswith("train.py cannot train this graph on mnist-sample: ") and said in line, proc.stderr
    assert "see README.md" in line


def test_an_lstm_reading_the_rows_of_digits_gets_its_project_without_a_warning(tmp_path, project_runner):
    doc, path = _graph(tmp_path, [28, 28], [("LSTM", {"hidden_size": 8, "output": "last"}),
                                            ("Linear", {"out_features": 10}), ("Output", {})])
    assert [d.code for d in preflight(doc, "mnist-sample").errors] == ["train_input_shape"]   # Layerloom asks 1×28×28
    _, (result,) = export_model(path, ["project"], tmp_path / "export")
    assert not isinstance(result, FormatFailure) and result.verified, result.line()
    assert "WARNING" not in result.line()
    proc = project_runner.run(tmp_path / "export" / "project", "--max-steps", "2", "--device", "cpu")
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]  # train.py reshapes the rows into steps


def test_the_readme_says_what_torchvision_is_needed_for(tmp_path):
    """A StochasticDepth block is torchvision's own layer: model.py imports torchvision, and the README said only
    downloadable data sets needed it."""
    chains = {"plain": [("Flatten", {}), ("Linear", {"out_features": 10}), ("Output", {})],
              "depth": [("Flatten", {}), ("Linear", {"out_features": 10}), ("StochasticDepth", {"p": 0.1}),
                        ("Output", {})]}
    for name, chain in chains.items():
        _, path = _graph(tmp_path / name, [1, 28, 28], chain)
        _, (result,) = export_model(path, ["project"], tmp_path / name / "export")
        model_py = (result.path / "model.py").read_text()
        readme = (result.path / "README.md").read_text()
        imports_vision = any(line.lstrip().startswith(("import torchvision", "from torchvision"))
                             for line in model_py.splitlines())
        assert imports_vision == (name == "depth"), model_py
        assert ("`torchvision`, which `model.py` uses for some of its layers" in readme) == imports_vision, readme
        assert ("`torchvision`, for downloadable data sets" in readme) != imports_vision, readme
